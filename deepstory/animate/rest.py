"""A portrait whose mouth hangs open closes it before it talks.

A photo taken mid-word or mid-shout (OpenCV's ``messi5.jpg``: a footballer
calling out) shows the dark inside of its mouth between the lips.  Animated as
it is, the character would sit with its mouth open between lines and a P/B/M
would press the lips together from an open jaw.  Such a portrait is shown with
its lips closed instead: the mesh mouth's own press (the lips brought together
over the gap, as on every P/B/M) is drawn once into the fitted portrait, and the
face mesh's lips are moved to meet.  Every later frame opens the mouth from
there, with drawn teeth where the photo's own are hidden.

A portrait counts as open at rest where its face mesh has the inner lips apart
by more than :data:`GAP` of the mouth's width at the middle and the gap is
dark (its median brightness under :data:`DARK` of the face's): an open mouth
shows its inside, a smile its teeth (the bundled astronaut's gap is the same
size as the footballer's, and 1.27 times as bright as her face; his is 0.44).
``speakers.<Name>.face.rest``: ``auto`` (this test), ``closed`` (always, where a
mesh is found) or ``open`` (never).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from deepstory.portrait.image import Face, Portrait

#: The least gap between the inner lips at the mouth's middle, in mouth widths, that counts as parted.
GAP = 0.06
#: A gap darker than this share of the face's median brightness shows the mouth's inside: open, not a smile.
DARK = 0.7
#: Names how a closed portrait is drawn, in the keys of what is made from it.
VERSION = "rest-1"

_LUMA = np.array([0.299, 0.587, 0.114])


def _lips(face: Face, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inner upper and lower lips' y at the x values ``at`` (the mesh's contours, as the mouth's rig reads
    the lips' gap from them)."""
    from deepstory.animate.mouth import from_mesh

    assert face.mesh is not None
    _, top, line = from_mesh(face.mesh, at)
    return top, line


def open_at_rest(portrait: Portrait) -> bool:
    """Whether the portrait's mouth is open (its inside showing between the lips), as its face mesh has it."""
    face = portrait.face
    if face.mesh is None:
        return False
    (mx, _), mw = face.mouth, face.mouth_width
    columns = np.arange(int(np.floor(mx - 0.2 * mw)), int(np.ceil(mx + 0.2 * mw)) + 1)
    height, width = portrait.image.shape[:2]
    columns = columns[(columns >= 0) & (columns < width)]
    if not len(columns):
        return False
    top, line = _lips(face, columns.astype(np.float64))
    if float(np.mean(line - top)) <= GAP * mw:
        return False
    gray = portrait.image.astype(np.float64) @ _LUMA
    inside = [
        gray[r, x]
        for x, t, b in zip(columns, top, line)
        for r in range(max(0, int(np.ceil(t))), min(height, int(np.floor(b)) + 1))
    ]
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    skin = gray[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if not inside or not skin.size:
        return False
    return float(np.median(inside)) < DARK * float(np.median(skin))


def closed(face: Face) -> Face:
    """The face with its mesh's lips brought together (as a full press moves them) and the mouth where they meet."""
    from deepstory.portrait import mesh as m

    assert face.mesh is not None
    pts = np.asarray(face.mesh, dtype=np.float64).copy()
    top, line = _lips(face, pts[:, 0])
    half = 0.5 * (line - top)  # per point: half the gap at its x
    (lx, _), (rx, _) = pts[list(m.LIP_CORNERS)]
    u = np.clip((pts[:, 0] - (lx + rx) / 2) / max(1e-6, rx - lx), -0.5, 0.5)
    s = 1 - (2 * u) ** 2  # 1 at the middle, 0 at the corners
    corners = set(m.INNER_LIP_CORNERS) | set(m.LIP_CORNERS)
    for indices, sign, outer in (
        (m.LIPS_INNER_UPPER, 1, False),
        (m.LIPS_INNER_LOWER, -1, False),
        (m.LIPS_OUTER_UPPER, 1, True),
        (m.LIPS_OUTER_LOWER, -1, True),
    ):
        for i in indices:
            if i not in corners:
                pts[i, 1] += sign * half[i] * (s[i] if outer else 1.0)
    mouth = (face.mouth[0], float(pts[m.LIP_MIDDLE[1], 1]))
    return replace(face, mouth=mouth, mesh=tuple((float(x), float(y)) for x, y in pts))


def shut(portrait: Portrait) -> Portrait:
    """The portrait with its lips closed: the warp animator's full press drawn into it, its mesh moved to match."""
    import torch

    from deepstory.animate.warp import WarpAnimator
    from deepstory.track import FACE

    animator = WarpAnimator(device="cpu", batch_size=1)
    row = FACE.empty(1)
    row[0, FACE.index("press")] = 1.0
    with torch.inference_mode():
        frame = next(iter(animator.frames(animator.prepare(replace(portrait, mouths=None)), row)))[0]
    return replace(portrait, image=np.ascontiguousarray(frame), face=closed(portrait.face))


class RestPose:
    """The cast's closer (:class:`deepstory.portrait.cast.Closer`): a portrait as it is shown at rest for
    ``face.rest`` (see the module), and whether its lips were closed."""

    version = VERSION

    def __call__(self, portrait: Portrait, rest: str) -> tuple[Portrait, bool]:
        if portrait.face.mesh is None or rest == "open" or portrait.mouths:
            return portrait, False
        if rest == "closed" or open_at_rest(portrait):
            return shut(portrait), True
        return portrait, False
