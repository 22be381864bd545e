"""Mouth shapes from the phonemes (the 2D animation convention), with loudness for intensity.

Every phone of the speech (timed in the speech stage: eSpeak NG's own phoneme
events for eSpeak voices, forced alignment for the others; ``deepstory.phones``)
maps to a Preston Blair mouth shape, as Rhubarb Lip Sync and Papagayo do:

=====  ======================================  =======  =====  =====  ====  =====
shape  phones (ARPAbet)                        opening  width  round  bite  press
=====  ======================================  =======  =====  =====  ====  =====
A      P B M: lips pressed                      0.00     0.10   0      0     1
B      most consonants, and EE (IY IH)          0.18     0.60   0      0     0
C      EH AE EY AH: open                        0.55     0.35   0      0     0
D      AA AY AW: wide open                      0.95     0.10   0      0     0
E      AO ER OY: rounded                        0.60    -0.50   0.5    0     0
F      UW OW UH W: puckered                     0.30    -1.00   1      0     0
G      F V: lower lip to the upper teeth        0.08     0.20   0      1     0
H      L: tongue up                             0.40     0.10   0      0     0
X      silence: rest                            0.00     0.00   0      0     0
=====  ======================================  =======  =====  =====  ====  =====

The shapes become the mouth channels (:data:`~deepstory.track.MOUTH`)
of a :data:`~deepstory.track.FACE` track, as continuous values.
Coarticulation: each frame takes the shape of the sound ``lead`` seconds ahead
of its centre (the mouth anticipates), and shapes blend over about three
frames; a P, B or M still closes the lips completely, never blended: every frame whose centre or whose
look-ahead lies in it (the lips meet before the sound), and for one too short to own a frame, the frame
nearest its middle.  Loudness scales the
opening (``0.6 .. 1.0`` of the shape's).  Blinks, head motion, nods and
breathing are those of :class:`~deepstory.motion.envelope.EnvelopeMotion`.
Speech whose sentence has no phones (it could not be aligned) falls back to the
loudness-driven mouth.  Every value depends on the global frame and the speech around it
only, so ``cut_size`` never changes the track.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepstory.motion.base import AudioReader, PhoneReader
from deepstory.motion.envelope import EnvelopeMotion
from deepstory.track import MOUTH, SHAPE_NAMES

SHAPES = {  # shape: its MOUTH channels (opening, width, round, bite, press)
    "A": (0.0, 0.1, 0.0, 0.0, 1.0), "B": (0.18, 0.6, 0.0, 0.0, 0.0), "C": (0.55, 0.35, 0.0, 0.0, 0.0),
    "D": (0.95, 0.1, 0.0, 0.0, 0.0), "E": (0.6, -0.5, 0.5, 0.0, 0.0), "F": (0.3, -1.0, 1.0, 0.0, 0.0),
    "G": (0.08, 0.2, 0.0, 1.0, 0.0), "H": (0.4, 0.1, 0.0, 0.0, 0.0), "X": (0.0, 0.0, 0.0, 0.0, 0.0),
}  # fmt: skip
assert tuple(SHAPES) == SHAPE_NAMES
BILABIALS = frozenset({"P", "B", "M"})
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH"})
SHAPE_OF = {
    **dict.fromkeys(BILABIALS, "A"),
    **dict.fromkeys(("IY", "IH"), "B"),
    **dict.fromkeys(("EH", "AE", "EY", "AH"), "C"),
    **dict.fromkeys(("AA", "AY", "AW"), "D"),
    **dict.fromkeys(("AO", "ER", "OY"), "E"),
    **dict.fromkeys(("UW", "OW", "UH", "W"), "F"),
    **dict.fromkeys(("F", "V"), "G"),
    "L": "H",
    **dict.fromkeys(("SIL", "+NSN+", "+SPN+", "<sil>"), "X"),
}


def nearest_shape(mouth: np.ndarray) -> np.ndarray:
    """Index into :data:`SHAPE_NAMES` of the shape nearest each row of ``[n, 5]`` MOUTH values."""
    table = np.array([SHAPES[name] for name in SHAPE_NAMES])
    return np.argmin(((np.asarray(mouth)[:, None, :] - table[None]) ** 2).sum(-1), axis=1)


def shape_of(phone: str) -> str:
    """The mouth shape of an ARPAbet phone (any other consonant: B)."""
    return SHAPE_OF.get(phone, "B")


class VisemeMotion(EnvelopeMotion):
    """Phone-driven mouths; ``lead``: how far ahead (seconds) the mouth anticipates the next sound."""

    context = 6  # frames read on each side of a chunk: coarticulation looks ahead and behind

    def __init__(self, sample_rate: int, fps: int, seed: int = 0, lead: float = 0.03, **envelope: Any) -> None:
        super().__init__(sample_rate, fps, seed=seed, **envelope)
        self.lead = float(lead)

    def _mouth_shape(self, read: AudioReader, lo: int, hi: int, phones: PhoneReader | None) -> np.ndarray:
        loudness = super()._mouth_shape(read, lo, hi, None)
        if phones is None:
            return loudness
        sr, fps = self.sample_rate, self.fps
        centres = np.array([(2 * f + 1) * sr // (2 * fps) for f in range(lo, hi)], dtype=np.int64)
        heard = phones(int(centres[0]) - sr, int(centres[-1]) + sr)
        ahead = centres + int(round(self.lead * sr))
        shape = np.zeros((len(centres), len(MOUTH)))
        named = np.zeros(len(centres))  # the shape of the sound ahead, unblended (for sprites)
        pressed = np.zeros(len(centres), dtype=bool)
        for name, a, b in heard.phones:
            shape[(ahead >= a) & (ahead < b)] = SHAPES[shape_of(name)]
            # A drawing is held for the sound it shows: the shape of the phone at the frame's centre.
            named[(centres >= a) & (centres < b)] = 1 + SHAPE_NAMES.index(shape_of(name))
            if name in BILABIALS:
                # The lips meet before the sound they make: every frame whose centre or look-ahead lies in the
                # phone, and however short the phone, the frame nearest its middle.
                span = ((centres >= a) & (centres < b)) | ((ahead >= a) & (ahead < b))
                nearest = int(np.argmin(np.abs(centres - (a + b) // 2)))
                if not span.any() and abs(int(centres[nearest]) - (a + b) // 2) <= sr // fps:
                    span[nearest] = True
                pressed |= span
        # Coarticulation: shapes blend over about three frames.
        kernel = np.array([0.25, 0.5, 0.25])
        for c in range(shape.shape[1]):
            shape[:, c] = np.convolve(np.pad(shape[:, c], 1, mode="edge"), kernel, mode="valid")
        intensity = 0.6 + 0.4 * np.clip(loudness[:, 0], 0, 1)
        shape[:, 0] = np.clip(shape[:, 0] * intensity, 0, 1)
        shape[pressed, 0], shape[pressed, 4] = 0.0, 1.0  # lips shut on P, B, M, whatever the neighbours
        named[pressed] = 1 + SHAPE_NAMES.index("A")
        out = np.concatenate([shape, named[:, None]], axis=1)
        for a, b in heard.unaligned:  # no phones: the loudness-driven mouth
            span = (centres >= a) & (centres < b)
            out[span] = loudness[span]
        return out

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "lead": self.lead, "version": 3}  # 3: lips shut ahead of P/B/M, short ones too
