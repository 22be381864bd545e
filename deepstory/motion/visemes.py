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
of a :data:`~deepstory.track.FACE` track, as continuous values.  The ``tongue``
channel raises the tongue's tip to the upper teeth for the sound being made
(:data:`TONGUE`: L, TH, DH fully; T, D, N part way), blended like the shapes.

* **In context**: a consonant made by the tongue or the throat (:data:`FREE`:
  HH K G NG N) leaves the jaw where the vowel beside it puts it, as 2D
  animators draw "hat", "can", "ago": an HH takes the shape of the vowel it
  breathes into, the others that of the vowel before them (else after), no
  wider than C.  Beside no vowel, or beside a spread or puckered one, they keep B.
* **Open early, close on time**: each frame shows the more open of the
  sound at its centre and the sound ``lead`` seconds ahead: the mouth
  anticipates a vowel, but does not leave one while it is still being said.
* **The lips meet on P, B and M**, pressed shut whatever the blend: on every
  frame whose centre lies in the sound; on the frames just before it (the
  look-ahead lies in it) unless the vowel before is still heard there (the
  speech band at the frame's centre, in a 12 ms window, within 6 dB of the
  loudest around the sound); and on any frame within a frame of the sound
  where the closure is heard (the band 12 dB under that loudest).  The voice's
  timing of a P and the sound's own can differ by a frame; the sound decides
  the frames in between.  However short the sound, its quietest frame is shut.
