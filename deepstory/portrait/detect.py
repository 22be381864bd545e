"""Find a face, its eyes and mouth in a portrait, with no download.

OpenCV's packaged Haar cascades (``opencv-python-headless`` 4.x ships them)
find human faces (which also catches simple drawn faces) and cat faces; the
eye cascade refines the eyes.  Mouth and eye positions otherwise come from the
proportions of the face box, different for people and cats.  On a human face, a
face mesh (:mod:`deepstory.portrait.mesh`, MediaPipe's 468 landmarks) then places
the mouth and eyes where the model sees a face (``face.mesh: false`` turns it off).
A face too small for the first search (a person at a distance in a wide photo) is searched
for again, finer, and kept only where the face mesh sees a face in it.
Every value can be overridden per image in the speakers config (``face.box``,
``face.mouth``, ``face.mouth_width``, ``face.eyes``, ``face.eye_width``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from PIL import Image

from deepstory.errors import FaceNotFound
from deepstory.portrait.image import Face

# Proportions inside a detected box: eye height, eye x offsets, mouth height, mouth width, eye width.
HUMAN = {"eye_y": 0.40, "eye_dx": 0.22, "mouth_y": 0.80, "mouth_w": 0.40, "eye_w": 0.20}
CAT = {"eye_y": 0.42, "eye_dx": 0.20, "mouth_y": 0.82, "mouth_w": 0.20, "eye_w": 0.17}


DETECT_SIZE = 400  # images are searched at most this large (faster; portraits have large faces)
# Where that search finds no face the face mesh confirms, faces down to 1/20 of the image's shorter side are
# searched for: the image with its shorter side DISTANT_SIZE px (its longer at most twice that), the cascade's
# 24 px window up to a sixth of the shorter side.  Every box found there is a face only where the face mesh sees
# one (a patch of crowd or texture scores under 0.03, faces 0.99+): docs/faces.md#framing.
DISTANT_SIZE = 480
DISTANT_CHECKS = 8  # the most boxes the face mesh is asked about (each 4 to 10 ms), the largest first
# A cat face is where at least this many of the cat cascades' votes (two cascades, three angles) agree: a
# single vote is texture (measured: the cat 3 votes; a wide scene's grain, a shirt, a desk 1 each).
CAT_VOTES = 2


@dataclass(frozen=True)
class Detection:
    kind: str  # "human" or "cat"
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    eyes: tuple[tuple[float, float], ...]  # from the eye cascade, may be empty
    eye_width: float | None


def _cascade(name: str):
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
    if cascade.empty():  # pragma: no cover - depends on the OpenCV build
        raise RuntimeError(f"OpenCV has no {name}: pip install 'opencv-python-headless<5'")
    return cascade


def _padded(gray: np.ndarray, frac: float) -> tuple[np.ndarray, int]:
    import cv2

    pad = int(max(gray.shape) * frac)
    return cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad


def _rotate(gray: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    center = (gray.shape[1] / 2, gray.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(center, angle, 1.0)
    rotated = cv2.warpAffine(gray, matrix, (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    return rotated, cv2.invertAffineTransform(matrix)


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def _eyes(gray: np.ndarray, box) -> tuple[tuple[tuple[float, float], ...], float | None]:
    x, y, w, h = box
    top = gray[max(0, y) : max(0, y + int(h * 0.62)), max(0, x) : max(0, x + w)]
    if top.size == 0:
        return (), None
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        top, scaleFactor=1.05, minNeighbors=3, minSize=(max(8, w // 10), max(8, w // 10)), maxSize=(w // 2, w // 2)
    )
    eyes = sorted(((x + ex + ew / 2, y + ey + eh / 2, ew) for ex, ey, ew, eh in found), key=lambda e: e[0])
    left = [e for e in eyes if e[0] < x + w / 2]
    right = [e for e in eyes if e[0] >= x + w / 2]
    if not left or not right:
        return (), None
    pick = (max(left, key=lambda e: e[2]), max(right, key=lambda e: e[2]))
    return tuple((float(e[0]), float(e[1])) for e in pick), float(np.mean([e[2] for e in pick]) * 0.75)


def _humans(gray: np.ndarray) -> list[Detection]:
    """Human (or drawn) faces at least an eighth of the image's shorter side: those with both eyes found
    first, then the larger."""
    padded, pad = _padded(gray, 0.25)
    minimum = max(24, min(gray.shape) // 8)
    humans = _cascade("haarcascade_frontalface_alt2.xml").detectMultiScale(
        padded, scaleFactor=1.05, minNeighbors=4, minSize=(minimum, minimum)
    )
    candidates = []
    for hx, hy, hw, hh in humans:
        box = (int(hx - pad), int(hy - pad), int(hw), int(hh))
        eyes, eye_width = _eyes(gray, box)
        candidates.append((len(eyes) > 0, hw * hh, Detection("human", box, eyes, eye_width)))
    return [c[2] for c in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True)]


def _cat(gray: np.ndarray) -> Detection | None:
    """A cat's face: the box most of the cat cascades' votes over a few rotations agree on, where at least
    ``CAT_VOTES`` do."""
    # A cat's face in a portrait is large: boxes under a quarter of the image's shorter side are not searched
    # (that search is most of the time: 1.3 s instead of 3.5 s for chelsea.png, the same box).
    votes: list[tuple[int, int, int, int]] = []
    minimum = max(24, min(gray.shape) // 4)
    padded, pad = _padded(gray, 0.3)
    for angle in (-10.0, 0.0, 10.0):
        rotated, back = _rotate(padded, angle)
        for name in ("haarcascade_frontalcatface.xml", "haarcascade_frontalcatface_extended.xml"):
            for cx, cy, cw, ch in _cascade(name).detectMultiScale(
                rotated, scaleFactor=1.03, minNeighbors=2, minSize=(minimum, minimum)
            ):
                centre = back @ np.array([cx + cw / 2, cy + ch / 2, 1.0])
                votes.append((int(centre[0] - cw / 2 - pad), int(centre[1] - ch / 2 - pad), int(cw), int(ch)))
    if not votes:
        return None
    # Several cascades and angles agreeing on a large box beat many votes for a small part (a nose).
    support = [sum(1 for other in votes if _iou(v, other) > 0.5) for v in votes]
    best = max(range(len(votes)), key=lambda i: (support[i] * votes[i][2], votes[i][2]))
    if support[best] < CAT_VOTES:
        return None
    cluster = [v for v in votes if _iou(votes[best], v) > 0.5]
    x, y, w, h = (int(round(np.mean([v[k] for v in cluster]))) for k in range(4))
    return Detection("cat", (x, y, w, h), (), None)


def distant(image: Image.Image) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1, image pixels) of faces too small for the first search, the largest first: from
    1/20 to 1/6 of the image's shorter side, searched at ``DISTANT_SIZE`` (a small image enlarged at most twice:
    no face under 12 of its pixels).  Many are not faces (a finer, looser search): the face mesh decides
    (:func:`find`)."""
    scale = min(DISTANT_SIZE / min(image.size), 2 * DISTANT_SIZE / max(image.size), 2.0)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    gray = np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR))
    sx, sy = image.width / size[0], image.height / size[1]
    largest = max(25, min(size) // 6)
    found = _cascade("haarcascade_frontalface_alt2.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=2, minSize=(24, 24), maxSize=(largest, largest)
    )
    boxes = [(x * sx, y * sy, (x + w) * sx, (y + h) * sy) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: b[2] - b[0], reverse=True)


def landmarks(detection: Detection, width: int, height: int) -> Face:
    """Face landmarks from a detection: measured eyes where found, proportions otherwise."""
    p = HUMAN if detection.kind == "human" else CAT
    x, y, w, h = detection.box
    cx = x + w / 2
    eyes = detection.eyes or ((cx - p["eye_dx"] * w, y + p["eye_y"] * h), (cx + p["eye_dx"] * w, y + p["eye_y"] * h))
    box = (max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h))
    return Face(
        box=box,
        mouth=(cx, y + p["mouth_y"] * h),
        mouth_width=p["mouth_w"] * w,
        eyes=tuple(eyes),
        eye_width=detection.eye_width or p["eye_w"] * w,
    )


