"""Animate a still portrait with a motion track, in torch, in frame batches.

Only the region around the face moves.  Per batch of frames: the jaw drop,
upper lip and dark mouth interior are made in a small window around the mouth,
the eyelids in windows around the eyes (all in the still face's coordinates),
then one ``grid_sample`` moves the head (tilt about the chin, drift, nod),
easing to nothing at the region's edge; the result becomes uint8 and is
permuted to ``HWC`` on the device, then pasted over the still portrait.  Pixels outside that region are the portrait's
own, untouched, in every frame.  Each frame depends only on its own motion row,
so frames are identical whatever the batch or chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from deepstory.animate.base import Animator
from deepstory.motion.track import FACE
from deepstory.portrait import Portrait

_OPEN, _BLINK, _DX, _DY, _ROLL, _NOD, _WIDTH = (
    FACE.index(c) for c in ("open", "blink", "dx", "dy", "roll", "nod", "width")
)
MAX_SHIFT = 0.05  # head translation, fraction of the face size
MAX_ROLL = 3.0  # head tilt, degrees


def _ramp(v: torch.Tensor, a, b) -> torch.Tensor:
    """Smoothstep from 0 at ``a`` to 1 at ``b`` (works for a > b too; bounds may be tensors)."""
    if not torch.is_tensor(a) and not torch.is_tensor(b) and a == b:
        return torch.ones_like(v)
    t = ((v - a) / (b - a)).clamp(0, 1)
    return t * t * (3 - 2 * t)


@dataclass
class PreparedPortrait:
    """A portrait's tensors on the device, built once per chunk."""

    still: torch.Tensor  # uint8 [H, W, 3]
    crop: torch.Tensor  # float [1, 3, h, w], 0..255
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
    xs: torch.Tensor  # float [h, w] frame x of each crop pixel
    ys: torch.Tensor
    head_mask: torch.Tensor  # float [h, w]
    lid_colors: torch.Tensor  # float [eyes, 3]
    portrait: Portrait


