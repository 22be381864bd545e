"""Phone timings of a sentence's speech: which sound is made when, by forced alignment.

An engine that times its own phones gives them instead
(:meth:`deepstory.speech.base.SpeechBackend.phones`: eSpeak NG's phoneme events,
``deepstory.speech.espeak_phonemes``); alignment times the others' speech.

The text is known, so this is alignment, not recognition: pocketsphinx's
bundled English model (``set_align_text``, then ``set_alignment`` for phones)
finds where each word and each of its phones (ARPAbet, as in the CMU
dictionary) lies in the audio, in 10 ms frames.

* Numbers are written out as words first ("182" -> "one hundred eighty two").
* A word the dictionary does not know is spelled through its letters' sounds
  (``zorblax`` -> Z AA R B L AE K S), added to the decoder, never dropped.
* Alignment that fails (odd audio, nothing to say) returns ``None``; the
  caller falls back to loudness and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME = 0.01  # seconds per pocketsphinx frame
ALIGN_RATE = 16000
PADS = (0.0, 0.25, 0.5)  # seconds of silence put around the speech, tried in turn

# A letter's usual sound, for words the dictionary lacks (the spelled-out fallback).
LETTER_SOUNDS = {
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH", "j": "JH",
    "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K W", "r": "R", "s": "S", "t": "T",
    "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "Y", "z": "Z",
}  # fmt: skip

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split()
)
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


@dataclass(frozen=True)
class Phone:
    """One phone: its ARPAbet name (no stress digit; ``SIL`` for silence) and its time in the sentence's speech."""

    name: str
    start: float  # seconds from the start of the sentence's speech
    end: float


@dataclass(frozen=True)
class Phones:
    """Phones on the story's global sample axis, as the motion and lip-sync stages read them.

    ``phones``: ``(ARPAbet name, first sample, end sample)``; ``unaligned``:
    ``(first, end)`` sample spans of speech whose sentence could not be aligned.
    """

    phones: list[tuple[str, int, int]]
    unaligned: list[tuple[int, int]]


def number_words(n: int) -> str:
    """``182`` -> ``one hundred eighty two`` (0 .. 999 999 999; larger numbers digit by digit)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, word in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{number_words(head)} {word}" + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(_ONES[int(d)] for d in str(n))


def words_of(text: str) -> list[str]:
    """The words a voice says for ``text``, lower case, numbers written out."""
    out: list[str] = []
    for token in re.findall(r"[A-Za-z']+|\d+", text):
        if token.isdigit():
            value = int(token)
            out.extend((number_words(value) if value < 10**9 else " ".join(_ONES[int(d)] for d in token)).split())
        else:
            word = token.lower().strip("'")
            if word:
                out.append(word)
    return out


def spelled(word: str) -> str:
    """The letter-sound spelling of a word the dictionary lacks."""
    return " ".join(LETTER_SOUNDS[c] for c in word if c in LETTER_SOUNDS) or "AH"


class Aligner:
    """One pocketsphinx decoder, loaded on first use and reused for every sentence (loading takes 0.2-0.4 s).

    Reuse changes no result: the feature state and the cepstral mean, which
    pocketsphinx carries from one utterance to the next, are reset before each
    (checked: the demo's
    sentences align identically in any order and with a fresh decoder each),
    and a word added to the dictionary is spelled the same way whichever
    sentence adds it.
    """

    def __init__(self) -> None:
        self._decoder: Any = None
        self._cmn = ""

    def decoder(self) -> Any:
        """The decoder, its cepstral mean reset to the fresh model's (it would carry over between utterances)."""
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(samprate=ALIGN_RATE, logfn="/dev/null")
            self._cmn = self._decoder.get_cmn()
        self._decoder.reinit_feat()
        self._decoder.set_cmn(self._cmn)
        return self._decoder

    def close(self) -> None:
        self._decoder = None


def align(audio: np.ndarray, sample_rate: int, text: str, aligner: Aligner | None = None) -> list[Phone] | None:
    """Phones of ``audio`` (one sentence's speech, float in [-1, 1]) speaking ``text``; ``None`` if alignment fails.

    The aligner's search sometimes fails to reach the end of an utterance;
    it is tried again with silence put around the speech (measured on the
    demo: 7 of 87 sentences fail without it, 10 with 0.25 s, 2 with both).
    """
    words = words_of(text)
    if not words or audio.size < sample_rate // 20:
        return None
    aligner = aligner or Aligner()
    for pad in PADS:
        phones = _align_once(aligner.decoder(), np.asarray(audio, dtype=np.float32), sample_rate, words, pad)
        if phones is not None:
            return phones
    return None


def _align_once(
    decoder: Any, audio: np.ndarray, sample_rate: int, words: list[str], pad_seconds: float
) -> list[Phone] | None:
    from deepstory.dsp import resample

    pad = np.zeros(int(pad_seconds * sample_rate), dtype=np.float32)
    padded = np.concatenate([pad, audio, pad])
    pcm = (np.clip(resample(padded, ALIGN_RATE / sample_rate), -1, 1) * 32767).astype(np.int16).tobytes()
    for word in sorted(set(words)):
        if decoder.lookup_word(word) is None:
            decoder.add_word(word, spelled(word), True)
    try:
        decoder.set_align_text(" ".join(words))
        for second_pass in (False, True):
            if second_pass:
                decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
        alignment = decoder.get_alignment()
    except (RuntimeError, ValueError):
        return None
    if alignment is None:
        return None
    offset = len(pad) / sample_rate
    phones = [
        Phone(
            re.sub(r"\d", "", p.name),
            max(0.0, p.start * FRAME - offset),
            max(0.0, (p.start + p.duration) * FRAME - offset),
        )
        for word in alignment
        for p in word
    ]
    return phones or None