def locate(image: Image.Image, overrides: Mapping[str, Any] | None, where: str, path: str | None = None) -> Face:
    """The face of ``image``: detected, with any configured values taking precedence.

    With every value configured nothing is detected.  With nothing found and
    something missing, a one-line error names the image's config key and the
    command that shows the image's pixels (``python -m deepstory.face``, on ``path``).
    A human face's mouth and eyes come from its face mesh where the model finds one
    (``mesh: false`` among the overrides: never).
    """
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    use_mesh = overrides.pop("mesh", True)
    if not isinstance(use_mesh, bool):
        raise ValueError(f"{where}.mesh: true or false, not {use_mesh!r}")
    keys = ("box", "mouth", "mouth_width", "eyes", "eye_width")
    if all(k in overrides for k in keys):
        return Face.from_config(overrides, where)
    found = find(image, use_mesh)
    if found is None:
        missing = ", ".join(k for k in keys if k not in overrides)
        tool = f"python -m deepstory.face {shlex.quote(path) if path and path.isprintable() else '<image>'}"
        raise FaceNotFound(
            f"{where}: no face found in the image; set {missing} under {where}; find the pixels with: {tool}"
        )
    auto = {
        "box": found.box,
        "mouth": found.mouth,
        "mouth_width": found.mouth_width,
        "eyes": found.eyes,
        "eye_width": found.eye_width,
        "mesh": found.mesh,
    }
    return Face.from_config({**auto, **overrides}, where)


