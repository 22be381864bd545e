"""A photo's mouth: lips, jaw and chin moved as a mesh, and a mouth interior with depth, teeth and a tongue.

**The mesh.**  A few dozen landmarks around the mouth (the lip corners, the
inner and outer edges of both lips, the chin, the jaw, the cheeks and the
nose) are placed once per portrait: from the face mesh where the portrait has
one (:attr:`Face.mesh <deepstory.portrait.image.Face>`), otherwise from the
mouth centre, its width and the lips' gap at rest.  Each mouth channel of the
track (:data:`~deepstory.track.MOUTH`) moves those landmarks by a fixed offset,
in units of the mouth's width (``_offsets``): the jaw and chin drop and the
corners come in a little as the mouth opens; the corners go out for a spread
(EE) and in for a rounded O or U, which also thickens the lips; a bite (F, V)
tucks the lower lip up under the upper teeth; a press (P, B, M) closes the
lips.  A thin-plate spline through the landmarks (and through fixed anchors on
the edge of the mouth's window, which never move) turns each channel's offsets
into a smooth field over the window, once; a frame's displacement is the sum
of the fields weighted by its channels.  The part of the face above the lips'
meeting line and the part below it have their own fields (the lips part; the
skin does not tear anywhere else).

**The interior**, where the lips part: a cavity darker towards the back and
shaded under the upper lip, with soft edges where it meets the lips (never a
hard outline), a row of upper teeth (the portrait's own where it shows them,
otherwise drawn in the portrait's colours and light) and of lower teeth as the
jaw drops, and a tongue that lies low, rising to the upper teeth for L, TH and
D-like sounds (the track's ``tongue`` channel).  Every layer carries the
portrait's own texture (the lips' gap, stretched), so nothing is a flat colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: Mouth channels the mesh answers to, in the order of the fields (the track's MOUTH channels).
CHANNELS = ("open", "width", "round", "bite", "press")

#: Landmark roles.  ``u`` runs along the mouth from -0.5 (its left corner) to 0.5 (its right corner).
LIP_STATIONS = (-0.5, -0.35, -0.18, 0.0, 0.18, 0.35, 0.5)

# Teeth, tongue and cavity colours before the portrait's light is applied (a neutral, lit face).
IVORY = (236.0, 228.0, 210.0)
TONGUE = (204.0, 78.0, 92.0)
THROAT = (58.0, 20.0, 26.0)


def smoothstep(t: torch.Tensor) -> torch.Tensor:
    """0 below 0, 1 above 1, and the cubic ``3t^2 - 2t^3`` between."""
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    """The thin-plate spline's radial function of the squared distance: r^2 log r."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r2 > 0, 0.5 * r2 * np.log(r2), 0.0)


def thin_plate(points: np.ndarray, values: np.ndarray, at: np.ndarray, smoothing: float = 1e-4) -> np.ndarray:
    """A thin-plate spline through ``values`` ([n, m]) at ``points`` ([n, 2]), evaluated at ``at`` ([p, 2])."""
    n = len(points)
    k = _tps_kernel(((points[:, None] - points[None]) ** 2).sum(-1)) + smoothing * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), points], axis=1)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n], system[:n, n:], system[n:, :n] = k, p, p.T
    rhs = np.zeros((n + 3, values.shape[1]))
    rhs[:n] = values
    coef = np.linalg.solve(system, rhs)
    basis = _tps_kernel(((at[:, None] - points[None]) ** 2).sum(-1))
    return basis @ coef[:n] + np.concatenate([np.ones((len(at), 1)), at], axis=1) @ coef[n:]


@dataclass(frozen=True)
class Landmarks:
    """Where the mouth's parts lie at rest, frame pixels; lips as ``[len(LIP_STATIONS), 2]`` arrays, left to right."""

    upper_outer: np.ndarray  # the top edge of the upper lip
    upper_inner: np.ndarray  # the upper lip's lower edge (above the teeth, where the portrait shows them)
    lower_inner: np.ndarray  # the lower lip's top edge
    lower_outer: np.ndarray  # the lower lip's bottom edge
    chin: np.ndarray  # [3, 2]: the chin's bottom, left and right of it
    jaw: np.ndarray  # [4, 2]: the jaw line left and right, level with the lower lip and half way to the chin
    cheeks: np.ndarray  # [2, 2]
    nose: np.ndarray  # [2]: the base of the nose


