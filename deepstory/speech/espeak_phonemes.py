"""eSpeak NG's phoneme events -> timed ARPAbet phones (:class:`~deepstory.phones.Phone`).

With ``espeakINITIALIZE_PHONEME_EVENTS`` set, eSpeak reports every phoneme it
speaks as an ``espeakEVENT_PHONEME`` event: its mnemonic (eSpeak's own phoneme
name, up to 8 bytes, with a stress mark in front of stressed vowels: ``'aI``,
``,eI``) and the sample at which it starts in the output.  A phoneme lasts until
the next event; the last event is a zero-length pause ``_`` at the end of the
speech, after which a variant with an echo (f4, Marco, ...) still rings for up
to about 0.16 s: that tail is silence (SIL).

Measured on the wheel's library (eSpeak NG 1.52, 22050 Hz; all 104 variants, 80
to 449 words per minute): an event's ``sample`` (documented as "internal use") is
exactly its position in the samples handed to the synth callback, it always lies
inside the block of samples it arrives with, and ``audio_position`` is the same
in whole milliseconds (truncated).  At 450 wpm and above (also at 449 with a
variant that speeds up, such as ``fast``) eSpeak speeds the speech up with its
sonic stage after the events are made: the positions then drift off the audio,
out of their blocks and even backwards.  :func:`timed_phones` refuses such
events (``None``) and the speech stage aligns that speech instead.

Mnemonics to ARPAbet (:data:`ARPABET`, for ``en`` and ``en-us``)
-----------------------------------------------------------------
Stress and syllable marks (``' , % =``) are dropped first.  Then:

===============================  =============================================
eSpeak                           ARPAbet
===============================  =============================================
``_ _: _! _^_`` (any ``_...``)   SIL (pauses; consecutive pauses merge)
``@ @2 @5 @- a# V``              AH (schwa, strut)
``3 3:``                         ER (nurse, US letter-r schwa)
``a aa``                         AE (trap, bath)
``A: 0``                         AA (palm, US lot)
``O: O2``                        AO (thought; O2 in "want")
``E e``                          EH
``I I# I2``                      IH
``i i:``                         IY (happy, fleece)
``U``                            UH
``u:``                           UW
``eI aI aU OI oU``               EY AY AW OY OW
``A@ O@ o@ e@ i@ i@3 U@``        AA/AO/AO/EH/IH/IH/UH + R (r-coloured vowels)
``aI@ aI3 aU@``                  AY ER, AY ER, AW ER (fire, our)
``@L``                           AH L (syllabic l: "bottle")
``p b t d k g m n N``            P B T D K G M N NG
``f v T D s z S Z h``            F V TH DH S Z SH ZH HH
``tS dZ l r w j``                CH JH L R W Y
``t# t2 d# d2 z# r- n- m- l/``   T T D D Z R N M L (flaps, syllabic and
                                 variant forms)
``?``                            T (glottal stop: "button" is B AH T AH N)
``x``                            HH (velar fricative: "loch")
===============================  =============================================

A two-phone entry shares its phoneme's time equally.  A mnemonic not in the
table loses its variant marks (``#``, digits, ``-``, ``/``) and is looked up
again; one still unknown becomes AH when it begins with a vowel symbol and
:data:`DEFAULT_CONSONANT` (T: a half-open mouth, tongue behind the teeth)
otherwise, so no sound is ever dropped.  Phonemes of zero length (eSpeak puts a
few at word and clause boundaries) are heard for no time and are left out.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

from deepstory.phones import Phone

__all__ = ["ARPABET", "DEFAULT_CONSONANT", "TIMING_VERSION", "PhonemeEvent", "arpabet", "timed_phones"]

# Raised whenever the rules below change what a set of events becomes (part of the phones' cache key).
TIMING_VERSION = 1

SIL = "SIL"
DEFAULT_CONSONANT = "T"
STRESS_MARKS = "',%="
VOWEL_SYMBOLS = "aeiouAEIOUV03@"
POSITION_TOLERANCE_MS = 2  # an event's sample and its audio_position must agree this well


class PhonemeEvent(NamedTuple):
    """One ``espeakEVENT_PHONEME`` and the block of samples (``block_start .. block_end``) it arrived with."""

    mnemonic: str
    sample: int  # where the phoneme starts, in samples from the start of the utterance
    audio_ms: int  # the same in milliseconds
    block_start: int
    block_end: int


# eSpeak NG English mnemonic (stress marks removed) -> ARPAbet phones (module doc).
ARPABET: dict[str, tuple[str, ...]] = {
    # vowels
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@-": ("AH",), "a#": ("AH",), "V": ("AH",),
    "3": ("ER",), "3:": ("ER",),
    "a": ("AE",), "aa": ("AE",),
    "A:": ("AA",), "0": ("AA",),
    "O:": ("AO",), "O2": ("AO",),
    "E": ("EH",), "e": ("EH",),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",),
    "i": ("IY",), "i:": ("IY",),
    "U": ("UH",), "u:": ("UW",),
    # diphthongs
    "eI": ("EY",), "aI": ("AY",), "aU": ("AW",), "OI": ("OY",), "oU": ("OW",),
    # r-coloured vowels and syllabic l
    "A@": ("AA", "R"), "O@": ("AO", "R"), "o@": ("AO", "R"), "e@": ("EH", "R"),
    "i@": ("IH", "R"), "i@3": ("IH", "R"), "U@": ("UH", "R"),
    "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU@": ("AW", "ER"),
    "@L": ("AH", "L"),
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",),
    "m": ("M",), "n": ("N",), "N": ("NG",),
    "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",),
    "S": ("SH",), "Z": ("ZH",), "h": ("HH",),
    "tS": ("CH",), "dZ": ("JH",), "l": ("L",), "r": ("R",), "w": ("W",), "j": ("Y",),
    "t#": ("T",), "t2": ("T",), "d#": ("D",), "d2": ("D",), "z#": ("Z",),
    "r-": ("R",), "n-": ("N",), "m-": ("M",), "l/": ("L",),
    "?": ("T",), "x": ("HH",),
}  # fmt: skip


def arpabet(mnemonic: str) -> tuple[str, ...]:
    """The ARPAbet phones of one eSpeak phoneme mnemonic (never empty; pauses are ``("SIL",)``)."""
    name = mnemonic.strip().lstrip(STRESS_MARKS)
    if name.startswith("_"):
        return (SIL,)
    if name in ARPABET:
        return ARPABET[name]
    base = re.sub(r"[#\d\-/]+$", "", name)
    if base in ARPABET:
        return ARPABET[base]
    if name and name[0] in VOWEL_SYMBOLS:
        return ("AH",)
    return (DEFAULT_CONSONANT,)


def timed_phones(
    events: Sequence[PhonemeEvent], first: int, last: int, total: int, sample_rate: int
) -> list[Phone] | None:
    """Phones, in seconds from sample ``first``, from eSpeak's phoneme events; ``None`` if they cannot be trusted.

    ``events`` in the order eSpeak sent them; ``total`` samples were produced,
    of which ``first .. last`` (inclusive) are kept.  Times are clamped to the
    kept span.  ``None`` when there are no events, when one lies outside the
    block it arrived with or past the end, disagrees with its own millisecond
    position, or comes before the one sent ahead of it (eSpeak's sonic
    speed-up), or when nothing but pauses remains.
    """
    if not events or sample_rate <= 0 or total <= 0 or not 0 <= first <= last < total:
        return None
    positions = [e.sample for e in events]
    if any(b < a for a, b in zip(positions, positions[1:])):
        return None
    for e in events:
        if not (0 <= e.block_start <= e.sample <= e.block_end and e.sample <= total):
            return None
        if abs(e.sample * 1000 / sample_rate - e.audio_ms) > POSITION_TOLERANCE_MS:
            return None
    span = (last + 1 - first) / sample_rate

    def seconds(sample: int) -> float:
        return round(min(span, max(0.0, (sample - first) / sample_rate)), 6)

    phones: list[Phone] = []
    ends = positions[1:] + [total]
    for (mnemonic, start, *_), end in zip(events, ends):
        a, b = seconds(start), seconds(end)
        if b <= a:
            continue
        parts = arpabet(mnemonic)
        step = (b - a) / len(parts)
        for i, name in enumerate(parts):
            lo = a if i == 0 else round(a + i * step, 6)
            hi = b if i == len(parts) - 1 else round(a + (i + 1) * step, 6)
            if phones and name == SIL and phones[-1].name == SIL:
                phones[-1] = Phone(SIL, phones[-1].start, hi)
            else:
                phones.append(Phone(name, lo, hi))
    if not any(p.name != SIL for p in phones):
        return None
    return phones
