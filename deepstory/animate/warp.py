"""Animate a still portrait with a motion track, in torch, in frame batches.

Only the region around the face moves, and, but for the open mouth's inside,
everything it shows is the portrait's own pixels, moved:

* **Mouth** (:mod:`deepstory.animate.mouth`).  The portrait is split at the
  line between the lips; the content above it (upper lip, a smile's teeth)
  and below it (lower lip, chin, jaw) move on a mesh of landmarks, each mouth
  channel by its own smooth field: the jaw drops, the upper lip rises a
  little, a P/B/M presses the lips together (the band between them, teeth
  included, is hidden), an F/V tucks the lower lip under the upper teeth, a
  rounded shape brings the corners in.  Where neither part reaches, the mouth
  is open: a cavity with depth, teeth (the portrait's own where it shows
  them), a tongue, soft edges and the portrait's own grain.
* **Lids.**  The skin above each eye slides down over it along a curved lid
  edge, with a lash line darkened from the pixels under it.
* **Head.**  One resampling of the region moves the head (tilt about the chin,
  drift, nod), easing to nothing at the region's edge.

A portrait with mouth sprites (``speakers.<Name>.mouths``) gets the sprite of
the nearest mouth shape pasted at its mouth instead of the mouth warp (the 2D
animation convention for drawn characters).

Frames stay uint8 ``HWC`` throughout: the mouth and lid edits are computed in
float on small windows and rounded back into a copy of the region, only on
the frames where they move; the head warp then resamples the region straight
into the output frame, whose pixels outside the region are the portrait's
own, untouched, in every frame.  On a CPU the head warp is OpenCV's
``remap`` (bilinear, on uint8, 1/32-pixel steps: several times faster than
``grid_sample`` on float); on a GPU it is ``grid_sample``, and the frames
become uint8 and are permuted to ``HWC`` on the device before they move to
the CPU.  Each frame depends only on its own motion row, so frames are
identical whatever the batch or chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from deepstory.animate.base import Animator
from deepstory.animate.mouth import (
    MouthRig,
    draw,
    edge_width,
    grain_of,
    palette,
    rig,
    sample,
    sample_window,
    smoothstep,
)
from deepstory.motion.visemes import nearest_shape
from deepstory.portrait import Portrait
from deepstory.track import FACE, MOUTH, SHAPE_NAMES

_BLINK, _DX, _DY, _ROLL, _NOD = (FACE.index(c) for c in ("blink", "dx", "dy", "roll", "nod"))
_MOUTH = [FACE.index(c) for c in MOUTH]
_SHAPE, _TONGUE = FACE.index("shape"), FACE.index("tongue")
MAX_SHIFT = 0.05  # head translation, fraction of the face size
MAX_ROLL = 3.0  # head tilt, degrees
WINDOW = (1.15, 0.6, 1.6)  # the mouth's window: half its width, its reach above and below the mouth, in mouth widths
SPRITE_WIDTH = 2.0  # a mouth sprite's canvas is this many mouth widths wide, centred on the mouth


def _ramp(v: torch.Tensor, a, b) -> torch.Tensor:
    """Smoothstep from 0 at ``a`` to 1 at ``b`` (works for a > b too; bounds may be tensors)."""
    if not torch.is_tensor(a) and not torch.is_tensor(b) and a == b:
        return torch.ones_like(v)
    return smoothstep((v - a) / (b - a))


def _lip_gap(
    crop: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, face: Any
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Per column of the region, the frame rows (top, bottom) of the gap between the lips at rest (``[w]``), and
    the colour of the portrait's own teeth there (None: it shows none).

    Where a portrait shows teeth (``face.teeth``), the gap is the run of rows
    at the mouth's middle where most pixels are bright and unsaturated, in one
    run reaching the mouth's centre line, curving up towards the corners as a
    smile does.  Otherwise, and when no such run is found, a thin seam at the
    centre line.
    """
    (mx, my), mw = face.mouth, face.mouth_width
    row_y, col_x = ys[:, 0], xs[0]
    top, bottom = my - 0.025 * mw, my + 0.025 * mw
    cols = ((col_x - mx).abs() < 0.2 * mw).nonzero().flatten()
    rows = ((row_y > my - 0.25 * mw) & (row_y < my + 0.35 * mw)).nonzero().flatten()
    curve = torch.zeros_like(col_x)
    colour = None
    if face.teeth and len(cols) >= 2 and len(rows) >= 3:
        patch = crop[:, rows][:, :, cols]
        low, high = patch.min(dim=0).values, patch.max(dim=0).values
        teeth = ((low > 150) & (high - low < 45)).float().mean(dim=1) > 0.5
        runs, start = [], None
        for i, t in enumerate(teeth.tolist() + [False]):
            if t and start is None:
                start = i
            elif not t and start is not None:
                runs.append((float(row_y[rows[start]]), float(row_y[rows[i - 1]]) + 1))
                start = None
        near = [r for r in runs if r[0] - 0.1 * mw <= my <= r[1] + 0.1 * mw and r[1] - r[0] >= 3]
        if near:
            top, bottom = max(near, key=lambda r: r[1] - r[0])
            curve = 0.12 * mw * ((col_x - mx) / (0.5 * mw)).clamp(-1, 1) ** 2
            inside = patch.permute(1, 2, 0)[(row_y[rows] >= top) & (row_y[rows] < bottom)].reshape(-1, 3)
            bright = inside[(inside.amin(dim=1) > 150) & (inside.amax(dim=1) - inside.amin(dim=1) < 45)]
            colour = bright.median(dim=0).values if len(bright) else None
    return top - curve, bottom - curve, colour