def template(mx: float, mw: float, top: Sequence[float], line: Sequence[float]) -> Landmarks:
    """A face's mouth landmarks from its mouth centre and width and the lips' gap (``top``, ``line``) per station."""
    u = np.array(LIP_STATIONS)
    x = mx + u * mw
    s = 1 - (2 * u) ** 2  # 1 at the middle, 0 at the corners
    top_, line_ = np.asarray(top, dtype=float), np.asarray(line, dtype=float)
    my = float(line_[len(u) // 2])
    stack = lambda ys: np.stack([x, ys], axis=1)  # noqa: E731
    return Landmarks(
        upper_outer=stack(top_ - (0.04 + 0.12 * s) * mw),
        upper_inner=stack(top_),
        lower_inner=stack(line_),
        lower_outer=stack(line_ + (0.04 + 0.16 * s) * mw),
        chin=np.array([[mx, my + 0.95 * mw], [mx - 0.4 * mw, my + 0.85 * mw], [mx + 0.4 * mw, my + 0.85 * mw]]),
        jaw=np.array(
            [[mx - 1.05 * mw, my + 0.1 * mw], [mx + 1.05 * mw, my + 0.1 * mw]]
            + [[mx - 0.8 * mw, my + 0.6 * mw], [mx + 0.8 * mw, my + 0.6 * mw]]
        ),
        cheeks=np.array([[mx - 0.95 * mw, my - 0.35 * mw], [mx + 0.95 * mw, my - 0.35 * mw]]),
        nose=np.array([mx, my - 0.55 * mw]),
    )


def _contour(points: np.ndarray, indices: Sequence[int], at: np.ndarray) -> np.ndarray:
    """The y of a mesh contour (its points in order along x) at the x values ``at`` (constant beyond its ends)."""
    xy = points[list(indices)]
    order = np.argsort(xy[:, 0])
    return np.interp(at, xy[order, 0], xy[order, 1])


def from_mesh(mesh: Sequence[Sequence[float]], col_x: np.ndarray) -> tuple[Landmarks, np.ndarray, np.ndarray]:
    """A face mesh's mouth landmarks (its own lips, chin, jaw, cheeks and nose), and the lips' gap at rest per
    column ``col_x``: the inner upper lip (top) and inner lower lip (line; the teeth between belong above)."""
    from deepstory.portrait import mesh as m

    pts = np.asarray(mesh, dtype=np.float64)
    (lx, _), (rx, _) = pts[list(m.LIP_CORNERS)]
    x = lx + (np.array(LIP_STATIONS) + 0.5) * (rx - lx)
    stack = lambda indices: np.stack([x, _contour(pts, indices, x)], axis=1)  # noqa: E731
    lower_inner = stack(m.LIPS_INNER_LOWER)
    upper_inner = stack(m.LIPS_INNER_UPPER)
    upper_inner[:, 1] = np.minimum(upper_inner[:, 1], lower_inner[:, 1])
    chin = pts[[m.CHIN, 176, 400]]
    landmarks = Landmarks(
        upper_outer=stack(m.LIPS_OUTER_UPPER),
        upper_inner=upper_inner,
        lower_inner=lower_inner,
        lower_outer=stack(m.LIPS_OUTER_LOWER),
        chin=chin,
        jaw=pts[[58, 288, 172, 397]],
        cheeks=pts[[205, 425]],
        nose=pts[2],
    )
    line = _contour(pts, m.LIPS_INNER_LOWER, col_x)
    return landmarks, np.minimum(_contour(pts, m.LIPS_INNER_UPPER, col_x), line), line


def _offsets(lm: Landmarks, mw: float, jaw_drop: float, band: np.ndarray) -> tuple[list, list]:
    """Per part (upper, lower): its landmarks ``[n, 2]`` and their offsets per channel ``[n, 2 * len(CHANNELS)]``.

    The offsets are the mouth shapes' definition, in units of the mouth's width (``jaw_drop``: the opening at
    ``open=1``; ``band``: the lips' gap at rest per station, in pixels, which a press closes).
    """
    u = np.array(LIP_STATIONS)
    s = 1 - (2 * u) ** 2
    corner = np.abs(2 * u) ** 4  # 1 at the corners
    j = jaw_drop
    n = len(u)

    def lip(dx_per_channel, dy_per_channel):
        """``[n, 2K]`` offsets of a lip edge: each channel's (dx, dy) per station, in mouth widths."""
        out = np.zeros((n, 2 * len(CHANNELS)))
        for k, (dx, dy) in enumerate(zip(dx_per_channel, dy_per_channel)):
            out[:, 2 * k], out[:, 2 * k + 1] = dx, dy
        return out

    zero = np.zeros(n)
    press_gap = band / mw
    # Channels:  open                          width                    round                    bite         press
    # A rounding brings the corners in, the lips more than a smile's teeth between them.
    upper_inner = lip(
        (-0.04 * j * u, 0.16 * u, -0.1 * u, zero, zero),
        (-0.2 * j * s**1.2 + 0.04 * j * corner, -0.02 * corner, -0.01 * s, 0.03 * s, 0.5 * press_gap),
    )
    upper_outer = lip(
        (-0.04 * j * u, 0.16 * u, -0.14 * u, zero, zero),
        (
            -0.15 * j * s,
            0.01 * s - 0.02 * corner,
            -0.05 * s,
            0.02 * s,
            0.5 * press_gap * s + 0.015 * s,
        ),
    )
    lower_inner = lip(
        (-0.06 * j * u, 0.16 * u, -0.14 * u, zero, zero),
        (0.8 * j * s**1.2 + 0.04 * j * corner, -0.02 * corner, 0.03 * s, -0.12 * s, -0.5 * press_gap),
    )
    lower_outer = lip(
        (-0.06 * j * u, 0.16 * u, -0.14 * u, zero, zero),
        (
            0.78 * j * s**1.1 + 0.04 * j * corner,
            -0.01 * s - 0.02 * corner,
            0.08 * s,
            -0.07 * s,
            -0.5 * press_gap * s - 0.015 * s,
        ),
    )

    def fixed(points, per_channel):
        out = np.zeros((len(points), 2 * len(CHANNELS)))
        for k, offset in enumerate(per_channel):
            out[:, 2 * k : 2 * k + 2] = offset
        return out

    cheek_side = np.array([[-1.0], [1.0]])
    # The skin beyond the corners, on the line: it follows the corners, less and less further out, and the same in
    # both parts (it never parts there).
    reach = (0.15, 0.4, 0.7)
    beyond = np.array(
        [[lm.lower_inner[0, 0] - k * mw, lm.lower_inner[0, 1]] for k in reach]
        + [[lm.lower_inner[-1, 0] + k * mw, lm.lower_inner[-1, 1]] for k in reach]
    )
    decay = np.array([0.7, 0.35, 0.1] * 2)[:, None]
    corners = (upper_inner + lower_inner) / 2
    still = np.concatenate([np.repeat(corners[:1], 3, 0), np.repeat(corners[-1:], 3, 0)]) * decay
    # A smile's teeth (the gap between the inner lips) move with the upper lip's inner edge, as one piece.
    teeth = lm.lower_inner[1:-1] - [0, 0.5]
    upper = [
        (lm.upper_inner, upper_inner),
        (teeth[band[1:-1] > 0.04 * mw], upper_inner[1:-1][band[1:-1] > 0.04 * mw]),
        (lm.upper_outer, upper_outer),
        (lm.cheeks, fixed(lm.cheeks, [0, cheek_side * [0.03, 0] - [0, 0.01], cheek_side * [-0.03, 0], 0, 0])),
        (lm.nose[None], fixed(lm.nose[None], [0, 0, 0, 0, 0])),
        (beyond, still),
    ]
    chin_drop = np.array([[0.0, 0.8 * j], [0.0, 0.72 * j], [0.0, 0.72 * j]])
    jaw_drop_ = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.45 * j], [0.0, 0.45 * j]])
    lower = [
        (lm.lower_inner, lower_inner),
        (lm.lower_outer, lower_outer),
        (lm.chin, fixed(lm.chin, [chin_drop, 0, [0, 0.02], [0, -0.02], 0])),
        (lm.jaw, fixed(lm.jaw, [jaw_drop_, 0, 0, 0, 0])),
        (beyond, still),
    ]
    return upper, lower


