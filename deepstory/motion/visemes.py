"""Mouth shapes from the phonemes (the 2D animation convention), with loudness for intensity.

Every phone of the speech (timed in the speech stage: eSpeak NG's own phoneme
events for eSpeak voices, forced alignment for the others; ``deepstory.speech.phones``)
maps to a Preston Blair mouth shape, as Rhubarb Lip Sync and Papagayo do:

====  ==========================================  =======  =====
shape  phones (ARPAbet)                           opening  width
====  ==========================================  =======  =====
A     P B M: lips pressed                          0.00     0.10
B     most consonants, and EE (IY IH)               0.18     0.60
C     EH AE EY AH: open                             0.55     0.35
D     AA AY AW: wide open                           0.95     0.10
E     AO ER OY: rounded                             0.60    -0.50
F     UW OW UH W: puckered                          0.30    -1.00
G     F V: lower lip to the upper teeth             0.10     0.20
H     L: tongue up                                  0.40     0.10
X     silence: rest                                 0.00     0.00
====  ==========================================  =======  =====

The shapes become the ``open`` and ``width`` channels of a
:data:`~deepstory.motion.track.FACE` track.  Coarticulation: each frame takes
the shape of the sound ``lead`` seconds ahead of its centre (the mouth
anticipates), and shapes blend over about three frames; a P, B or M still
closes the lips completely in the frames it covers.  Loudness scales the
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

SHAPES = {  # shape: (opening, width)
    "A": (0.0, 0.1), "B": (0.18, 0.6), "C": (0.55, 0.35), "D": (0.95, 0.1), "E": (0.6, -0.5),
    "F": (0.3, -1.0), "G": (0.1, 0.2), "H": (0.4, 0.1), "X": (0.0, 0.0),
}  # fmt: skip
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


def shape_of(phone: str) -> str:
    """The mouth shape of an ARPAbet phone (any other consonant: B)."""
    return SHAPE_OF.get(phone, "B")


class VisemeMotion(EnvelopeMotion):
    """Phone-driven mouths; ``lead``: how far ahead (seconds) the mouth anticipates the next sound."""

    context = 6  # frames read on each side of a chunk: coarticulation looks ahead and behind

    def __init__(self, sample_rate: int, fps: int, seed: int = 0, lead: float = 0.03, **envelope: Any) -> None:
        super().__init__(sample_rate, fps, seed=seed, **envelope)
        self.lead = float(lead)

    def _mouth_shape(
        self, read: AudioReader, lo: int, hi: int, phones: PhoneReader | None
    ) -> tuple[np.ndarray, np.ndarray]:
        loud, centroid_width = super()._mouth_shape(read, lo, hi, None)
        if phones is None:
            return loud, centroid_width
        sr, fps = self.sample_rate, self.fps
        centres = np.array([(2 * f + 1) * sr // (2 * fps) for f in range(lo, hi)], dtype=np.int64)
        heard = phones(int(centres[0]) - sr, int(centres[-1]) + sr)
        ahead = centres + int(round(self.lead * sr))
        opening = np.zeros(len(centres))
        width = np.zeros(len(centres))
        pressed = np.zeros(len(centres), dtype=bool)
        for name, a, b in heard.phones:
            open_, wide = SHAPES[shape_of(name)]
            covered = (ahead >= a) & (ahead < b)
            opening[covered], width[covered] = open_, wide
            if name in BILABIALS:
                pressed |= (centres >= a) & (centres < b)
        # Coarticulation: shapes blend over about three frames.
        kernel = np.array([0.25, 0.5, 0.25])
        opening = np.convolve(np.pad(opening, 1, mode="edge"), kernel, mode="valid")
        width = np.convolve(np.pad(width, 1, mode="edge"), kernel, mode="valid")
        intensity = 0.6 + 0.4 * np.clip(loud, 0, 1)
        opening = np.clip(opening * intensity, 0, 1)
        opening[pressed] = 0.0  # lips shut on P, B, M, whatever the neighbours
        for a, b in heard.unaligned:  # no phones: the loudness-driven mouth
            span = (centres >= a) & (centres < b)
            opening[span], width[span] = loud[span], centroid_width[span]
        return opening, width

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "lead": self.lead}