class WarpAnimator(Animator):
    """Procedural warp animator: fast on a CPU, no model weights.

    ``jaw_drop``: the open mouth's height as a fraction of its width at
    ``open=1``.  ``margin``: the animated region around the face box, as a
    fraction of the face size.
    """

    accepts = FACE

    def __init__(
        self,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        jaw_drop: float = 0.42,
        margin: float = 0.25,
        mouth_color: tuple[int, int, int] = (52, 14, 22),
        teeth_color: tuple[int, int, int] = (226, 220, 206),
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"animator batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.jaw_drop = float(jaw_drop)
        self.margin = float(margin)
        self.mouth_color = torch.tensor(mouth_color, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.teeth_color = torch.tensor(teeth_color, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def identity(self) -> dict[str, Any]:
        return {
            "backend": type(self).__qualname__,
            "jaw_drop": self.jaw_drop,
            "margin": self.margin,
            "mouth_color": self.mouth_color.flatten().tolist(),
            "teeth_color": self.teeth_color.flatten().tolist(),
            "device": self.device.type,
        }

    def prepare(self, portrait: Portrait) -> PreparedPortrait:
        image = portrait.image
        H, W = image.shape[:2]
        face = portrait.face
        fx0, fy0, fx1, fy1 = face.box
        mx_, my_ = self.margin * (fx1 - fx0), self.margin * (fy1 - fy0)
        x0, y0 = max(0, math.floor(fx0 - mx_)), max(0, math.floor(fy0 - my_))
        x1, y1 = min(W, math.ceil(fx1 + mx_)), min(H, math.ceil(fy1 + my_))
        still = torch.from_numpy(np.array(image)).to(self.device)
        crop = still[y0:y1, x0:x1].permute(2, 0, 1).unsqueeze(0).float()
        ys, xs = torch.meshgrid(
            torch.arange(y0, y1, dtype=torch.float32, device=self.device),
            torch.arange(x0, x1, dtype=torch.float32, device=self.device),
            indexing="ij",
        )
        # 1 inside the face box, easing to 0 at the region's edge (not at the image's edge).
        mask_x = _ramp(xs, x0, max(fx0, x0)) if x0 > 0 else torch.ones_like(xs)
        mask_x = mask_x * (_ramp(xs, x1 - 1, min(fx1, x1 - 1)) if x1 < W else 1.0)
        mask_y = _ramp(ys, y0, max(fy0, y0)) if y0 > 0 else torch.ones_like(ys)
        mask_y = mask_y * (_ramp(ys, y1 - 1, min(fy1, y1 - 1)) if y1 < H else 1.0)
        lid_colors = []
        for ex, ey in face.eyes:
            r = face.eye_width
            ring = ((xs - ex) ** 2 + (ys - ey + 0.9 * r) ** 2).sqrt() < 0.35 * r
            pixels = crop[0].permute(1, 2, 0)[ring]
            lid_colors.append(pixels.median(dim=0).values if len(pixels) else crop[0].mean(dim=(1, 2)))
        lids = torch.stack(lid_colors) if lid_colors else torch.zeros(0, 3, device=self.device)
        return PreparedPortrait(still, crop, (x0, y0, x1, y1), xs, ys, mask_x * mask_y, lids, portrait)

    # ------------------------------------------------------------------------------------
    def _window(self, p: PreparedPortrait, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        """Crop-local slices of a frame-pixel box, clipped to the animated region."""
        rx0, ry0, rx1, ry1 = p.region
        xa, xb = max(rx0, math.floor(x0)), min(rx1, math.ceil(x1) + 1)
        ya, yb = max(ry0, math.floor(y0)), min(ry1, math.ceil(y1) + 1)
        return slice(max(0, ya - ry0), max(0, yb - ry0)), slice(max(0, xa - rx0), max(0, xb - rx0))

    def _mouth(self, p: PreparedPortrait, out: torch.Tensor, open_: torch.Tensor, width: torch.Tensor) -> None:
        """Jaw drop, lip shape, dark interior and upper teeth, in the still face's coordinates, in place."""
        face = p.portrait.face
        (mx, my), mw = face.mouth, face.mouth_width
        win = self._window(p, mx - 1.5 * mw, my - 0.65 * mw, mx + 1.5 * mw, my + 1.55 * mw)
        xs, ys = p.xs[win].unsqueeze(0), p.ys[win].unsqueeze(0)
        if xs.numel() == 0:
            return
        stretch = 1 + 0.16 * width  # spread lips (i, e) widen, rounded lips (o, u) narrow
        gap = open_ * self.jaw_drop * mw * (1 - 0.2 * width.clamp(max=0).abs())
        across = torch.exp(-(((xs - mx) / (0.62 * mw)) ** 2))
        below = _ramp(ys, my - 0.02 * mw, my + 0.02 * mw) * (1 - _ramp(ys, my + 0.35 * mw, my + 1.5 * mw))
        above = (1 - _ramp(ys, my - 0.02 * mw, my + 0.02 * mw)) * (1 - _ramp(ys, my - 0.1 * mw, my - 0.6 * mw))
        lips = torch.exp(-(((ys - my) / (0.3 * mw)) ** 2)) * torch.exp(-(((xs - mx) / (0.9 * mw)) ** 2))
        sx = xs + (mx + (xs - mx) / stretch - xs) * lips
        sy = ys - 0.75 * gap * across * below + 0.25 * gap * across * above
        x0, y0, x1, y1 = p.region
        grid = torch.stack([2 * (sx - x0) / max(1, x1 - x0 - 1) - 1, 2 * (sy - y0) / max(1, y1 - y0 - 1) - 1], dim=-1)
        patch = F.grid_sample(
            p.crop.expand(len(gap), -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=True
        )
        cy = my + 0.25 * gap
        half_h = (0.5 * gap).clamp(min=1e-3)
        inside = ((xs - mx) / (0.42 * mw * stretch)) ** 2 + ((ys - cy) / half_h) ** 2
        alpha = (((1 - inside) * (half_h.clamp(max=6) * 1.2)).clamp(0, 1) * (gap > 0.5).float()).unsqueeze(1)
        top = cy - half_h
        shade = (0.55 + 0.45 * _ramp(ys, top, cy + half_h)).unsqueeze(1)  # shadow under the upper lip
        interior = self.mouth_color * shade
        if face.teeth:
            band = (1 - _ramp(ys, top + 0.18 * mw * self.jaw_drop, top + 0.26 * mw * self.jaw_drop)) * (open_ > 0.2)
            band = (band * (1 - ((xs - mx) / (0.3 * mw * stretch)) ** 2).clamp(0, 1)).unsqueeze(1)
            interior = interior * (1 - band) + self.teeth_color * band
        out[:, :, win[0], win[1]] = patch * (1 - alpha) + interior * alpha

    def _eyelids(self, p: PreparedPortrait, out: torch.Tensor, blink: torch.Tensor) -> None:
        """The lid colour slides down over each eye as it blinks, in place."""
        face = p.portrait.face
        a, b = 0.62 * face.eye_width, 0.42 * face.eye_width
        for (ex, ey), lid in zip(face.eyes, p.lid_colors):
            win = self._window(p, ex - a - 2, ey - b - 2, ex + a + 2, ey + b + 2)
            xs, ys = p.xs[win].unsqueeze(0), p.ys[win].unsqueeze(0)
            if xs.numel() == 0:
                continue
            inside = ((1 - ((xs - ex) / a) ** 2 - ((ys - ey) / b) ** 2) * 4).clamp(0, 1)
            edge = ey - b + 2 * b * blink
            covered = (inside * ((edge - ys) * 0.8).clamp(0, 1) * (blink > 0.02).float()).unsqueeze(1)
            lash = (inside * (1 - ((ys - edge).abs() / 1.2).clamp(0, 1)) * (blink > 0.2).float()).unsqueeze(1)
            patch = out[:, :, win[0], win[1]]
            patch = patch * (1 - covered) + lid.view(1, 3, 1, 1) * covered
            out[:, :, win[0], win[1]] = patch * (1 - 0.75 * lash)

    def _render_batch(self, p: PreparedPortrait, motion: torch.Tensor) -> torch.Tensor:
        """Face edits in small windows of the still face, then one head warp of the region."""
        face = p.portrait.face
        B = motion.shape[0]
        col = lambda c: motion[:, c].view(B, 1, 1)  # noqa: E731
        out = p.crop.expand(B, -1, -1, -1).clone()
        self._mouth(p, out, col(_OPEN).clamp(0, 1), col(_WIDTH).clamp(-1, 1))
        self._eyelids(p, out, col(_BLINK).clamp(0, 1))
        # Head: rotate about the chin, translate, nod; eased out towards the region's edge.
        fx0, fy0, fx1, fy1 = face.box
        fw, fh = fx1 - fx0, fy1 - fy0
        theta = col(_ROLL).clamp(-MAX_ROLL, MAX_ROLL) * (math.pi / 180)
        cos, sin = torch.cos(theta), torch.sin(theta)
        tx = col(_DX).clamp(-MAX_SHIFT, MAX_SHIFT) * fw
        ty = col(_DY).clamp(-MAX_SHIFT, MAX_SHIFT) * fh + col(_NOD).clamp(0, 1) * 0.025 * fh
        rx, ry = p.xs - (fx0 + fx1) / 2, p.ys - fy1
        x0, y0, x1, y1 = p.region
        gx = p.xs + (cos * rx + sin * ry - rx - tx) * p.head_mask
        gy = p.ys + (-sin * rx + cos * ry - ry - ty) * p.head_mask
        grid = torch.stack([2 * (gx - x0) / max(1, x1 - x0 - 1) - 1, 2 * (gy - y0) / max(1, y1 - y0 - 1) - 1], dim=-1)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=True)
        crop = out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        frames = p.still.unsqueeze(0).expand(B, -1, -1, -1).clone()
        frames[:, y0:y1, x0:x1] = crop
        return frames

    @torch.inference_mode()
    def frames(self, prepared: PreparedPortrait, motion: np.ndarray) -> Iterator[np.ndarray]:
        """Yield uint8 ``[B, H, W, 3]`` arrays on the CPU, ``batch_size`` frames at a time."""
        for start in range(0, len(motion), self.batch_size):
            batch = torch.from_numpy(np.array(motion[start : start + self.batch_size], dtype=np.float32)).to(
                self.device
            )
            yield self._render_batch(prepared, batch).cpu().numpy()
