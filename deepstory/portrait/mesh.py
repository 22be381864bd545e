"""Dense face landmarks (a face mesh) for human photos: MediaPipe's 468-point face landmark model, run by onnxruntime.

The model (``deepstory/assets/models/face_landmark.onnx``, Apache-2.0, see the ``NOTICE`` beside it) is
MediaPipe's ``face_landmark.tflite`` converted to ONNX by ``scripts/facemesh_onnx.py``.  It takes a
192x192 RGB crop around one face and gives 468 points (x, y in the crop's pixels, z a depth in the same
scale) and a face-presence logit.  :func:`face_mesh` crops the face box square and enlarged, runs the model,
then runs it again on a crop placed from the first answer's landmarks and turned upright by its eye line.

The index groups below are MediaPipe's canonical face mesh topology (the published
``face_mesh_connections``), as ordered contours.  "Right" and "left" are the subject's, as MediaPipe names
them: on a frontal photo the subject's right eye is on the image's left.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepstory.portrait.image import Face

MODEL = Path(__file__).resolve().parent.parent / "assets" / "models" / "face_landmark.onnx"
SIZE = 192  # the model's input side, pixels
MARGIN = 1.5  # the square crop's side, in face sizes (MediaPipe's own crop enlarges its box 1.5x)
# The least face-presence probability that counts as a face: faces in photos score above 0.9999, the face
# finder's mistakes measured so far at most 0.59 (docs/faces.md#face-mesh).
THRESHOLD = 0.9
# A face box with more than this share of flat colour (pixels the same as their right and lower neighbours) is a
# drawing, not a photo: measured 0.70 on the bundled owl, at most 0.004 on the photos (docs/faces.md#face-mesh).
DRAWN = 0.2
THREADS = 1  # onnxruntime's threads: one 192x192 crop is too small to share (2 threads: no faster here)

# Lips: outer and inner contours, each from the subject's right corner (image left) to the left one.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_CORNERS = (61, 291)  # outer corners: the mouth's width
INNER_LIP_CORNERS = (78, 308)
LIP_MIDDLE = (13, 14)  # the inner lips' middle points, upper and lower: the line between the lips
# The face's outline, closed, from the top of the forehead round the subject's left side (image right).
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# The jaw line, the oval's lower half from the subject's right ear (image left) under the chin to the left one.
JAW = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
CHIN = 152
NOSE_TIP = 1
# Eyes: outer and inner corners, upper and lower lids from the outer corner to the inner one.
RIGHT_EYE_CORNERS = (33, 133)
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_CORNERS = (263, 362)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)


@dataclass(frozen=True)
class Mesh:
    """468 landmarks of one face in image pixels: x, y, and z (depth, same scale; smaller is nearer)."""

    points: np.ndarray  # float [468, 3]
    score: float  # face-presence probability of the final crop, 0..1

    def xy(self, indices: Sequence[int] | int) -> np.ndarray:
        """The image positions (x, y) of some landmarks: [len, 2], or [2] for one index."""
        return self.points[indices, :2]

    @property
    def mouth(self) -> tuple[float, float]:
        """The middle of the line where the lips part: the lower inner lip's middle point (a smile's teeth lie
        above it and stay with the upper lip; the jaw opens below it)."""
        x, y = self.xy([LIP_MIDDLE[1]])[0]
        return float(x), float(y)

    @property
    def mouth_width(self) -> float:
        a, b = self.xy(list(LIP_CORNERS))
        return float(np.hypot(*(b - a)))

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The eyes' centres (the middle of each lid contour), image left first."""
        centres = [self.xy(list(up + low)).mean(axis=0) for up, low in _EYES]
        left, right = sorted(centres, key=lambda c: float(c[0]))
        return (float(left[0]), float(left[1])), (float(right[0]), float(right[1]))

    @property
    def eye_width(self) -> float:
        """The eyes' mean width, corner to corner."""
        return float(np.mean([np.hypot(*(self.xy(b) - self.xy(a))) for a, b in _EYE_CORNERS]))


_EYES = ((RIGHT_EYE_UPPER, RIGHT_EYE_LOWER), (LEFT_EYE_UPPER, LEFT_EYE_LOWER))
_EYE_CORNERS = (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS)

_session: Any = None
_lock = threading.Lock()


def session() -> Any:
    """The process's one onnxruntime session of the model, made on first use."""
    global _session
    with _lock:
        if _session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = THREADS
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _session = onnxruntime.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])
        return _session