def _window(region: tuple[int, int, int, int], x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
    """Region-local slices of a frame-pixel box, clipped to the animated region."""
    rx0, ry0, rx1, ry1 = region
    xa, xb = max(rx0, math.floor(x0)), min(rx1, math.ceil(x1) + 1)
    ya, yb = max(ry0, math.floor(y0)), min(ry1, math.ceil(y1) + 1)
    return slice(max(0, ya - ry0), max(0, yb - ry0)), slice(max(0, xa - rx0), max(0, xb - rx0))


def _get(out: torch.Tensor, win: tuple[slice, slice]) -> torch.Tensor:
    """The window ``win`` of uint8 ``[B, h, w, 3]`` frames, as float ``[B, 3, h', w']``."""
    return out[:, win[0], win[1]].permute(0, 3, 1, 2).float()


def _put(out: torch.Tensor, win: tuple[slice, slice], pixels: torch.Tensor) -> None:
    """Float ``[B, 3, h', w']`` pixels into the window ``win`` of uint8 frames, rounded to the nearest value."""
    # +0.5, then truncated by the copy into uint8: rounded, permuted to HWC in the same copy.
    out[:, win[0], win[1]] = pixels.add(0.5).clamp_(0, 255).permute(0, 2, 3, 1)


def _edit(out: torch.Tensor, where: torch.Tensor | None, edit: Any, motion: torch.Tensor) -> None:
    """``edit(frames, their motion rows)`` in place on the frames of ``out`` where ``where`` holds (None: all)."""
    if where is None or bool(where.all()):
        edit(out, motion)
    elif bool(where.any()):
        part = out[where]
        edit(part, motion[where])
        out[where] = part


@dataclass
class PreparedPortrait:
    """A portrait's tensors on the device, built once per chunk."""

    still: torch.Tensor  # uint8 [H, W, 3]
    pixels: torch.Tensor  # uint8 [1, h, w, 3]: the region of the still, contiguous
    crop: torch.Tensor  # float [1, 3, h, w], 0..255: the same pixels, for the edits' sampling
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
    xs: torch.Tensor  # float [h, w] frame x of each crop pixel
    ys: torch.Tensor
    head_xy: torch.Tensor  # float [2, h, w]: each pixel's own x and y in the region
    head_basis: torch.Tensor  # float [3, h, w]: mask*rx, mask*ry, mask (see _render_batch)
    mouth: MouthRig  # the mouth's mesh, its gap at rest and its interior's colours
    sprites: list[tuple[torch.Tensor, int, int]] | None  # per SHAPE_NAMES: RGBA [4, h, w] 0..1, left, top
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
        batch_size: int = 4,
        jaw_drop: float = 0.42,
        margin: float = 0.25,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.jaw_drop = float(jaw_drop)
        self.margin = float(margin)

    def identity(self) -> dict[str, Any]:
        return {
            "backend": type(self).__qualname__,
            "jaw_drop": self.jaw_drop,
            "margin": self.margin,
            "version": 7,  # 2: own-pixel mouths and lids, sprites; 3: rounding at +0.5; 4: uint8 region, remap on a CPU;
            # 5: the mouth on a mesh (lips, jaw, chin), its interior with teeth and a tongue; 6: the tongue channel;
            # 7: across the mouth from corner to corner
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
        # The region holds the mouth's whole window too: the jaw and chin move, and the skin below them stretches.
        (mx, my), mw = face.mouth, face.mouth_width
        x0, x1 = max(0, min(x0, math.floor(mx - WINDOW[0] * mw))), min(W, max(x1, math.ceil(mx + WINDOW[0] * mw)))
        y1 = min(H, max(y1, math.ceil(my + WINDOW[2] * mw)))
        still = torch.from_numpy(np.array(image)).to(self.device)
        pixels = still[y0:y1, x0:x1].unsqueeze(0).contiguous()
        crop = pixels.permute(0, 3, 1, 2).float()
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
        region = (x0, y0, x1, y1)
        rig = self._rig(face, crop, region, xs, ys)
        head_mask = mask_x * mask_y
        # The head warp moves each pixel by an affine map of its offset from the chin, scaled by the mask:
        # where a pixel reads from is its own (x, y) plus these three maps times two numbers per frame.
        rx, ry = xs - (fx0 + fx1) / 2, ys - fy1
        basis = torch.stack([head_mask * rx, head_mask * ry, head_mask])
        return PreparedPortrait(
            still,
            pixels,
            crop,
            region,
            xs,
            ys,
            torch.stack([xs - x0, ys - y0]),
            basis,
            rig,
            self._sprites(portrait),
            portrait,
        )

    def _rig(self, face: Any, crop: torch.Tensor, region: tuple[int, int, int, int], xs, ys) -> MouthRig:
        """The mouth's mesh over its window, the lips' gap at rest and the interior's colours, from the portrait."""
        (mx, my), mw = face.mouth, face.mouth_width
        top, line, own_teeth = _lip_gap(crop[0], ys, xs, face)
        pixels = crop[0].permute(1, 2, 0)
        near = pixels[((xs - mx).abs() < 0.4 * mw) & ((ys - my).abs() < 0.12 * mw + 1)]
        fx0, fy0, fx1, fy1 = face.box
        in_face = (xs > fx0) & (xs < fx1) & (ys > fy0) & (ys < fy1)
        face_px = pixels[in_face] if bool(in_face.any()) else pixels.reshape(-1, 3)
        colours = palette(near, face_px, own_teeth, grain_of(crop), edge_width(crop))
        win = _window(region, mx - WINDOW[0] * mw, my - WINDOW[1] * mw, mx + WINDOW[0] * mw, my + WINDOW[2] * mw)
        return rig(
            win,
            xs[win],
            ys[win],
            top[win[1]],
            line[win[1]],
            mx,
            mw,
            self.jaw_drop,
            face.teeth,
            own_teeth is not None,
            colours,
            face.mesh,
        )

    def _sprites(self, portrait: Portrait) -> list[tuple[torch.Tensor, int, int]] | None:
        """The portrait's mouth sprites as RGBA tensors scaled to its mouth, with where each goes."""
        if not portrait.mouths:
            return None
        (mx, my), mw = portrait.face.mouth, portrait.face.mouth_width
        out = []
        for name in SHAPE_NAMES:
            rgba = portrait.mouths[name]
            h, w = rgba.shape[:2]
            tw = max(1, round(SPRITE_WIDTH * mw))
            th = max(1, round(h * tw / w))
            t = torch.from_numpy(np.array(rgba)).to(self.device).permute(2, 0, 1).unsqueeze(0).float() / 255
            t = F.interpolate(t, size=(th, tw), mode="bilinear", align_corners=False, antialias=tw < w)[0]
            out.append((t, round(mx - tw / 2), round(my - th / 2)))
        return out

    def _mouth(self, p: PreparedPortrait, out: torch.Tensor, rows: torch.Tensor) -> None:
        """The mouth of each frame's ``rows`` (MOUTH channels, then tongue) on the portrait's mesh, in place."""
        r = p.mouth
        if r.xs.numel() == 0:
            return
        shape = torch.cat([rows[:, :1].clamp(0, 1), rows[:, 1:2].clamp(-1, 1), rows[:, 2:5].clamp(0, 1)], dim=1)
        tongue = rows[:, len(MOUTH)].clamp(0, 1)  # L, TH: the tongue's tip up
        _put(out, r.win, draw(r, sample_window(p.crop, p.region), shape, tongue))

    def _sprite(self, p: PreparedPortrait, out: torch.Tensor, shape: torch.Tensor) -> None:
        """The sprite of each frame's nearest mouth shape, pasted at the mouth, in place."""
        assert p.sprites is not None
        rx0, ry0, rx1, ry1 = p.region
        values = shape.cpu().numpy()
        named = values[:, len(MOUTH)].round().astype(int) - 1  # the sound's own shape where the track names one
        nearest = np.where(named >= 0, named, nearest_shape(values[:, : len(MOUTH)]))
        for b, k in enumerate(nearest.tolist()):
            rgba, left, top = p.sprites[k]
            h, w = rgba.shape[1:]
            xa, ya, xb, yb = max(left, rx0), max(top, ry0), min(left + w, rx1), min(top + h, ry1)
            if xa >= xb or ya >= yb:
                continue
            piece = rgba[:, ya - top : yb - top, xa - left : xb - left]
            alpha = piece[3:4]
            win = (slice(ya - ry0, yb - ry0), slice(xa - rx0, xb - rx0))
            frame = out[b : b + 1]
            _put(frame, win, _get(frame, win) * (1 - alpha) + 255 * piece[:3] * alpha)

    def _eyelids(self, p: PreparedPortrait, out: torch.Tensor, blink: torch.Tensor) -> None:
        """The skin above each eye slides down over it as it blinks, with a lash line, in place."""
        face = p.portrait.face
        a, b = 0.75 * face.eye_width, 0.55 * face.lid_height  # the lid's half width, the eye's half height
        for ex, ey in face.eyes:
            win = _window(p.region, ex - a - 2, ey - 2.0 * b - 2, ex + a + 2, ey + b + 2)
            xs, ys = p.xs[win].unsqueeze(0), p.ys[win].unsqueeze(0)
            if xs.numel() == 0:
                continue
            across = (1 - ((xs - ex) / a) ** 2).clamp(0, 1)  # wider than the eye: covers its corners
            lid_top = ey - b * across  # the eye's upper edge, curved
            edge = lid_top + 2 * b * blink * across  # the lid's edge as it comes down
            brow = ey - 2.0 * b  # stays; the skin between it and the eye stretches down over the eye
            above = ((edge - ys) + 0.5).clamp(0, 1) * (ys >= brow).float()
            stretched = brow + (ys - brow) * (lid_top - brow) / (edge - brow).clamp(min=1e-3)
            sy = ys + (stretched - ys) * above
            source = _get(out, win)
            rx0, ry0 = int(p.xs[win][0, 0]), int(p.ys[win][0, 0])
            region = (rx0, ry0, rx0 + source.shape[3], ry0 + source.shape[2])
            moved = sample(source, region, xs.expand_as(sy), sy)
            lash = torch.exp(-(((ys - edge) / (0.05 * face.eye_width + 0.5)) ** 2)) * across.clamp(max=0.8) / 0.8
            lash = lash * (blink > 0.15).float() * 0.6
            _put(out, win, moved * (1 - lash.unsqueeze(1)))

    def _render_batch(self, p: PreparedPortrait, motion: torch.Tensor) -> np.ndarray:
        """Face edits in small windows of a copy of the region, then one head warp of the region into the frames."""
        face = p.portrait.face
        B = motion.shape[0]
        # Mouth and lids only where they move (most frames have open eyes; a listener's mouth rests).
        # A sprite is pasted on every frame: the rest shape X has its drawing too.
        moving = motion[:, _MOUTH].abs().amax(dim=1) > 1e-4
        blinking = motion[:, _BLINK] > 0.02
        out = p.pixels.expand(B, -1, -1, -1)
        if p.sprites is not None or bool(moving.any()) or bool(blinking.any()):
            out = out.clone()
            # The warp's mouth reads the mouth channels and the tongue; a sprite, the mouth channels and the shape.
            if p.sprites is None:
                _edit(out, moving, lambda part, rows: self._mouth(p, part, rows[:, [*_MOUTH, _TONGUE]]), motion)
            else:
                _edit(out, None, lambda part, rows: self._sprite(p, part, rows[:, [*_MOUTH, _SHAPE]]), motion)
            blink = lambda part, rows: self._eyelids(p, part, rows[:, _BLINK].clamp(0, 1).view(-1, 1, 1))  # noqa: E731
            _edit(out, blinking, blink, motion)
        # Head: rotate about the chin, translate, nod; eased out towards the region's edge.  Each pixel of
        # the region reads from (x, y) + mask*rx*(cos-1, -sin) + mask*ry*(sin, cos-1) - mask*(tx, ty).
        fx0, fy0, fx1, fy1 = face.box
        fw, fh = fx1 - fx0, fy1 - fy0
        theta = motion[:, _ROLL].clamp(-MAX_ROLL, MAX_ROLL) * (math.pi / 180)
        cos, sin = torch.cos(theta) - 1, torch.sin(theta)
        tx = motion[:, _DX].clamp(-MAX_SHIFT, MAX_SHIFT) * fw
        ty = motion[:, _DY].clamp(-MAX_SHIFT, MAX_SHIFT) * fh + motion[:, _NOD].clamp(0, 1) * 0.025 * fh
        view = lambda v: v.view(B, 1, 1)  # noqa: E731
        mrx, mry, mask = p.head_basis
        map_x = torch.addcmul(p.head_xy[0], mrx, view(cos)).addcmul_(mry, view(sin)).addcmul_(mask, view(-tx))
        map_y = torch.addcmul(p.head_xy[1], mrx, view(-sin)).addcmul_(mry, view(cos)).addcmul_(mask, view(-ty))
        return self._head(p, out, map_x, map_y)

    def _remaps(self) -> bool:
        """The head warp is OpenCV's remap (on a CPU), else torch's grid_sample on the device."""
        return self.device.type == "cpu"

    def _head(self, p: PreparedPortrait, out: torch.Tensor, map_x: torch.Tensor, map_y: torch.Tensor) -> np.ndarray:
        """Frames ``[B, H, W, 3]`` on the CPU: the still, with the region ``out`` read at ``map_x, map_y`` (bilinear)."""
        x0, y0, x1, y1 = p.region
        H, W = p.still.shape[:2]
        if self._remaps():
            # OpenCV's remap on uint8 HWC, straight into each frame: no float copy of the region at all.
            frames = np.empty((len(map_x), H, W, 3), dtype=np.uint8)
            if (x0, y0, x1, y1) != (0, 0, W, H):
                frames[:] = p.still.numpy()
            source, xs, ys = out.numpy(), map_x.numpy(), map_y.numpy()
            for b in range(len(frames)):
                into = frames[b, y0:y1, x0:x1]
                drawn = cv2.remap(source[b], xs[b], ys[b], cv2.INTER_LINEAR, dst=into, borderMode=cv2.BORDER_REPLICATE)
                if drawn is not into:  # OpenCV made its own array instead of writing into the frame
                    into[...] = drawn
            return frames
        # grid_sample's coordinates run from -1 to 1 across the region (pixel centres, align_corners).
        grid = torch.stack([map_x * (2 / max(1, x1 - x0 - 1)) - 1, map_y * (2 / max(1, y1 - y0 - 1)) - 1], dim=-1)
        region = out.permute(0, 3, 1, 2).float()
        moved = F.grid_sample(region, grid, mode="bilinear", padding_mode="border", align_corners=True)
        on_device = p.still.unsqueeze(0).expand(len(grid), -1, -1, -1).clone()
        # Rounded to the nearest value (+0.5, then truncated by the uint8 copy), permuted to HWC in the same copy.
        on_device[:, y0:y1, x0:x1] = moved.add_(0.5).clamp_(0, 255).permute(0, 2, 3, 1)
        return on_device.cpu().numpy()

    @torch.inference_mode()
    def frames(self, prepared: PreparedPortrait, motion: np.ndarray) -> Iterator[np.ndarray]:
        """Yield uint8 ``[B, H, W, 3]`` arrays on the CPU, ``batch_size`` frames at a time."""
        for start in range(0, len(motion), self.batch_size):
            batch = torch.from_numpy(np.array(motion[start : start + self.batch_size], dtype=np.float32)).to(
                self.device
            )
            yield self._render_batch(prepared, batch)
