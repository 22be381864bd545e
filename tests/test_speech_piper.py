"""Piper speech: intelligible, deterministic, and speakers told apart by pitch and rate."""

from __future__ import annotations

import numpy as np
import pytest

from deepstory.speech import Voice
from deepstory.speech.piper import PiperSpeech

from audio_checks import recognize, spectral_centroid, word_error_rate, world_f0

SR = 22050
SENTENCE = "The cat sat on the mat and looked at the moon."


@pytest.fixture(scope="module")
def piper():
    return PiperSpeech(SR)


def test_speech_is_intelligible(piper):
    audio = piper.synthesize(SENTENCE, Voice())
    heard = set(recognize(audio, SR).split())
    assert len(heard & {"cat", "sat", "looked", "moon"}) >= 3, heard


def test_deterministic_and_trimmed(piper):
    a = piper.synthesize(SENTENCE, Voice(pitch=2.0, rate=1.1))
    b = piper.synthesize(SENTENCE, Voice(pitch=2.0, rate=1.1))
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and 0.85 <= np.abs(a).max() <= 0.9 + 1e-6
    assert np.abs(a[:10]).max() > 1e-3 and np.abs(a[-10:]).max() > 1e-3  # no leading or trailing silence


def test_pitch_and_rate_tell_speakers_apart(piper):
    low = piper.synthesize(SENTENCE, Voice(pitch=-3.0))
    mid = piper.synthesize(SENTENCE, Voice())
    high = piper.synthesize(SENTENCE, Voice(pitch=4.0))
    f_low, f_mid, f_high = (world_f0(x, SR) for x in (low, mid, high))
    assert f_low < f_mid < f_high
    assert abs(12 * np.log2(f_high / f_mid) - 4.0) < 0.7
    assert abs(12 * np.log2(f_mid / f_low) - 3.0) < 0.7
    # Pitch alone keeps the duration (WORLD resynthesis keeps every sample's time); rate changes it.
    assert abs(len(high) / len(mid) - 1) < 0.02
    fast = piper.synthesize(SENTENCE, Voice(rate=1.5))
    assert 0.55 < len(fast) / len(mid) < 0.8


def test_formant_moves_the_spectrum_not_the_pitch(piper):
    mid = piper.synthesize(SENTENCE, Voice())
    small = piper.synthesize(SENTENCE, Voice(formant=1.2))
    big = piper.synthesize(SENTENCE, Voice(formant=0.85))
    assert abs(12 * np.log2(world_f0(small, SR) / world_f0(mid, SR))) < 1.0  # within a semitone
    assert abs(12 * np.log2(world_f0(big, SR) / world_f0(mid, SR))) < 1.0
    assert spectral_centroid(big, SR) < spectral_centroid(mid, SR) < spectral_centroid(small, SR)


def test_shaping_keeps_the_words(piper):
    """Eileen's shaping in the demo cast keeps her as intelligible as the bundled voice: WER within +0.05.

    (pocketsphinx; the sentences are in no benchmark: benchmarks/voices.py measures its own prose.)
    """
    text = [
        "The farmer opened the gate and let the sheep into the green field.",
        "My sister found an old map in the attic behind a box of letters.",
        "We waited at the station for an hour because the last bus had left.",
        "The teacher wrote three words on the board and asked us to read them.",
        "A small dog ran across the road and hid under a parked car.",
        "After dinner he washed the plates and put the milk back in the fridge.",
    ]
    words = sum(len(t.split()) for t in text)

    def wer(voice: Voice) -> float:  # over all the words at once
        return sum(word_error_rate(t, recognize(piper.synthesize(t, voice), SR)) * len(t.split()) for t in text) / words

    plain = wer(Voice())
    assert plain < 0.4
    assert wer(Voice(pitch=5.0, formant=1.12, rate=1.0)) <= plain + 0.05