def _run(image: np.ndarray, centre: np.ndarray, side: float, angle: float) -> tuple[np.ndarray, float]:
    """The model on a square crop (``side`` px, turned by ``angle`` radians about ``centre``): points in image
    pixels and the presence probability."""
    import cv2

    c, s = np.cos(angle), np.sin(angle)
    scale = side / SIZE
    # crop pixel (u, v) -> image point: the crop's axes turned by angle, scaled, centred on centre
    to_image = np.array([[c * scale, -s * scale, 0.0], [s * scale, c * scale, 0.0]])
    to_image[:, 2] = centre - to_image[:, :2] @ np.array([SIZE / 2, SIZE / 2])
    crop = cv2.warpAffine(
        image,
        cv2.invertAffineTransform(to_image),
        (SIZE, SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    x = crop.astype(np.float32)[None] / 255.0  # the model takes 0..1 (see docs/faces.md#face-mesh)
    landmarks, logit = session().run(None, {"image": x})
    points = landmarks.reshape(-1, 3).astype(np.float64)
    xy = points[:, :2] @ to_image[:, :2].T + to_image[:, 2]
    score = float(1.0 / (1.0 + np.exp(-float(logit.reshape(-1)[0]))))
    return np.column_stack([xy, points[:, 2] * scale]), score


def _upright_box(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The landmarks' box turned upright by the eye line: its centre (image pixels), longer side and angle."""
    right, left = points[RIGHT_EYE_CORNERS[0], :2], points[LEFT_EYE_CORNERS[0], :2]
    angle = float(np.arctan2(left[1] - right[1], left[0] - right[0]))
    c, s = np.cos(angle), np.sin(angle)
    upright = points[:, :2] @ np.array([[c, -s], [s, c]])  # each point turned by -angle
    low, high = upright.min(axis=0), upright.max(axis=0)
    centre = (low + high) / 2 @ np.array([[c, s], [-s, c]])  # and the box's centre turned back
    return centre, float(np.max(high - low)), angle


def _near(image: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, float, np.ndarray]:
    """The part of ``image`` around the face (a face size each way: room for both passes' crops, turned),
    reduced (area-averaged) where the crop would otherwise shrink it more than twice: (pixels, scale, offset);
    image = part / scale + offset."""
    import cv2

    x0, y0, x1, y1 = box
    reach = max(x1 - x0, y1 - y0)
    h, w = image.shape[:2]
    left, top = int(max(0, np.floor(x0 - reach))), int(max(0, np.floor(y0 - reach)))
    right, bottom = int(min(w, np.ceil(x1 + reach))), int(min(h, np.ceil(y1 + reach)))
    part = image[top:bottom, left:right]
    scale = min(1.0, 2.0 * SIZE / (MARGIN * max(x1 - x0, y1 - y0)))
    if scale < 1.0:
        size = (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale)))
        part = cv2.resize(part, size, interpolation=cv2.INTER_AREA)
        scale = size[0] / (right - left)
    return np.ascontiguousarray(part), scale, np.array([left, top], dtype=np.float64)


def face_mesh(image: np.ndarray, box: Sequence[float], threshold: float = THRESHOLD) -> Mesh | None:
    """The face mesh of the face in ``box`` (x0, y0, x1, y1, image pixels) of an RGB uint8 ``image``.

    Two passes: a square crop ``MARGIN`` times the box, then one placed on the first pass's landmarks (their
    box, turned upright by the eye line, ``MARGIN`` times).  None where the model sees no face in either
    (presence under ``threshold``).
    """
    part, scale, offset = _near(image, box)
    x0, y0, x1, y1 = ((float(v) - o) * scale for v, o in zip(box, (*offset, *offset)))
    points, score = _run(part, np.array([(x0 + x1) / 2, (y0 + y1) / 2]), MARGIN * max(x1 - x0, y1 - y0), 0.0)
    if score < threshold:
        return None
    centre, side, angle = _upright_box(points)
    points, score = _run(part, centre, MARGIN * side, angle)
    if score < threshold:
        return None
    points[:, :2] = points[:, :2] / scale + offset
    points[:, 2] /= scale
    return Mesh(points=points, score=score)


def drawn(image: np.ndarray, box: Sequence[float]) -> bool:
    """Whether the face in ``box`` of ``image`` looks drawn: flat colour over more than ``DRAWN`` of it (a
    photo's grain leaves almost no pixel equal to both its neighbours)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    part = image[max(0, int(y0)) : min(h, int(np.ceil(y1))), max(0, int(x0)) : min(w, int(np.ceil(x1)))]
    part = part.astype(np.int16)
    if part.shape[0] < 2 or part.shape[1] < 2:
        return False
    down = (part[1:, :-1] == part[:-1, :-1]).all(axis=-1)
    right = (part[:-1, 1:] == part[:-1, :-1]).all(axis=-1)
    return float((down & right).mean()) > DRAWN


def refined(face: Face, mesh: Mesh) -> Face:
    """``face`` with its mouth (centre and width) and eyes (centres and width) taken from ``mesh``, which it keeps."""
    return replace(
        face,
        mouth=mesh.mouth,
        mouth_width=mesh.mouth_width,
        eyes=mesh.eyes,
        eye_width=mesh.eye_width,
        mesh=tuple((float(x), float(y)) for x, y in mesh.points[:, :2]),
    )