* Shapes blend over about three frames; loudness scales the opening
  (``0.6 .. 1.0`` of the shape's).

Blinks, head motion, nods and breathing are those of
:class:`~deepstory.motion.envelope.EnvelopeMotion`.  Speech whose sentence has
no phones (it could not be aligned) falls back to the loudness-driven mouth.
Every value depends on the global frame and the speech around it only, so
``cut_size`` never changes the track.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepstory.motion.base import AudioReader, PhoneReader
from deepstory.motion.envelope import EnvelopeMotion, speech_band
from deepstory.track import SHAPE_NAMES

SHAPES = {  # shape: its MOUTH channels (opening, width, round, bite, press)
    "A": (0.0, 0.1, 0.0, 0.0, 1.0), "B": (0.18, 0.6, 0.0, 0.0, 0.0), "C": (0.55, 0.35, 0.0, 0.0, 0.0),
    "D": (0.95, 0.1, 0.0, 0.0, 0.0), "E": (0.6, -0.5, 0.5, 0.0, 0.0), "F": (0.3, -1.0, 1.0, 0.0, 0.0),
    "G": (0.08, 0.2, 0.0, 1.0, 0.0), "H": (0.4, 0.1, 0.0, 0.0, 0.0), "X": (0.0, 0.0, 0.0, 0.0, 0.0),
}  # fmt: skip
assert tuple(SHAPES) == SHAPE_NAMES
BILABIALS = frozenset({"P", "B", "M"})
#: How far each sound raises the tongue's tip to the upper teeth (the ``tongue`` channel): all the way for L and
#: TH (between the teeth), part way for the alveolar stops and nasal.
TONGUE = {"L": 1.0, "TH": 1.0, "DH": 1.0, "T": 0.6, "D": 0.6, "N": 0.6}
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH"})
VOWELS = OPEN_VOWELS | {"ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
#: Consonants made by the tongue or the throat, which leave the jaw where the vowel beside them puts it.
FREE = frozenset({"HH", "K", "G", "NG", "N"})
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
TABLE = np.array([SHAPES[name] for name in SHAPE_NAMES])  # [shape, MOUTH channel], in SHAPE_NAMES' order
OPENING = TABLE[:, 0]
BLEND = np.array([0.25, 0.5, 0.25])  # coarticulation: a shape blends over about three frames
CLOSURE_WINDOW = 0.012  # seconds of sound the closure is listened for at a frame's centre
STILL_SOUNDING_DB = -6.0  # the vowel before a P/B/M is still heard: the speech band within this of the loudest
CLOSURE_DB = -12.0  # the lips' closure is heard: the speech band this far under the loudest around the sound
AROUND = 0.15  # seconds each side of a P/B/M in which its loudest neighbour is found


def nearest_shape(mouth: np.ndarray) -> np.ndarray:
    """Index into :data:`SHAPE_NAMES` of the shape nearest each row of ``[n, 5]`` MOUTH values."""
    return np.argmin(((np.asarray(mouth)[:, None, :] - TABLE[None]) ** 2).sum(-1), axis=1)


def _blended(values: np.ndarray) -> np.ndarray:
    """Per-frame ``values`` blended with their neighbours (:data:`BLEND`), the ends held."""
    return np.convolve(np.pad(values, 1, mode="edge"), BLEND, mode="valid")


def shape_of(phone: str) -> str:
    """The mouth shape of an ARPAbet phone (any other consonant: B)."""
    return SHAPE_OF.get(phone, "B")


def shapes_in_context(names: Sequence[str]) -> list[str]:
    """The mouth shape of each phone of a sequence: :func:`shape_of`, except that a :data:`FREE` consonant
    keeps the jaw of the vowel beside it (an HH that of the vowel after it, whole; the others that of the vowel
    before them, else after, C at the widest), where that vowel opens the mouth (C, D or E)."""
    out = [shape_of(name) for name in names]
    for i, name in enumerate(names):
        if name not in FREE:
            continue
        for j in (i + 1,) if name == "HH" else (i - 1, i + 1):
            if 0 <= j < len(names) and names[j] in VOWELS:
                vowel = shape_of(names[j])
                if vowel in ("C", "D", "E"):
                    out[i] = vowel if name == "HH" or vowel != "D" else "C"
                break
    return out


def _phone_at(spans: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the phone (rows ``[start, end)`` of ``spans``, in order) each point lies in, -1 for none."""
    if not len(spans):
        return np.full(len(points), -1)
    i = np.searchsorted(spans[:, 0], points, side="right") - 1
    inside = (i >= 0) & (points < spans[np.maximum(i, 0), 1])
    return np.where(inside, i, -1)


class VisemeMotion(EnvelopeMotion):
    """Phone-driven mouths; ``lead``: how far ahead (seconds) the mouth anticipates the next sound."""

    context = 6  # frames read on each side of a chunk: coarticulation looks ahead and behind

    def __init__(self, sample_rate: int, fps: int, seed: int = 0, lead: float = 0.02, **envelope: Any) -> None:
        super().__init__(sample_rate, fps, seed=seed, **envelope)
        self.lead = float(lead)
        self._window = int(round(CLOSURE_WINDOW * sample_rate))

    def _mouth_shape(self, read: AudioReader, lo: int, hi: int, phones: PhoneReader | None) -> np.ndarray:
        loudness = super()._mouth_shape(read, lo, hi, None)
        if phones is None:
            return loudness
        sr, fps = self.sample_rate, self.fps
        centres = np.array([(2 * f + 1) * sr // (2 * fps) for f in range(lo, hi)], dtype=np.int64)
        heard = phones(int(centres[0]) - sr, int(centres[-1]) + sr)
        listed = sorted(heard.phones, key=lambda p: p[1])
        spans = np.array([(a, b) for _, a, b in listed], dtype=np.int64).reshape(-1, 2)
        shapes = np.array([SHAPE_NAMES.index(s) for s in shapes_in_context([name for name, _, _ in listed])], int)
        ahead = centres + int(round(self.lead * sr))
        # Open early, close on time: the more open of the sounds at the frame's centre and ahead of it.
        shape_at = np.append(shapes, -1)  # index -1: no phone there
        now, soon = shape_at[_phone_at(spans, centres)], shape_at[_phone_at(spans, ahead)]
        chosen = np.where((soon >= 0) & ((now < 0) | (OPENING[soon] > OPENING[now])), soon, now)
        shape = np.where(chosen[:, None] >= 0, TABLE[chosen], 0.0)
        named = chosen + 1.0  # the chosen shape, unblended (for sprites); 0: no phone
        # The tongue goes with the sound being made (its own frames, not the look-ahead's), blended like the rest.
        lifts = np.append([TONGUE.get(name, 0.0) for name, _, _ in listed], 0.0)
        tongue = _blended(lifts[_phone_at(spans, centres)])
        pressed = np.zeros(len(centres), dtype=bool)
        if any(name in BILABIALS for name, _, _ in listed):
            level = speech_band(read, centres, sr, self._window)[0]
            reach = max(sr // fps, int(round(self.lead * sr)))
            for name, a, b in listed:
                if name in BILABIALS and a - reach <= centres[-1] and b + reach > centres[0]:
                    pressed |= self._lips_meet(read, centres, ahead, level, a, b)
        for c in range(shape.shape[1]):  # coarticulation
            shape[:, c] = _blended(shape[:, c])
        intensity = 0.6 + 0.4 * np.clip(loudness[:, 0], 0, 1)
        shape[:, 0] = np.clip(shape[:, 0] * intensity, 0, 1)
        shape[pressed, 0], shape[pressed, 4] = 0.0, 1.0  # lips shut on P, B, M, whatever the neighbours
        named[pressed] = 1 + SHAPE_NAMES.index("A")
        tongue[pressed] = 0.0
        out = np.concatenate([shape, named[:, None], tongue[:, None]], axis=1)
        for a, b in heard.unaligned:  # no phones: the loudness-driven mouth
            span = (centres >= a) & (centres < b)
            out[span] = loudness[span]
        return out

    def _lips_meet(
        self, read: AudioReader, centres: np.ndarray, ahead: np.ndarray, level: np.ndarray, a: int, b: int
    ) -> np.ndarray:
        """The frames on which the lips are shut for a P, B or M timed over samples ``[a, b)``; ``level``: the
        speech band at each frame's centre (dB)."""
        sr, frame = self.sample_rate, self.sample_rate // self.fps
        around = int(AROUND * sr)
        peak = float(speech_band(read, np.arange(a - around, b + around, sr // 200), sr, self._window)[0].max())
        inside = (centres >= a) & (centres < b)
        before = (ahead >= a) & (ahead < b) & ~inside
        near = (centres >= a - frame) & (centres < b + frame)
        shut = inside | (before & (level < peak + STILL_SOUNDING_DB)) | (near & (level <= peak + CLOSURE_DB))
        if not shut.any() and near.any():
            candidates = np.flatnonzero(near)
            shut[candidates[np.argmin(level[candidates])]] = True
        return shut

    def identity(self) -> dict[str, Any]:
        # 4: open early and close on time, tongue and throat consonants in context, P/B/M closures heard;
        # 5: the tongue channel
        return {**super().identity(), "lead": self.lead, "version": 5}
