"""Piper's own phone timings: eSpeak NG's IPA symbols and the samples each one lasts -> timed ARPAbet phones.

Piper spells a sentence in IPA with eSpeak NG (one symbol per code point:
``həlˈoʊ wˈɜːld``), turns each symbol into its id followed by a pause id
(``_``), and the voice's network decides how many 256-sample frames every id
lasts (its ``w_ceil``).  Piper exposes those counts when the voice's model is
patched in memory (``piper.patch_voice_with_alignment``: the same network, one
more output; the samples are bit for bit the same).  A symbol's time is
therefore the network's own, not estimated: the frames of the pause id before
it and of its own id (a sound begins in the pause that leads into it), from
the beginning-of-utterance id ``^`` to the end id ``$``.

Symbols to ARPAbet (:data:`IPA_ARPABET`, English as eSpeak spells it):

* Two symbols that make one sound are one phone: ``aɪ aʊ eɪ oʊ əʊ ɔɪ`` are
  AY AW EY OW OW OY, ``tʃ dʒ`` are CH JH.
* Stress marks (``ˈ ˌ``) stand before a vowel: their time goes to the next
  sound.  Length marks, combining marks and modifier letters (``ː``, the
  syllabic mark, ``ʰ ʲ ʷ``) go to the sound before.
* ``^``, ``$`` and punctuation are pauses (SIL; neighbouring pauses merge).  A
  word space is a pause only when it lasts at least :data:`MIN_PAUSE` seconds;
  a shorter one (most: the network gives it a frame or none) belongs to the
  sound before it, so words run together as they are heard.
* A symbol not in the table becomes :data:`DEFAULT_CONSONANT` (T, a half-open
  mouth), as an unknown eSpeak mnemonic does: no sound is dropped.
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

from deepstory.phones import Phone

TIMING_VERSION = 1
SIL = "SIL"
DEFAULT_CONSONANT = "T"
MIN_PAUSE = 0.05  # seconds: a word space at least this long is a pause
STRESS = frozenset("ˈˌ")
BOUNDARY = frozenset("^$_ ,.!?;:-—–…\"'()[]")  # the utterance's ends and punctuation: pauses (space: see above)
DIGRAPHS = {"aɪ": "AY", "aʊ": "AW", "eɪ": "EY", "oʊ": "OW", "əʊ": "OW", "ɔɪ": "OY", "tʃ": "CH", "dʒ": "JH"}
IPA_ARPABET = {
    # vowels
    "ə": "AH", "ɐ": "AH", "ʌ": "AH", "ɘ": "AH", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER", "æ": "AE", "a": "AE",
    "ɑ": "AA", "ɒ": "AA", "ɔ": "AO", "ɛ": "EH", "e": "EH", "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "i": "IY",
    "ʊ": "UH", "u": "UW", "o": "OW", "y": "UW", "ø": "EH", "œ": "EH",
    # consonants
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "m": "M", "n": "N", "ŋ": "NG",
    "f": "F", "v": "V", "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH",
    "l": "L", "ɫ": "L", "ɹ": "R", "r": "R", "ɾ": "T", "w": "W", "ʍ": "W", "j": "Y", "ʔ": "T", "x": "HH",
    "ç": "HH", "ɲ": "N", "ʎ": "L", "c": "K", "q": "K",
}  # fmt: skip


def _modifier(symbol: str) -> bool:
    """A length mark, a combining mark or a modifier letter: part of the sound before it."""
    return symbol in "ːˑ" or unicodedata.combining(symbol) > 0 or unicodedata.category(symbol) == "Lm"


def ipa_phones(symbols: Sequence[tuple[str, int]], sample_rate: int) -> list[Phone]:
    """``(symbol, samples)`` of one utterance in order (``^`` and ``$`` included) -> phones from its first sample.

    Times are in seconds at ``sample_rate`` (the rate the samples were counted at).
    """
    rows: list[list] = []  # [name, first sample, end sample, symbol]
    at, lead = 0, None  # lead: where a stress mark began, the start of the sound it stands before
    for symbol, samples in symbols:
        start, at = at, at + int(samples)
        if symbol in STRESS:
            lead = start if lead is None else lead
            continue
        if _modifier(symbol) and rows:  # part of the sound (or pause) before it
            rows[-1][2] = at
            continue
        first = start if lead is None else lead
        lead = None
        if symbol == " ":
            name = SIL if (at - first) >= MIN_PAUSE * sample_rate else None
        elif symbol in BOUNDARY or _modifier(symbol):  # a modifier with nothing before it: the pause it lies in
            name = SIL
        else:
            name = IPA_ARPABET.get(symbol, DEFAULT_CONSONANT)
        pair = rows[-1][3] + symbol if rows else ""
        if name is None and rows:  # a short word space: the sound before it lasts through it (and pairs with none)
            rows[-1][2], rows[-1][3] = at, ""
        elif pair in DIGRAPHS and rows[-1][2] == first:
            rows[-1][0], rows[-1][2], rows[-1][3] = DIGRAPHS[pair], at, pair
        elif name == SIL and rows and rows[-1][0] == SIL:
            rows[-1][2] = at
        else:
            rows.append([name or SIL, first, at, symbol])
    return [Phone(name, a / sample_rate, b / sample_rate) for name, a, b, _ in rows if b > a]


def shifted(phones: list[Phone], offset: float, duration: float) -> list[Phone]:
    """``phones`` moved ``offset`` seconds earlier and cut to ``[0, duration]`` (the speech after trimming)."""
    out = []
    for p in phones:
        a, b = max(0.0, p.start - offset), min(duration, p.end - offset)
        if b > a:
            out.append(Phone(p.name, a, b))
    return out
