"""The eSpeak NG backend, checked on the audio it actually produces."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from deepstory.speech import Voice
from deepstory.speech.espeak import EspeakSpeech, pitch_parameter

from audio_checks import estimate_f0

NATIVE = 22050
SENTENCE = "The old lighthouse keeper climbed the stairs and lit the lamp before the storm arrived."
WORDS = len(SENTENCE.split())  # 15


def semitones(f: float, ref: float) -> float:
    return 12.0 * math.log2(f / ref)


@pytest.fixture(scope="module")
def tts() -> EspeakSpeech:
    return EspeakSpeech(NATIVE)


@pytest.fixture(scope="module")
def plain(tts: EspeakSpeech) -> np.ndarray:
    return tts.synthesize(SENTENCE, Voice())


def test_sentence_is_audible_speech_of_plausible_length(plain: np.ndarray) -> None:
    assert plain.dtype == np.float32 and plain.ndim == 1
    seconds = len(plain) / NATIVE
    expected = WORDS / 175 * 60  # about 5.1 s at the default 175 words per minute
    assert 0.6 * expected < seconds < 1.6 * expected, seconds
    assert np.all(np.abs(plain) <= 1.0)
    rms = float(np.sqrt(np.mean(plain.astype(np.float64) ** 2)))
    assert rms > 0.02, rms
    # trimmed to the first and last non-zero sample, nothing more
    assert plain[0] != 0 and plain[-1] != 0
    # it is speech-like: a voice in the male speaking range
    assert 70 < estimate_f0(plain, NATIVE) < 160


def test_faster_rate_gives_shorter_audio(tts: EspeakSpeech, plain: np.ndarray) -> None:
    fast = tts.synthesize(SENTENCE, Voice(rate=1.5))
    slow = tts.synthesize(SENTENCE, Voice(rate=0.75))
    assert len(fast) < 0.8 * len(plain), (len(fast), len(plain))
    assert len(slow) > 1.2 * len(plain), (len(slow), len(plain))
    assert tts.rate_wpm(Voice(rate=1.5)) == 262
    assert tts.rate_wpm(Voice(rate=4.0)) == 450  # clamped to eSpeak's maximum
    assert tts.rate_wpm(Voice(rate=0.25)) == 80  # and minimum


def test_pitch_shift_moves_the_fundamental_by_about_that_many_semitones(tts: EspeakSpeech, plain: np.ndarray) -> None:
    f0 = estimate_f0(plain, NATIVE)
    low = estimate_f0(tts.synthesize(SENTENCE, Voice(pitch=-4)), NATIVE)
    high = estimate_f0(tts.synthesize(SENTENCE, Voice(pitch=4)), NATIVE)
    assert low < f0 < high
    assert semitones(high, f0) == pytest.approx(4.0, abs=1.0), (low, f0, high)
    assert semitones(low, f0) == pytest.approx(-4.0, abs=1.0), (low, f0, high)


def test_pitch_mapping_is_monotonic_anchored_and_clamped() -> None:
    values = [pitch_parameter(st / 4) for st in range(-64, 65)]
    assert values == sorted(values)
    assert pitch_parameter(0) == 50
    assert pitch_parameter(0, base_pitch=30) == 30
    assert pitch_parameter(-24) == 0 and pitch_parameter(24) == 100
    assert pitch_parameter(2, base_pitch=30) > 30


def test_variants_sound_different(tts: EspeakSpeech) -> None:
    male = tts.synthesize(SENTENCE, Voice(options={"variant": "m3"}))
    female = tts.synthesize(SENTENCE, Voice(options={"variant": "f2"}))
    assert male.shape != female.shape or not np.array_equal(male, female)
    assert estimate_f0(female, NATIVE) > 1.3 * estimate_f0(male, NATIVE)


@pytest.mark.parametrize("variant", [None, "klatt"])
def test_same_input_gives_identical_samples(tts: EspeakSpeech, variant: str | None) -> None:
    voice = Voice(pitch=1.5, rate=1.1, options={"variant": variant} if variant else {})
    first = tts.synthesize(SENTENCE, voice)
    tts.synthesize("Something else in between, to disturb any leftover state.", Voice(pitch=-3))
    second = tts.synthesize(SENTENCE, voice)
    third = tts.synthesize(SENTENCE, voice)
    assert np.array_equal(first, second) and np.array_equal(second, third)


def test_concurrent_callers_get_the_same_samples_as_serial_ones(tts: EspeakSpeech) -> None:
    voices = [Voice(), Voice(pitch=3, options={"variant": "f2"}), Voice(rate=1.4, options={"variant": "klatt"})]
    serial = [tts.synthesize(SENTENCE, v) for v in voices]
    results: dict[tuple[int, int], np.ndarray] = {}

    def work(worker: int) -> None:
        for round_ in range(2):
            k = (worker + round_) % len(voices)
            results[worker, round_] = tts.synthesize(SENTENCE, voices[k])

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    for (worker, round_), audio in results.items():
        assert np.array_equal(audio, serial[(worker + round_) % len(voices)])


def test_output_matches_a_fresh_process(plain: np.ndarray) -> None:
    """What a cache stored in one run must be what another run would produce."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import hashlib, sys\n"
        "from deepstory.speech import Voice\n"
        "from deepstory.speech.espeak import EspeakSpeech\n"
        f"x = EspeakSpeech({NATIVE}).synthesize({SENTENCE!r}, Voice())\n"
        "sys.stdout.write(hashlib.sha256(x.tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out == hashlib.sha256(plain.tobytes()).hexdigest()


