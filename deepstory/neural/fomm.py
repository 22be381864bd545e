"""First Order Motion Model (Siarohin et al., NeurIPS 2019), vox-256 configuration.

Own implementation of the published networks, laid out so that the public
``vox-cpk.pth.tar`` (top-level keys ``kp_detector`` and ``generator``) loads
with ``strict=True``:

* :class:`KPDetector` -- an hourglass on a 4x anti-aliased downsample of the
  image; 10 keypoints as soft-argmax of heatmaps, plus a 2x2 jacobian each.
* :class:`OcclusionAwareGenerator` -- encodes the source image, warps the
  features with the dense motion predicted by :class:`DenseMotionNetwork`
  (a mixture of per-keypoint first-order motions), masks them with an
  occlusion map, and decodes.
* :func:`normalize_kp` -- the demo's relative-motion transfer.

Everything is float32 and device-agnostic; the module holds no global state.
``grid_sample``/``interpolate`` use ``align_corners=False`` as the reference
does on torch >= 1.3 (it passes no value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepstory.neural.checkpoint import CheckpointError, load_strict, read_checkpoint

Keypoints = Mapping[str, torch.Tensor]  # {'value': [B,K,2], 'jacobian': [B,K,2,2]}

# vox-256.yaml
# Hyperparameters spread into the constructors as **kwargs: values of several types.
VOX256_COMMON: dict[str, Any] = dict(num_kp=10, num_channels=3, estimate_jacobian=True)
VOX256_KP_DETECTOR: dict[str, Any] = dict(
    block_expansion=32, max_features=1024, num_blocks=5, temperature=0.1, scale_factor=0.25
)
VOX256_GENERATOR: dict[str, Any] = dict(
    block_expansion=64,
    max_features=512,
    num_down_blocks=2,
    num_bottleneck_blocks=6,
    estimate_occlusion_map=True,
    dense_motion_params=dict(block_expansion=64, max_features=1024, num_blocks=5, scale_factor=0.25),
)


# ----------------------------------------------------------------------------- geometry helpers


def make_coordinate_grid(
    spatial_size, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """``[H, W, 2]`` grid of pixel coordinates normalised to [-1, 1]; last axis is (x, y)."""
    h, w = (int(s) for s in spatial_size)
    xs = torch.arange(w, dtype=dtype, device=device)
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = 2 * (xs / (w - 1)) - 1
    ys = 2 * (ys / (h - 1)) - 1
    grid_x = xs.view(1, w).expand(h, w)
    grid_y = ys.view(h, 1).expand(h, w)
    return torch.stack([grid_x, grid_y], dim=2)


def kp2gaussian(kp: Keypoints, spatial_size, kp_variance: float) -> torch.Tensor:
    """Isotropic Gaussian heatmaps ``[..., K, H, W]`` centred at ``kp['value']`` (``[..., K, 2]``)."""
    mean = kp["value"]
    grid = make_coordinate_grid(spatial_size, mean.dtype, mean.device)
    lead = mean.dim() - 1
    diff = grid.view((1,) * lead + tuple(grid.shape)) - mean.view(tuple(mean.shape[:lead]) + (1, 1, 2))
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def gaussian_kernel2d(kernel_size: int, sigma: float) -> torch.Tensor:
    """Normalised separable Gaussian ``[k, k]``, computed as the product of the two 1-D factors."""
    taps = torch.arange(kernel_size, dtype=torch.float32)
    centre = (kernel_size - 1) / 2
    rows, cols = torch.meshgrid(taps, taps, indexing="ij")
    kernel = torch.ones((), dtype=torch.float32)
    for coord in (rows, cols):
        kernel = kernel * torch.exp(-((coord - centre) ** 2) / (2 * sigma**2))
    return kernel / kernel.sum()


# ----------------------------------------------------------------------------- building blocks


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur (sigma = (1/scale - 1)/2) then subsampling by ``1/scale``.

    The kernel is a persistent buffer ``weight`` ``[C, 1, k, k]`` (stored in
    the checkpoint). Subsampling keeps every ``1/scale``-th pixel starting at 0,
    which equals nearest-neighbour interpolation by ``scale``.
    """

    weight: torch.Tensor  # a registered buffer, declared: nn.Module.__getattr__ gives only Tensor | Module

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.pad_before = kernel_size // 2
        self.pad_after = self.pad_before - 1 if kernel_size % 2 == 0 else self.pad_before
        kernel = gaussian_kernel2d(kernel_size, sigma)
        self.register_buffer("weight", kernel.view(1, 1, kernel_size, kernel_size).repeat(channels, 1, 1, 1))
        self.groups = channels
        self.scale = scale
        self.step = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        p, q = self.pad_before, self.pad_after
        out = F.conv2d(F.pad(x, (p, q, p, q)), self.weight, groups=self.groups)
        return out[:, :, :: self.step, :: self.step]


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice), channel count preserved."""

    def __init__(self, features: int, kernel_size, padding):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(features, affine=True)
        self.norm2 = nn.BatchNorm2d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock2d(nn.Module):
    """Nearest 2x upsampling, conv, BN, ReLU."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2)
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(nn.Module):
    """Conv, BN, ReLU, 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock2d(nn.Module):
    """Conv, BN, ReLU at the same resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2**level)


