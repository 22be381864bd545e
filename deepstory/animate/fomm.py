"""The FOMM (vox-256) generator animating each portrait's face square by keypoint tracks.

Takes the :data:`~deepstory.track.KEYPOINTS` tracks of
:class:`deepstory.motion.sda.SDAMotion`; the network lives in
:mod:`deepstory.neural.fomm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from deepstory.animate.base import Animator
from deepstory.memory import free_device
from deepstory.neural.checkpoint import checkpoint_fingerprint
from deepstory.neural.keypoints import TRACK_WIDTH, face_square, fomm_source, pack_keypoints, resize, unpack_keypoints
from deepstory.portrait import Portrait
from deepstory.track import KEYPOINTS

if TYPE_CHECKING:  # the networks are imported on first use (torch models, heavy)
    from deepstory.neural.fomm import KPDetector, OcclusionAwareGenerator

__all__ = ["FOMMAnimator", "PreparedFace"]


@dataclass
class PreparedFace:
    """A portrait's tensors on the device, built once by :meth:`FOMMAnimator.prepare`."""

    still: torch.Tensor  # uint8 [H, W, 3]
    box: tuple[int, int, int, int]  # the face square x0, y0, x1, y1
    source: torch.Tensor  # float [1, 3, 256, 256] in [0, 1]
    features: torch.Tensor  # the generator's encoding of ``source``
    kp_source: dict[str, torch.Tensor]
    still_row: np.ndarray  # float32 [TRACK_WIDTH]: the source's own keypoints (a row of "no motion")
    crop: torch.Tensor  # float [1, 3, side, side] in [0, 1]: the still face square
    blend: torch.Tensor  # float [1, 1, side, side]: 1 inside, easing to 0 at the square's edges inside the image


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)


class FOMMAnimator(Animator):
    """The FOMM (vox-256) generator animating each portrait's face square with keypoint tracks.

    :meth:`prepare`: the portrait's face square (:func:`face_square`) resized to
    256x256, its keypoints and its generator encoding, computed once.
    :meth:`frames`: per batch of ``batch_size`` track rows, the generator
    warps the face by the rows' keypoints; the prediction is resized back to
    the square's size, blended into the still square (easing over the outer
    ``feather`` of the square wherever the image goes on), converted to uint8
    and permuted to ``HWC`` on the device, pasted into the still portrait and
    moved to the CPU: uint8 ``[B, H, W, 3]`` frames of the portrait's full
    size, streamed one batch at a time.

    Rows equal to the portrait's own keypoints (a listener's :meth:`SDAMotion.idle`
    track) need no network: a batch made only of them is the still portrait.
    """

    # Loaded on first use (_load), released by close().
    _kp_detector: KPDetector | None
    _generator: OcclusionAwareGenerator | None

    accepts = KEYPOINTS

    def __init__(
        self,
        device: str | torch.device = "cpu",
        batch_size: int = 4,
        checkpoint: str | Path = "",
        feather: float = 0.08,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.checkpoint = Path(str(checkpoint)).expanduser()
        self.feather = float(feather)
        self._kp_detector = None
        self._generator = None

    def identity(self) -> dict[str, Any]:
        return {
            "backend": type(self).__qualname__,
            "feather": self.feather,
            "device": self.device.type,
            "files_sha256": checkpoint_fingerprint({"models.animator.checkpoint": self.checkpoint}),
        }

    def _load(self):
        if self._generator is None:
            from deepstory.neural.fomm import load_fomm

            self._kp_detector, self._generator = load_fomm(self.checkpoint, "models.animator.checkpoint", self.device)
        return self._kp_detector, self._generator

    def close(self) -> None:
        self._kp_detector = self._generator = None
        free_device(self.device)

    def _encode(self, source: torch.Tensor) -> torch.Tensor:
        generator = self._load()[1]
        out = generator.first(source)
        for block in generator.down_blocks:
            out = block(out)
        return out

    def _generate(self, p: PreparedFace, kp_driving: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``OcclusionAwareGenerator.forward(...)['prediction']`` with the source's encoding computed once."""
        generator = self._load()[1]
        b = kp_driving["value"].shape[0]
        source = p.source.expand(b, -1, -1, -1)
        kp_source = {k: v.expand(b, *v.shape[1:]) for k, v in p.kp_source.items()}
        out = p.features.expand(b, -1, -1, -1)
        if generator.dense_motion_network is not None:
            motion = generator.dense_motion_network(source_image=source, kp_driving=kp_driving, kp_source=kp_source)
            out = generator.deform_input(out, motion["deformation"])
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                if out.shape[2:] != occlusion.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
                out = out * occlusion
        out = generator.bottleneck(out)
        for block in generator.up_blocks:
            out = block(out)
        return torch.sigmoid(generator.final(out))

    def prepare(self, portrait: Portrait) -> PreparedFace:
        kp_detector, _ = self._load()  # outside inference mode: the weights stay ordinary tensors
        with torch.inference_mode():
            return self._prepare(kp_detector, portrait)

    def _prepare(self, kp_detector, portrait: Portrait) -> PreparedFace:
        height, width = portrait.image.shape[:2]
        box = x0, y0, x1, y1 = face_square(portrait)
        source = fomm_source(portrait, self.device, box)
        kp_source = {k: v for k, v in kp_detector(source).items()}
        still = torch.from_numpy(np.array(portrait.image)).to(self.device)
        side = x1 - x0
        ramp = max(1.0, self.feather * side)
        t = torch.arange(side, dtype=torch.float32, device=self.device) + 0.5
        ease_x = (_smoothstep(t / ramp) if x0 > 0 else 1.0) * (_smoothstep((side - t) / ramp) if x1 < width else 1.0)
        ease_y = (_smoothstep(t / ramp) if y0 > 0 else 1.0) * (_smoothstep((side - t) / ramp) if y1 < height else 1.0)
        blend = (torch.ones(side, device=self.device) * ease_y).view(side, 1) * (
            torch.ones(side, device=self.device) * ease_x
        ).view(1, side)
        crop = still[y0:y1, x0:x1].permute(2, 0, 1).unsqueeze(0).float() / 255
        return PreparedFace(
            still,
            box,
            source,
            self._encode(source),
            kp_source,
            pack_keypoints(kp_source)[0].float().cpu().numpy(),
            crop,
            blend.view(1, 1, side, side),
        )

    @torch.inference_mode()
    def frames(self, prepared: PreparedFace, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Yield uint8 ``[B, H, W, 3]`` arrays on the CPU, ``batch_size`` frames at a time."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != TRACK_WIDTH:
            raise ValueError(
                f"the FOMM animator needs keypoint tracks [frames, {TRACK_WIDTH}] (models.motion=sda), "
                f"got shape {list(rows.shape)}"
            )
        p = prepared
        x0, y0, x1, y1 = p.box
        side = x1 - x0
        for start in range(0, len(rows), self.batch_size):
            batch = np.array(rows[start : start + self.batch_size], dtype=np.float32)
            frames = p.still.unsqueeze(0).expand(len(batch), -1, -1, -1).clone()
            if not (batch == p.still_row).all():
                kp_driving = unpack_keypoints(torch.from_numpy(batch).to(self.device))
                face = resize(self._generate(p, kp_driving), (side, side))
                face = face * p.blend + p.crop * (1 - p.blend)
                face = (face * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
                frames[:, y0:y1, x0:x1] = face
            yield frames.cpu().numpy()
