"""Piper speech: intelligible, deterministic, and speakers told apart by pitch and rate."""

from __future__ import annotations

import numpy as np
import pytest

from deepstory.speech import Voice
from deepstory.speech.piper import PiperSpeech

from audio_checks import estimate_f0, recognize

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
    f_low, f_mid, f_high = (estimate_f0(x, SR) for x in (low, mid, high))
    assert f_low < f_mid < f_high
    assert abs(12 * np.log2(f_high / f_mid) - 4.0) < 1.0
    assert abs(12 * np.log2(f_mid / f_low) - 3.0) < 1.0
    # Pitch alone keeps the duration; rate changes it.
    assert abs(len(high) / len(mid) - 1) < 0.15  # VITS rounds each phoneme duration
    fast = piper.synthesize(SENTENCE, Voice(rate=1.5))
    assert 0.55 < len(fast) / len(mid) < 0.8


def test_other_sample_rates(piper):
    other = PiperSpeech(16000)
    a, b = piper.synthesize(SENTENCE, Voice()), other.synthesize(SENTENCE, Voice())
    assert abs(len(b) / len(a) - 16000 / SR) < 0.02


def test_nothing_to_say_is_empty(piper):
    assert piper.synthesize("", Voice()).size == 0