def _ring(x0: float, y0: float, x1: float, y1: float, step: float) -> np.ndarray:
    """Points along the border of a box, about ``step`` apart (the anchors that never move)."""
    nx, ny = max(2, math.ceil((x1 - x0) / step) + 1), max(2, math.ceil((y1 - y0) / step) + 1)
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    return np.concatenate(
        [np.stack([xs, np.full(nx, y0)], 1), np.stack([xs, np.full(nx, y1)], 1)]
        + [np.stack([np.full(ny - 2, x0), ys[1:-1]], 1), np.stack([np.full(ny - 2, x1), ys[1:-1]], 1)]
    )


def mesh_fields(
    lm: Landmarks,
    mw: float,
    jaw_drop: float,
    band: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per part (upper, lower), each channel's displacement field ``[K, 2, h, w]`` (pixels) over the window
    whose frame coordinates are ``xs, ys`` ([h, w]), at the channel's value 1."""
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    anchors = _ring(x0, y0, x1, y1, 0.3 * mw)
    at = np.stack([xs.ravel(), ys.ravel()], axis=1)
    origin = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    # Nothing moves at the window's edge (the spline is only pinned at the anchors, not between them).
    edge = 0.15 * mw
    taper = np.minimum.reduce([xs - x0, x1 - xs, ys - y0, y1 - ys]) / edge
    taper = np.clip(taper, 0, 1) ** 2 * (3 - 2 * np.clip(taper, 0, 1))
    fields = []
    for part in _offsets(lm, mw, jaw_drop, band):
        points = np.concatenate([p for p, _ in part] + [anchors])
        values = np.concatenate([v for _, v in part] + [np.zeros((len(anchors), 2 * len(CHANNELS)))]) * mw
        # Solved in mouth widths about the window's centre (well conditioned at any size).
        field = thin_plate((points - origin) / mw, values, (at - origin) / mw).T.reshape(len(CHANNELS), 2, *xs.shape)
        fields.append((field * taper).astype(np.float32))
    return fields[0], fields[1]


@dataclass
class Palette:
    """The interior's colours, 0..255 float ``[1, 3, 1, 1]`` tensors, matched to the portrait's colours and light."""

    throat: torch.Tensor
    lips: torch.Tensor
    teeth: torch.Tensor
    tongue: torch.Tensor
    grain: float  # the portrait's own noise: the standard deviation of its fine detail, levels
    edge: float  # the width of the portrait's own strong edges, pixels
    level: float  # the mean of the mouth line's pixels (the interior's texture is relative to it)


def edge_width(pixels: torch.Tensor) -> float:
    """How many pixels a portrait's own strong edges take to rise (``[1, 3, h, w]``): their contrast over their
    steepest slope, at the 90th percentile of steepness.  A soft photo's edges are wide; the mouth's match."""
    lum = pixels.mean(dim=1, keepdim=True)
    dy, dx = lum[:, :, 2:, 1:-1] - lum[:, :, :-2, 1:-1], lum[:, :, 1:-1, 2:] - lum[:, :, 1:-1, :-2]
    slope = 0.5 * torch.sqrt(dx * dx + dy * dy)
    contrast = F.max_pool2d(lum, 5, stride=1, padding=2) + F.max_pool2d(-lum, 5, stride=1, padding=2)
    contrast = contrast[:, :, 1:-1, 1:-1]
    strong = contrast > 40
    if not bool(strong.any()):
        return 1.0
    return float(1 / (slope[strong] / contrast[strong]).quantile(0.9).clamp(min=0.1))


def grain_of(pixels: torch.Tensor) -> float:
    """The noise of a portrait's face ``[1, 3, h, w]``: the robust spread of its luminance less a 3x3 mean (levels),
    at least one level (an interior without grain would show flat areas)."""
    lum = pixels.mean(dim=1, keepdim=True)
    detail = (lum - F.avg_pool2d(lum, 3, stride=1, padding=1, count_include_pad=False)).abs()
    return float((detail.median() * 1.4826).clamp(1.0, 6.0)) if detail.numel() else 1.0


def palette(
    near: torch.Tensor,
    face_px: torch.Tensor,
    own_teeth: torch.Tensor | None,
    grain: float,
    edge: float,
) -> Palette:
    """Colours from the portrait: ``near`` its mouth line's pixels ``[n, 3]``, ``face_px`` its face's, ``own_teeth``
    its teeth's (None: it shows none)."""
    device = face_px.device
    lum = face_px.mean(dim=1)
    light = float((lum.quantile(0.9) / 200.0).clamp(0.45, 1.25)) if len(lum) else 1.0
    cast = face_px.mean(dim=0) / face_px.mean().clamp(min=1) if len(face_px) else torch.ones(3, device=device)
    tone = lambda rgb, k: (torch.tensor(rgb, device=device) * light * (1 - k + k * cast)).clamp(0, 250)  # noqa: E731
    if len(near):
        darkest = near[near.sum(dim=1) <= near.sum(dim=1).quantile(0.1)].mean(dim=0)
        bright = near.amin(dim=1) > 150
        lips = near[~bright].median(dim=0).values if int((~bright).sum()) else near.median(dim=0).values
    else:
        darkest, lips = tone(THROAT, 0.2), tone(TONGUE, 0.2)
    throat = 0.5 * darkest * 0.6 + 0.5 * tone(THROAT, 0.3)
    teeth = own_teeth if own_teeth is not None else tone(IVORY, 0.15)
    tongue = 0.3 * lips + 0.7 * tone(TONGUE, 0.2)
    shape = lambda t: t.float().view(1, 3, 1, 1)  # noqa: E731
    return Palette(
        shape(throat),
        shape(lips),
        shape(teeth),
        shape(tongue * 0.9),
        grain,
        edge,
        float(near.mean().clamp(min=1)) if len(near) else 128.0,
    )


@dataclass
class MouthRig:
    """A portrait's mouth, prepared once: its window, the lips' gap at rest, the mesh's fields, the colours."""

    win: tuple[slice, slice]  # region-local window of the mouth
    xs: torch.Tensor  # [1, h, w] frame x of each window pixel
    ys: torch.Tensor
    top: torch.Tensor  # [1, 1, w] the lips' gap at rest per column: its top (frame y) ...
    line: torch.Tensor  # ... and its bottom, the lips' meeting line (below: the lower part)
    # Per channel, the displacement (pixels, at the channel's value 1) of the upper and of the lower part, on
    # every other pixel of the window: [K, 2, h/2, w/2].
    up: torch.Tensor
    down: torch.Tensor
    grain: torch.Tensor  # [1, h, w] the portrait's own grain, levels, added inside the mouth
    half_width: float  # half the mouth's width at rest, corner to corner along x, pixels
    mx: float  # the x half way between the corners
    mw: float
    teeth: bool  # the character shows teeth when its mouth opens
    drawn_teeth: bool  # its upper teeth are drawn (it has teeth, but the portrait shows none of its own)
    colours: Palette
    soft: float  # the width of an edge, pixels


def rig(
    win: tuple[slice, slice],
    xs: torch.Tensor,
    ys: torch.Tensor,
    top: torch.Tensor,
    line: torch.Tensor,
    mx: float,
    mw: float,
    jaw_drop: float,
    teeth: bool,
    own_teeth: bool,
    colours: Palette,
    mesh: Sequence[Sequence[float]] | None = None,
) -> MouthRig:
    """The mouth's rig over the window ``win`` (frame coordinates ``xs, ys`` [h, w]; the gap ``top, line`` [w]); a
    face ``mesh`` places the landmarks and the gap instead."""
    col_x = xs[0].cpu().numpy().astype(np.float64)
    landmarks = None
    if mesh is not None:
        landmarks, top_np, line_np = from_mesh(mesh, col_x)
        top, line = (torch.from_numpy(v.astype(np.float32)).to(xs.device) for v in (top_np, line_np))
    stations = mx + np.array(LIP_STATIONS) * mw
    top_at = np.interp(stations, col_x, top.cpu().numpy())
    line_at = np.interp(stations, col_x, line.cpu().numpy())
    lm = landmarks if landmarks is not None else template(mx, mw, top_at, line_at)
    band = line_at - top_at
    up, down = mesh_fields(lm, mw, jaw_drop, band, xs.cpu().numpy().astype(np.float64), ys.cpu().numpy())
    device = xs.device
    # Kept at every other pixel: the fields are smooth, and the where-to-read maps are found at that resolution,
    # then enlarged to the window (a quarter of the work).
    up_t, down_t = (torch.from_numpy(f[:, :, ::2, ::2].copy()).to(device) for f in (up, down))
    # The portrait's own grain, at its own strength, fixed per pixel of the window (frames stay deterministic).
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0)).to(device) * colours.grain
    return MouthRig(
        win,
        xs.unsqueeze(0),
        ys.unsqueeze(0),
        top.view(1, 1, -1),
        line.view(1, 1, -1),
        up_t,
        down_t,
        noise.unsqueeze(0),
        # Across the mouth, from corner to corner (a face turned or tilted has its middle off the mouth point).
        0.5 * float(lm.lower_inner[-1, 0] - lm.lower_inner[0, 0]),
        0.5 * float(lm.lower_inner[-1, 0] + lm.lower_inner[0, 0]),
        mw,
        teeth,
        teeth and not own_teeth,
        colours,
        # As soft as the portrait's own edges, but never so soft that a small opening is all edge.
        min(max(1.0, 0.022 * mw, 1.6 * colours.edge), max(1.0, 0.05 * mw)),
    )