def find(image: Image.Image, use_mesh: bool = True) -> Face | None:
    """The face of ``image`` in its pixels, None where none is found.

    The image searched at ``DETECT_SIZE``: the most convincing human (or drawn) face, its mouth and eyes from
    the face mesh where the model sees a face there (``use_mesh``).  Where the model sees none, or no human
    face is found, the first search's other faces and then the smaller faces of :func:`distant` are asked, the
    largest first: the first the model sees a face in wins.  None confirmed: the first search's face as it
    is (the box's proportions), else a cat's face, else None.  Without ``use_mesh`` nothing is confirmed, so
    faces under an eighth of the image are not searched for.
    """
    from deepstory.portrait.mesh import drawn

    scale = min(1.0, DETECT_SIZE / max(image.size))
    small = image.convert("L")
    if scale < 1.0:
        small = small.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
    gray = np.asarray(small)
    humans = [landmarks(d, small.width, small.height).transformed(1 / scale, 0, 0) for d in _humans(gray)]
    if not use_mesh and humans:
        return humans[0]
    if use_mesh:
        pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        if humans and drawn(pixels, humans[0].box):
            return humans[0]  # a drawing: the box's proportions
        confirmed = _confirmed(image, pixels, humans)
        if confirmed is not None:
            return confirmed
    if humans:
        return humans[0]
    cat = _cat(gray)
    return None if cat is None else landmarks(cat, small.width, small.height).transformed(1 / scale, 0, 0)


def _confirmed(image: Image.Image, pixels: np.ndarray, humans: list[Face]) -> Face | None:
    """The first of ``humans`` (the first search's faces, best first), then of the smaller faces of
    :func:`distant`, in which the face mesh of ``pixels`` (``image`` as RGB) sees a face, with its mouth and
    eyes from the mesh; at most ``DISTANT_CHECKS`` asked after the first."""
    from deepstory.portrait.mesh import drawn, face_mesh, refined

    def candidates():
        yield from humans
        for x0, y0, x1, y1 in distant(image):
            box = (round(x0), round(y0), round(x1 - x0), round(y1 - y0))
            yield landmarks(Detection("human", box, (), None), image.width, image.height)

    for asked, face in enumerate(candidates()):
        if asked > DISTANT_CHECKS:
            break
        mesh = None if drawn(pixels, face.box) else face_mesh(pixels, face.box)
        if mesh is not None:
            return refined(face, mesh)
    return None