class Encoder(nn.Module):
    """Hourglass encoder; returns the input and every down block's output (shallow first)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else _width(block_expansion, max_features, i),
                _width(block_expansion, max_features, i + 1),
                kernel_size=3,
                padding=1,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: up block, then concatenation with the matching skip (the last one is the input)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            widen = 1 if i == num_blocks - 1 else 2
            blocks.append(
                UpBlock2d(
                    widen * _width(block_expansion, max_features, i + 1),
                    _width(block_expansion, max_features, i),
                    kernel_size=3,
                    padding=1,
                )
            )
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder-decoder; output has ``block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# ----------------------------------------------------------------------------- keypoint detector


class KPDetector(nn.Module):
    """Unsupervised keypoints: soft-argmax of ``num_kp`` heatmaps, and a 2x2 jacobian per keypoint."""

    jacobian: nn.Conv2d | None  # None without estimate_jacobian

    def __init__(
        self,
        block_expansion: int = 32,
        num_kp: int = 10,
        num_channels: int = 3,
        max_features: int = 1024,
        num_blocks: int = 5,
        temperature: float = 0.1,
        estimate_jacobian: bool = True,
        scale_factor: float = 0.25,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ):
        super().__init__()
        self.predictor = Hourglass(
            block_expansion, in_features=num_channels, max_features=max_features, num_blocks=num_blocks
        )
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(
                self.predictor.out_filters, 4 * self.num_jacobian_maps, kernel_size=(7, 7), padding=pad
            )
            bias = self.jacobian.bias
            assert bias is not None  # nn.Conv2d's default bias=True
            with torch.no_grad():  # identity jacobians for a fresh model
                self.jacobian.weight.zero_()
                bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.num_jacobian_maps = 0
            self.jacobian = None
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    @staticmethod
    def gaussian2kp(heatmap: torch.Tensor) -> torch.Tensor:
        """Expected [-1,1] coordinate ``[B,K,2]`` under each normalised heatmap ``[B,K,H,W]``."""
        grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)
        return (heatmap.unsqueeze(-1) * grid[None, None]).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        logits = self.kp(feature_map)
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
        out = {"value": self.gaussian2kp(heatmap)}
        if self.jacobian is not None:
            jac_map = self.jacobian(feature_map).reshape(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap.unsqueeze(2) * jac_map).view(b, k, 4, -1).sum(dim=-1)
            out["jacobian"] = jacobian.view(b, k, 2, 2)
        return out


# ----------------------------------------------------------------------------- dense motion + generator


class DenseMotionNetwork(nn.Module):
    """Predicts a dense backward warp (and occlusion) from sparse keypoint motions on a downscaled source."""

    occlusion: nn.Conv2d | None  # None without estimate_occlusion_map

    def __init__(
        self,
        block_expansion: int = 64,
        num_blocks: int = 5,
        max_features: int = 1024,
        num_kp: int = 10,
        num_channels: int = 3,
        estimate_occlusion_map: bool = True,
        scale_factor: float = 0.25,
        kp_variance: float = 0.01,
    ):
        super().__init__()
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=(num_kp + 1) * (num_channels + 1),
            max_features=max_features,
            num_blocks=num_blocks,
        )
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
        else:
            self.occlusion = None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def create_heatmap_representations(self, source_image, kp_driving, kp_source) -> torch.Tensor:
        """``[B, K+1, 1, H, W]``: driving minus source Gaussians, with a zero map for the background."""
        size = source_image.shape[2:]
        heatmap = kp2gaussian(kp_driving, size, self.kp_variance) - kp2gaussian(kp_source, size, self.kp_variance)
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *size)
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

    def create_sparse_motions(self, source_image, kp_driving, kp_source) -> torch.Tensor:
        """``[B, K+1, H, W, 2]`` sampling grids: identity, then one first-order motion per keypoint."""
        b, _, h, w = source_image.shape
        src_value = kp_source["value"]
        identity = make_coordinate_grid((h, w), src_value.dtype, src_value.device).view(1, 1, h, w, 2)
        grid = identity - kp_driving["value"].view(b, self.num_kp, 1, 1, 2)
        if "jacobian" in kp_driving:
            jacobian = torch.matmul(kp_source["jacobian"], torch.inverse(kp_driving["jacobian"]))
            jacobian = jacobian[:, :, None, None].expand(b, self.num_kp, h, w, 2, 2)
            grid = torch.matmul(jacobian, grid.unsqueeze(-1)).squeeze(-1)
        driving_to_source = grid + src_value.view(b, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(b, 1, h, w, 2), driving_to_source], dim=1)

    def create_deformed_source_image(self, source_image, sparse_motions) -> torch.Tensor:
        """The source warped by each sparse motion: ``[B, K+1, C, H, W]``."""
        b, c, h, w = source_image.shape
        n = self.num_kp + 1
        repeated = source_image.unsqueeze(1).expand(b, n, c, h, w).reshape(b * n, c, h, w)
        warped = F.grid_sample(repeated, sparse_motions.reshape(b * n, h, w, 2), align_corners=False)
        return warped.view(b, n, c, h, w)

    def forward(self, source_image, kp_driving, kp_source) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        b, _, h, w = source_image.shape
        heatmaps = self.create_heatmap_representations(source_image, kp_driving, kp_source)
        sparse_motion = self.create_sparse_motions(source_image, kp_driving, kp_source)
        deformed = self.create_deformed_source_image(source_image, sparse_motion)
        out = {"sparse_deformed": deformed}
        features = self.hourglass(torch.cat([heatmaps, deformed], dim=2).view(b, -1, h, w))
        mask = F.softmax(self.mask(features), dim=1)
        out["mask"] = mask
        deformation = (sparse_motion.permute(0, 1, 4, 2, 3) * mask.unsqueeze(2)).sum(dim=1)
        out["deformation"] = deformation.permute(0, 2, 3, 1)
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(features))
        return out


class OcclusionAwareGenerator(nn.Module):
    """Encoder, warp by the dense motion, occlusion masking, residual bottleneck, decoder, sigmoid."""

    dense_motion_network: DenseMotionNetwork | None  # None without dense_motion_params

    def __init__(
        self,
        num_channels: int = 3,
        num_kp: int = 10,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 2,
        num_bottleneck_blocks: int = 6,
        estimate_occlusion_map: bool = True,
        dense_motion_params: dict | None = None,
        estimate_jacobian: bool = True,
    ):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                **dense_motion_params,
            )
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                _width(block_expansion, max_features, i),
                _width(block_expansion, max_features, i + 1),
                kernel_size=(3, 3),
                padding=(1, 1),
            )
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                _width(block_expansion, max_features, num_down_blocks - i),
                _width(block_expansion, max_features, num_down_blocks - i - 1),
                kernel_size=(3, 3),
                padding=(1, 1),
            )
            for i in range(num_down_blocks)
        )
        self.bottleneck = nn.Sequential()
        features = _width(block_expansion, max_features, num_down_blocks)
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(features, kernel_size=(3, 3), padding=(1, 1)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels

    @staticmethod
    def deform_input(inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Backward-warp ``inp`` by the grid ``[B, h, w, 2]``, resized bilinearly to ``inp``'s size if needed."""
        _, h_grid, w_grid, _ = deformation.shape
        h, w = inp.shape[2:]
        if (h_grid, w_grid) != (h, w):
            deformation = F.interpolate(
                deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False
            ).permute(0, 2, 3, 1)
        return F.grid_sample(inp, deformation, align_corners=False)

    def forward(self, source_image, kp_driving, kp_source) -> dict[str, torch.Tensor]:
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        result: dict[str, torch.Tensor] = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving, kp_source=kp_source)
            result["mask"] = motion["mask"]
            result["sparse_deformed"] = motion["sparse_deformed"]
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                result["occlusion_map"] = occlusion
            deformation = motion["deformation"]
            out = self.deform_input(out, deformation)
            if occlusion is not None:
                if out.shape[2:] != occlusion.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
                out = out * occlusion
            result["deformed"] = self.deform_input(source_image, deformation)
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        result["prediction"] = torch.sigmoid(self.final(out))
        return result