def _invert(d: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, steps: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each window pixel (frame coordinates ``xs, ys`` [1, h, w]) reads from under the forward displacement
    ``d`` ([B, 2, h/2, w/2], every other pixel): the ``s`` with ``s + d(s) = p``, by fixed-point steps from
    ``p - d(p)`` on every other pixel, then enlarged."""
    h, w = d.shape[-2:]
    x0, y0 = xs[0, 0, 0], ys[0, 0, 0]
    px, py = xs[:, ::2, ::2], ys[:, ::2, ::2]
    at = d
    for _ in range(steps):
        sx, sy = px - at[:, 0], py - at[:, 1]
        grid = torch.stack([(sx - x0) / max(1, w - 1) - 1, (sy - y0) / max(1, h - 1) - 1], dim=-1)
        at = F.grid_sample(d, grid, mode="bilinear", padding_mode="border", align_corners=True)
    full = F.interpolate(at, size=xs.shape[-2:], mode="bilinear", align_corners=True)
    return xs - full[:, 0], ys - full[:, 1]


def _weigh(fields: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``[B, ...]``: each frame's sum of the per-channel ``fields`` ``[K, ...]`` weighted by its ``shape`` ``[B, K]``."""
    return torch.tensordot(shape, fields, dims=1)


def draw(r: MouthRig, sample: Any, shape: torch.Tensor, tongue: torch.Tensor) -> torch.Tensor:
    """The mouth window of each frame, float ``[B, 3, h, w]``: ``shape`` ``[B, K]`` mouth channels, ``tongue`` ``[B]``.

    ``sample(sx, sy)`` reads the portrait's window pixels at frame coordinates (``[B, 3, h, w]``).
    """
    B = shape.shape[0]
    xs, ys = r.xs, r.ys
    d_up, d_down = _weigh(r.up, shape), _weigh(r.down, shape)  # [B, 2, h, w]
    press = shape[:, 4].clamp(0, 1).view(B, 1, 1)
    within = smoothstep(
        (1.05 * r.half_width - (xs[:, :1] - r.mx).abs()) / (0.1 * r.mw)
    )  # [1, 1, w]: the mouth's columns
    hide = (r.line - r.top) * press * within  # the gap's band a press hides (a smile's teeth with it)
    edge = r.line - hide  # the upper part's content ends here (source rows)
    s_up_x, s_up_y = _invert(d_up, xs, ys)
    s_dn_x, s_dn_y = _invert(d_down, xs, ys)
    soft = r.soft
    a_up = ((edge - s_up_y) / soft + 0.5).clamp(0, 1)
    a_dn = ((s_dn_y - r.line) / soft + 0.5).clamp(0, 1)
    covered = a_up + a_dn
    # Each part read inside its own side of the line (its edge row repeats, never the other part's pixels), on
    # the rows it reaches in some frame; blended where both reach, and where neither does, beyond the opening's
    # corners: the skin stretched between the two edges' rows.
    h = xs.shape[1]
    last_up = int((a_up.amax(dim=(0, 2)) > 0).nonzero().max()) if bool((a_up > 0).any()) else -1
    first_dn = int((a_dn.amax(dim=(0, 2)) > 0).nonzero().min()) if bool((a_dn > 0).any()) else h
    first_dn = min(first_dn, last_up + 1)
    top, bottom = slice(0, last_up + 1), slice(first_dn, h)
    out = torch.empty((B, 3, h, xs.shape[2]), device=xs.device)
    upper = sample(s_up_x[:, top], torch.minimum(s_up_y[:, top], edge - 0.5))
    out[:, :, bottom] = sample(s_dn_x[:, bottom], torch.maximum(s_dn_y[:, bottom], r.line + 0.5))
    both = slice(first_dn, last_up + 1)
    if first_dn <= last_up:
        share = covered[:, both]
        to_lower = torch.where(share > 0, a_dn[:, both] / share.clamp(min=1e-6), 0.5).unsqueeze(1)
        out[:, :, both] = torch.lerp(upper[:, :, both], out[:, :, both], to_lower)
    out[:, :, :first_dn] = upper[:, :, :first_dn]
    spread = (1 + 0.16 * shape[:, 1] - 0.14 * shape[:, 2]).clamp(min=0.3).view(B, 1, 1)
    v = ((xs - r.mx) / (r.half_width * spread)).clamp(-1.5, 1.5)  # -1..1 corner to corner
    inner = (1 - covered).clamp(min=0) * smoothstep((1.35 - v.abs()) / 0.25)
    # Where the lips meet (a press, a bite), their contact line: the pixels there darkened, not painted.
    closing = 0.2 * press + 0.3 * shape[:, 3].clamp(0, 1).view(B, 1, 1)
    if float(closing.max()) > 0:
        meet = torch.exp(-(((s_dn_y - r.line) / (0.5 * soft + 0.6)) ** 2)) * (1 - v.abs().clamp(max=1) ** 2).sqrt()
        out = out * (1 - (meet * closing).unsqueeze(1))
    # The inside, computed only over the rows and columns where the mouth is open in some frame of the batch.
    rows, cols = (inner.amax(dim=(0, 2)) > 0).nonzero(), (inner.amax(dim=(0, 1)) > 0).nonzero()
    if not len(rows):
        return out
    box = (slice(None), slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    inside = interior(
        r,
        sample,
        box,
        (s_up_y[box] - edge[box[0], :, box[2]]).clamp(min=0),  # how far below the upper part's edge (pixels)
        (r.line[box[0], :, box[2]] - s_dn_y[box]).clamp(min=0),  # how far above the lower lip's edge
        v[box],
        tongue,
    )
    alpha = inner[box].unsqueeze(1)
    out[:, :, box[1], box[2]] = out[:, :, box[1], box[2]] * (1 - alpha) + inside * alpha
    return out


def interior(
    r: MouthRig,
    sample: Any,
    box: tuple[slice, slice, slice],
    below_top: torch.Tensor,
    above_bottom: torch.Tensor,
    v: torch.Tensor,
    tongue: torch.Tensor,
) -> torch.Tensor:
    """The open mouth's inside ``[B, 3, h, w]`` over ``box`` of the window, from each pixel's distances (pixels,
    ``[B, h, w]``) below the upper part's edge and above the lower lip's, and its place ``v`` across the mouth
    (-1..1 corner to corner)."""
    B = below_top.shape[0]
    soft, mw, xs = r.soft, r.mw, r.xs[box]
    height = (below_top + above_bottom).clamp(min=1e-3)  # the opening's height at this pixel's column
    t = below_top / height  # 0 at the upper lip, 1 at the lower
    # A small opening shows the dark: the tongue, the lower teeth and the lips' inner flesh come into view as it grows.
    grown = smoothstep(height / (0.25 * mw))
    c = r.colours
    # Texture: the lips' gap stretched over the opening, as relative brightness around 1.
    texture = sample(xs.expand(B, -1, -1), r.line[box[0], :, box[2]] - 0.5 + (t - 0.5) * 0.1 * mw)
    texture = texture / c.level
    texture = 1 + 0.35 * (texture.mean(dim=1) - 1)
    # The cavity: darkest at the back (the middle), the lips' inner flesh along the lower lip.
    back = (1 - v.abs().clamp(max=1) ** 2) * (1 - (2 * t - 1).abs())
    colour = c.throat * (1.25 - 0.55 * back.unsqueeze(1))
    rim = torch.exp(-((above_bottom / (0.045 * mw)) ** 2))
    colour = colour + (0.55 * c.lips - colour) * (0.6 * rim * grown).unsqueeze(1)
    # The tongue: low in the mouth, its tip rising to the upper teeth with the ``tongue`` channel.
    lift = tongue.clamp(0, 1).view(B, 1, 1)
    rise = height * (0.4 * grown * (1 - v**2).clamp(min=0) + 0.62 * lift * torch.exp(-((v / 0.38) ** 2)))
    on_tongue = smoothstep((rise - above_bottom) / (2 * soft) + 0.5)
    tongue_shade = 0.8 + 0.35 * smoothstep((rise - above_bottom) / (0.12 * mw + 1)) * (1 - 0.4 * v.abs().clamp(max=1))
    colour = colour + (c.tongue * tongue_shade.unsqueeze(1) - colour) * on_tongue.unsqueeze(1)
    # Teeth: a row under the upper lip (drawn unless the portrait's own show) and one over the lower lip.
    gaps = 1 - 0.1 * torch.cos(math.pi * (xs - r.mx) / (0.12 * mw)) ** 6  # the dark lines between teeth
    along = (1 - 0.45 * v.clamp(-1, 1) ** 2) * gaps
    if r.drawn_teeth:
        upper_h = torch.minimum(0.11 * mw * (1 - 0.25 * v**2), 0.5 * height)
        on_upper = smoothstep((upper_h - below_top) / soft + 0.5) * smoothstep((0.78 - v.abs()) / 0.12)
        lit = 0.72 + 0.28 * smoothstep(below_top / (0.5 * upper_h + 1))
        colour = colour + (c.teeth * (along * lit).unsqueeze(1) - colour) * on_upper.unsqueeze(1)
    if r.teeth:
        lower_h = torch.minimum(0.06 * mw * (1 - 1.2 * v**2).clamp(min=0), 0.3 * height)
        lower_h = lower_h * grown
        on_lower = (
            smoothstep((lower_h - above_bottom) / soft + 0.5) * smoothstep((0.62 - v.abs()) / 0.15) * (1 - 0.8 * lift)
        )
        colour = colour + (c.teeth * (0.8 * along).unsqueeze(1) - colour) * on_lower.unsqueeze(1)
    # The upper lip's shadow over everything inside, and the portrait's own texture.
    shadow = 0.62 + 0.38 * smoothstep(below_top / (0.09 * mw + 1))
    return colour * (shadow * texture).unsqueeze(1) + r.grain[box].unsqueeze(1)


def sample(source: torch.Tensor, region: tuple[int, int, int, int], sx: torch.Tensor, sy: torch.Tensor):
    """``source`` ([B or 1, 3, h, w], the pixels of ``region``) read at frame coordinates ``sx, sy`` (bilinear;
    the two broadcast to ``[B, h', w']``)."""
    x0, y0, x1, y1 = region
    sx, sy = torch.broadcast_tensors(sx, sy)
    grid = torch.stack([2 * (sx - x0) / max(1, x1 - x0 - 1) - 1, 2 * (sy - y0) / max(1, y1 - y0 - 1) - 1], dim=-1)
    if source.shape[0] != grid.shape[0]:
        source = source.expand(grid.shape[0], -1, -1, -1)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True)


def sample_window(crop: torch.Tensor, region: tuple[int, int, int, int]):
    """``sample(sx, sy)``: the region's pixels ``crop`` ([1, 3, h, w]) read at frame coordinates."""
    return lambda sx, sy: sample(crop, region, sx, sy)
