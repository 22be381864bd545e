"""Phone timings of eSpeak speech from eSpeak NG's own phoneme events, not from forced alignment."""

from __future__ import annotations

import difflib
import json

import numpy as np
import pytest

from deepstory.phones import align
from deepstory.speech import Voice
from deepstory.speech.espeak import EspeakSpeech
from deepstory.speech.espeak_phonemes import DEFAULT_CONSONANT, PhonemeEvent, arpabet, timed_phones

SR = 22050
BOB = "Bob made a map."
CHELSEA = Voice(engine="espeak", options={"variant": "f5"})  # the demo's espeak voice


@pytest.fixture(scope="module")
def espeak() -> EspeakSpeech:
    return EspeakSpeech(SR)


def _rms(audio: np.ndarray, start: float, end: float) -> float:
    part = audio[int(start * SR) : int(end * SR)]
    return float(np.sqrt(np.mean(part**2)))


def test_phones_come_from_the_events_in_order_and_within_the_speech(espeak):
    audio = espeak.synthesize(BOB, CHELSEA)
    phones = espeak.phones(BOB, CHELSEA)
    assert phones is not None
    assert [p.name for p in phones if p.name != "SIL"] == ["B", "AA", "B", "M", "EY", "D", "AH", "M", "AE", "P"]
    duration = len(audio) / SR
    assert all(0 <= p.start < p.end <= duration + 1e-9 for p in phones)
    assert all(a.end == b.start for a, b in zip(phones, phones[1:]))  # contiguous: each lasts until the next
    assert phones[0].start == 0.0 and phones[-1].end == pytest.approx(duration, abs=2 / SR)
    # Deterministic, also when spoken again rather than taken from the last synthesis.
    espeak.synthesize("Something else entirely.", CHELSEA)
    assert espeak.phones(BOB, CHELSEA) == phones


def test_the_lips_close_where_the_events_put_b_and_p(espeak):
    """The closure of a stop is nearly silent: its span is much quieter than the vowel before it."""
    for voice in (CHELSEA, Voice(engine="espeak", options={"variant": "klatt"})):
        audio = espeak.synthesize(BOB, voice)
        phones = [p for p in espeak.phones(BOB, voice) or [] if p.name != "SIL"]
        for i, phone in enumerate(phones):
            if phone.name in ("B", "P") and i > 0:
                vowel = phones[i - 1]
                assert _rms(audio, phone.start, phone.end) < 0.35 * _rms(audio, vowel.start, vowel.end), (voice, i)


def test_events_agree_with_forced_alignment_of_the_same_audio(espeak):
    text = "The cat sat on the mat and looked at the moon."
    audio = espeak.synthesize(text, CHELSEA)
    own = [p for p in espeak.phones(text, CHELSEA) or [] if p.name != "SIL"]
    aligned = [p for p in align(audio, SR, text) or [] if p.name != "SIL"]
    matcher = difflib.SequenceMatcher(a=[p.name for p in own], b=[p.name for p in aligned], autojunk=False)
    pairs = [(own[m.a + k], aligned[m.b + k]) for m in matcher.get_matching_blocks() for k in range(m.size)]
    assert len(pairs) >= 0.9 * len(own)  # the same phones ...
    close = [abs(a.start - b.start) <= 0.06 for a, b in pairs]
    assert np.mean(close) >= 0.85  # ... at the same times (measured: 96% within 60 ms over the demo)
    assert all(abs(a.start - b.start) <= 0.06 for a, b in pairs if a.name in ("P", "B", "M"))


def test_timings_follow_rate_shaping_and_the_output_rate(espeak):
    plain = espeak.phones(BOB, CHELSEA)
    shaped = Voice(engine="espeak", formant=1.15, options={"variant": "f5"})
    other_rate = EspeakSpeech(16000)
    audio = other_rate.synthesize(BOB, shaped)  # WORLD shaping, then resampling to 16 kHz
    assert other_rate.phones(BOB, shaped) == plain  # times in seconds: neither moves them
    assert plain is not None and plain[-1].end == pytest.approx(len(audio) / 16000, abs=1e-3)
    fast = Voice(engine="espeak", rate=1.5, options={"variant": "f5"})
    quick = espeak.phones(BOB, fast)
    assert quick is not None and quick[-1].end == pytest.approx(len(espeak.synthesize(BOB, fast)) / SR, abs=2 / SR)
    assert quick[-1].end < 0.8 * plain[-1].end


