"""Piper speech: intelligible, deterministic, and speakers told apart by pitch and rate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deepstory.speech.piper as piper_module
from deepstory.phones import align
from deepstory.speech import Voice
from deepstory.speech.ipa import ipa_phones
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


def test_shaping_keeps_the_words():
    """Every shaped voice of the demo cast is as intelligible as its voice unshaped: WER within +0.05.

    Shaped: pitch, formant or rate other than the voice's own (conf/speakers/chapter3.yaml, as the
    config composes it; a voice that is not shaped has nothing to compare).  Each is spoken by the
    engine the render would use (the speech stage's ``engine_for``).  (pocketsphinx; the sentences
    are in no benchmark: benchmarks/voices.py measures its own prose.)
    """
    from omegaconf import OmegaConf

    from deepstory.run.render import build_stages

    from conftest import compose_cfg

    text = [
        "The farmer opened the gate and let the sheep into the green field.",
        "My sister found an old map in the attic behind a box of letters.",
        "We waited at the station for an hour because the last bus had left.",
        "The teacher wrote three words on the board and asked us to read them.",
        "A small dog ran across the road and hid under a parked car.",
        "After dinner he washed the plates and put the milk back in the fridge.",
    ]
    words = sum(len(t.split()) for t in text)
    cfg = compose_cfg()
    speech = next(s for s in build_stages(cfg) if s.name == "speech")
    cast = {
        name: Voice.from_config(OmegaConf.to_container(node.voice, resolve=True), str(name))  # type: ignore[arg-type]
        for name, node in cfg.speakers.items()
    }
    shaped = {name: v for name, v in cast.items() if (v.pitch, v.formant, v.rate) != (0.0, 1.0, 1.0)}
    assert shaped, "the demo cast has no shaped voice: nothing checked"
    plain_wer: dict[str, float] = {}  # by what makes the unshaped sound (engine and voice identity)

    def wer(voice: Voice) -> float:  # over all the words at once
        engine = speech.engine_for(voice)
        heard = (recognize(engine.synthesize(t, voice), engine.sample_rate) for t in text)
        return sum(word_error_rate(t, h) * len(t.split()) for t, h in zip(text, heard)) / words

    found = {}
    for name, voice in shaped.items():
        plain = replace(voice, pitch=0.0, formant=1.0, rate=1.0)
        engine = speech.engine_for(plain)
        key = repr((engine.identity(), engine.voice_identity(plain)))
        if key not in plain_wer:
            plain_wer[key] = wer(plain)
            assert plain_wer[key] < 0.4, (name, "unshaped", plain_wer[key])
        found[name] = (wer(voice), plain_wer[key])
    worse = {name: f"{w:.3f} against {p:.3f} unshaped" for name, (w, p) in found.items() if w > p + 0.05}
    assert not worse, f"shaping costs words (WER): {worse}"


# -- Piper's own phone timings (deepstory.speech.ipa) -------------------------------------------------


def test_ipa_symbols_become_timed_arpabet_phones():
    rate = 1000  # samples per second: one sample is a millisecond
    symbols = [("^", 100), ("h", 50), ("ə", 60), ("l", 40), ("ˈ", 10), ("o", 30), ("ʊ", 40), (" ", 5)]
    symbols += [("w", 30), ("ˈ", 5), ("ɜ", 50), ("ː", 30), ("l", 20), ("d", 20), (" ", 80), ("ð", 30), (",", 400)]
    symbols += [("$", 100)]
    got = [(p.name, round(p.start * 1000), round(p.end * 1000)) for p in ipa_phones(symbols, rate)]
    assert got == [
        ("SIL", 0, 100),
        ("HH", 100, 150),
        ("AH", 150, 210),
        ("L", 210, 250),
        ("OW", 250, 335),  # the stress mark and both halves of the diphthong; a short word space too
        ("W", 335, 365),
        ("ER", 365, 450),  # stress mark before, length mark after
        ("L", 450, 470),
        ("D", 470, 490),
        ("SIL", 490, 570),  # a word space of 80 ms is a pause
        ("DH", 570, 600),
        ("SIL", 600, 1100),  # punctuation and the end merge into one pause
    ]


def _names(phones) -> list[str]:
    return [p.name for p in phones if p.name != "SIL"]


def test_piper_times_its_own_phones_within_its_samples(piper):
    for voice in (Voice(), Voice(pitch=5.0, formant=1.12, rate=1.0), Voice(rate=1.5)):
        audio = piper.synthesize(SENTENCE, voice)
        phones = piper.phones(SENTENCE, voice)
        assert phones, voice
        duration = len(audio) / SR
        assert all(0 <= p.start < p.end <= duration + 1e-9 for p in phones)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(phones, phones[1:]))  # in order, no overlap
        assert phones[-1].end > duration - 0.05  # the speech is covered to its end
        # "The cat sat on the mat ... the moon": the words' sounds in order.
        names = " ".join(_names(phones))
        for word in ("K AE T", "S AE T", "M AE T", "M UW N"):
            assert word in names, (word, names)
    # Asked again (another sentence spoken in between), the same timings: deterministic.
    first = piper.phones(SENTENCE, Voice())
    piper.synthesize("Something else entirely.", Voice())
    assert piper.phones(SENTENCE, Voice()) == first


def test_piper_timings_agree_with_forced_alignment(piper):
    # The same samples aligned by pocketsphinx: matched phones start within a few tens of milliseconds.
    import difflib

    gaps = []
    for text in (SENTENCE, "A small dog ran across the road and hid under a parked car."):
        audio = piper.synthesize(text, Voice(rate=0.95))
        own = [p for p in piper.phones(text, Voice(rate=0.95)) if p.name != "SIL"]
        aligned = [p for p in align(audio, SR, text) if p.name != "SIL"]
        match = difflib.SequenceMatcher(a=[p.name for p in own], b=[p.name for p in aligned], autojunk=False)
        for block in match.get_matching_blocks():
            gaps += [own[block.a + k].start - aligned[block.b + k].start for k in range(block.size)]
    assert len(gaps) >= 40
    assert np.median(np.abs(gaps)) < 0.04 and np.mean(np.abs(gaps) <= 0.06) > 0.85


def test_timings_leave_the_samples_alone(monkeypatch):
    # The voice loaded with its timing output and without (as with no onnx package) speaks the same samples;
    # without, it gives no timings and the speech stage aligns instead.
    timed = PiperSpeech(SR)
    a = timed.synthesize(SENTENCE, Voice(pitch=2.0))
    assert timed.phones(SENTENCE, Voice(pitch=2.0))
    monkeypatch.setattr(piper_module, "_with_timings", lambda path: None)
    plain = PiperSpeech(SR)
    b = plain.synthesize(SENTENCE, Voice(pitch=2.0))
    assert np.array_equal(a, b)
    assert plain.phones(SENTENCE, Voice(pitch=2.0)) is None