# ----------------------------------------------------------------------------- keypoint transfer


def _hull_area(points: torch.Tensor) -> float:
    from scipy.spatial import ConvexHull

    return float(ConvexHull(points.detach().cpu().numpy()).volume)


def normalize_kp(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    adapt_movement_scale: bool = False,
    use_relative_movement: bool = True,
    use_relative_jacobian: bool = True,
) -> dict[str, torch.Tensor]:
    """The demo's keypoint transfer: apply the driving motion since ``kp_driving_initial`` to ``kp_source``.

    With ``adapt_movement_scale`` the displacement is scaled by
    ``sqrt(area(hull(source kps)) / area(hull(initial driving kps)))`` (first batch item).
    """
    if adapt_movement_scale:
        scale = np.sqrt(_hull_area(kp_source["value"][0])) / np.sqrt(_hull_area(kp_driving_initial["value"][0]))
    else:
        scale = 1.0
    kp_new = dict(kp_driving)
    if use_relative_movement:
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * float(scale)
        kp_new["value"] = diff + kp_source["value"]
        if use_relative_jacobian:
            jac_diff = torch.matmul(kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"]))
            kp_new["jacobian"] = torch.matmul(jac_diff, kp_source["jacobian"])
    return kp_new


# ----------------------------------------------------------------------------- construction and loading


def build_kp_detector() -> KPDetector:
    """The vox-256 keypoint detector with fresh weights."""
    return KPDetector(**VOX256_KP_DETECTOR, **VOX256_COMMON)


def build_generator() -> OcclusionAwareGenerator:
    """The vox-256 generator (with its dense motion network) with fresh weights."""
    params = dict(VOX256_GENERATOR)
    params["dense_motion_params"] = dict(params["dense_motion_params"])
    return OcclusionAwareGenerator(**params, **VOX256_COMMON)


def load_fomm(
    path: Path | str, where: str = "models.animator.checkpoint", device: torch.device | str | None = None
) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """Load ``vox-cpk.pth.tar`` strictly: ``(kp_detector, generator)`` in eval mode on ``device`` (default CPU)."""
    checkpoint = read_checkpoint(path, where)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(
            f"{where}: {path} is not a FOMM checkpoint (found {type(checkpoint).__name__}, "
            f"expected a dict with 'kp_detector' and 'generator')"
        )
    for key in ("kp_detector", "generator"):
        if key not in checkpoint:
            raise CheckpointError(f"{where}: {path} has no '{key}' entry (found keys: {sorted(map(str, checkpoint))})")
    kp_detector = load_strict(build_kp_detector(), checkpoint["kp_detector"], path, f"{where} [kp_detector]")
    generator = load_strict(build_generator(), checkpoint["generator"], path, f"{where} [generator]")
    if device is not None:
        kp_detector.to(device)
        generator.to(device)
    return kp_detector.eval(), generator.eval()