def test_sped_up_speech_has_no_event_timings(espeak):
    """At 450 wpm and above eSpeak's sonic speed-up moves the audio off its events: align instead."""
    voice = Voice(engine="espeak", rate=2.7)  # 472 wpm
    assert espeak.synthesize(BOB, voice).size > 0
    assert espeak.phones(BOB, voice) is None
    assert espeak.phones("", CHELSEA) is None and espeak.phones("...", CHELSEA) is None


def test_mnemonics_map_to_arpabet_and_none_is_dropped():
    assert arpabet("'aI") == ("AY",) and arpabet(",eI") == ("EY",) and arpabet("oU") == ("OW",)
    assert arpabet("p") == ("P",) and arpabet("m") == ("M",) and arpabet("f") == ("F",) and arpabet("h") == ("HH",)
    assert arpabet("@") == ("AH",) and arpabet("_:") == ("SIL",) and arpabet("_") == ("SIL",)
    assert arpabet("@L") == ("AH", "L") and arpabet("t#") == ("T",)
    assert arpabet("b2") == ("B",)  # a variant mark of a known phoneme
    assert arpabet("Q") == (DEFAULT_CONSONANT,) and arpabet("") == (DEFAULT_CONSONANT,)
    assert arpabet("'o#") == ("AH",)  # an unknown vowel


def _events(*pairs: tuple[str, int]) -> list[PhonemeEvent]:
    return [PhonemeEvent(name, sample, sample * 1000 // SR, 0, 100_000) for name, sample in pairs]


def test_untrustworthy_events_give_none():
    good = _events(("b", 0), ("'0", 2205), ("b", 4410), ("_", 6615))
    phones = timed_phones(good, 0, 8819, 8820, SR)
    assert phones is not None and [(p.name, p.start, p.end) for p in phones] == [
        ("B", 0.0, 0.1),
        ("AA", 0.1, 0.2),
        ("B", 0.2, 0.3),
        ("SIL", 0.3, 0.4),
    ]
    assert timed_phones([], 0, 8819, 8820, SR) is None
    assert timed_phones(_events(("b", 0), ("'0", 4410), ("b", 2205)), 0, 8819, 8820, SR) is None  # backwards
    outside = [good[0], good[1]._replace(block_start=4000, block_end=8000), *good[2:]]
    assert timed_phones(outside, 0, 8819, 8820, SR) is None  # not in the samples it came with
    assert timed_phones(_events(("_:", 0), ("_", 4410)), 0, 8819, 8820, SR) is None  # nothing spoken


def test_a_render_with_an_espeak_speaker_takes_its_phones_from_espeak(tmp_path):
    from conftest import render_here

    story = tmp_path / "story.txt"
    story.write_text("Chelsea: I counted every one of those 182 days, Eileen.\nThe cat sat on the mat.\n")
    common = [f"story.text_path={story}", f"cache_dir={tmp_path / 'cache'}", "video.width=64", "video.height=64"]
    run = render_here(tmp_path / "run", *common, "stages.lipsync.enabled=false")
    chelsea = json.loads((run / "temp" / "phones" / "s000000.json").read_text())
    narrator = json.loads((run / "temp" / "phones" / "s000001.json").read_text())
    assert chelsea["source"] == "espeak" and chelsea["phones"]  # the aligner cannot follow this one
    assert narrator["source"] == "piper" and narrator["phones"]  # Piper: the voice's own frame counts
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert not any("could not be aligned" in w for w in manifest["warnings"])
    # Same speech, same cache, phones by alignment: a different entry, not the cached events.
    again = render_here(tmp_path / "again", *common, "stages.lipsync.enabled=false", "stages.speech.phones=align")
    for sentence in ("s000000", "s000001"):
        assert json.loads((again / "temp" / "phones" / f"{sentence}.json").read_text())["source"] == "pocketsphinx"
