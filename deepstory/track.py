"""The motion track: the one format that crosses from a motion backend to an animator.

A chunk's track (``temp/motion/cNNNNN.npy``, the "base") is a float32 array
``[frames, len(format.channels)]``: one row per video frame, one column per
channel.  A motion backend declares the format it makes
(:attr:`MotionBackend.format`), an animator the format it takes
(:attr:`Animator.accepts`); the animate stage refuses a pair that differ.

Two formats exist:

* :data:`FACE` — a face's pose and expression, for the procedural animator:

  - ``open``  mouth opening, 0 (shut) .. 1 (wide open);
  - ``blink`` eyelid closure, 0 (open) .. 1 (shut);
  - ``dx``, ``dy`` head translation, in units of the face size; ``roll`` head tilt, degrees;
  - ``nod`` small downward nod, 0 .. 1;
  - ``width`` mouth shape, -1 narrow (o, u) .. +1 spread (i, e);
  - ``round`` lips pushed forward and rounded (o, u, w), 0 .. 1;
  - ``bite`` lower lip tucked under the upper teeth (f, v), 0 .. 1;
  - ``press`` lips pressed together (p, b, m), 0 .. 1;
  - ``shape`` the mouth shape of the sound being made, unblended: 1 + its index
    in :data:`SHAPE_NAMES`, or 0 where no phone is known (mouth sprites use it);
  - ``tongue`` the tongue's tip raised to the upper teeth, 0 (lying low) .. 1 (L, TH, DH; T, D, N less).

* :data:`KEYPOINTS` — FOMM (vox-256) keypoints already transferred onto the
  portrait: keypoint ``k``'s position at columns ``2k`` (x) and ``2k+1`` (y),
  in [-1, 1] coordinates of the 256x256 face crop; its 2x2 jacobian, row-major,
  at ``20+4k .. 20+4k+3`` (``j00 j01 j10 j11``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPE = np.float32


@dataclass(frozen=True)
class TrackFormat:
    """A track's name and its columns, in order."""

    name: str
    channels: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.channels)

    def index(self, channel: str) -> int:
        return self.channels.index(channel)

    def empty(self, frames: int) -> np.ndarray:
        return np.zeros((int(frames), self.width), dtype=DTYPE)

    def check(self, track: np.ndarray, frames: int, where: str) -> np.ndarray:
        """``track`` as this format's array of ``frames`` rows, or a ``ValueError`` naming ``where``."""
        array = np.asarray(track)
        if array.shape != (int(frames), self.width):
            raise ValueError(f"{where}: a {self.name} track must be [{frames}, {self.width}], got {list(array.shape)}")
        return array.astype(DTYPE, copy=False)


FACE = TrackFormat(
    "face", ("open", "blink", "dx", "dy", "roll", "nod", "width", "round", "bite", "press", "shape", "tongue")
)
MOUTH = ("open", "width", "round", "bite", "press")  # the mouth-shape channels of FACE, in order
# The mouth shapes (Preston Blair, as in Rhubarb Lip Sync): values in deepstory.motion.visemes.SHAPES.
SHAPE_NAMES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")

NUM_KP = 10  # FOMM vox-256 keypoints
KP_VALUES = slice(0, 2 * NUM_KP)
KP_JACOBIANS = slice(2 * NUM_KP, 6 * NUM_KP)
KEYPOINTS = TrackFormat(
    "fomm-keypoints",
    tuple(f"kp{k}.{axis}" for k in range(NUM_KP) for axis in "xy")
    + tuple(f"kp{k}.j{row}{col}" for k in range(NUM_KP) for row in "01" for col in "01"),
)