def test_resampling_to_16k(plain: np.ndarray) -> None:
    tts16 = EspeakSpeech(16000)
    audio = tts16.synthesize(SENTENCE, Voice())
    assert audio.dtype == np.float32
    assert abs(len(audio) - len(plain) * 16000 / NATIVE) <= 1
    assert np.all(np.abs(audio) <= 1.0)
    assert estimate_f0(audio, 16000) == pytest.approx(estimate_f0(plain, NATIVE), rel=0.03)


def test_unknown_variant_is_rejected_by_name(tts: EspeakSpeech) -> None:
    with pytest.raises(ValueError, match="no-such-variant"):
        tts.synthesize(SENTENCE, Voice(options={"variant": "no-such-variant"}))
    with pytest.raises(ValueError, match=r"\.\./m3"):
        tts.synthesize(SENTENCE, Voice(options={"variant": "../m3"}))


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="xx-nowhere"):
        EspeakSpeech(NATIVE, language="xx-nowhere")


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "..."])
def test_nothing_to_say_gives_empty_audio(tts: EspeakSpeech, text: str) -> None:
    audio = tts.synthesize(text, Voice())
    assert audio.dtype == np.float32 and audio.shape == (0,)


def test_identity_names_everything_that_shapes_the_output(tts: EspeakSpeech) -> None:
    ident = EspeakSpeech(16000, language="en", base_rate_wpm=160, base_pitch=40, pitch_range=30).identity()
    assert ident["backend"] == "EspeakSpeech" and ident["sample_rate"] == 16000
    assert (ident["language"], ident["base_rate_wpm"], ident["base_pitch"], ident["pitch_range"]) == (
        "en",
        160,
        40,
        30,
    )
    assert ident["espeak_version"][:1].isdigit()  # e.g. "1.52.0"
    assert ident != tts.identity()


def test_importing_does_not_load_the_library() -> None:
    root = Path(__file__).resolve().parents[1]
    code = (
        "import deepstory.speech, deepstory.speech.espeak as e\n"
        "maps = open('/proc/self/maps').read() if __import__('os').path.exists('/proc/self/maps') else ''\n"
        "assert e._state is None and 'libespeak' not in maps\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)
