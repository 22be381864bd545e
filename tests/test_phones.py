"""Phone timings by forced alignment, and the viseme motion they drive."""

from __future__ import annotations

import numpy as np
import pytest

from deepstory.motion.envelope import EnvelopeMotion
from deepstory.motion.visemes import BILABIALS, SHAPE_NAMES, VisemeMotion, shape_of, shapes_in_context
from deepstory.phones import Phones, align, number_words, spelled, words_of
from deepstory.speech import Voice
from deepstory.speech.piper import PiperSpeech
from deepstory.track import FACE

SR, FPS = 22050, 25
SENTENCE = "The cat sat on the mat and looked at the moon."


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return PiperSpeech(SR).synthesize(SENTENCE, Voice())


@pytest.fixture(scope="module")
def phones(speech):
    found = align(speech, SR, SENTENCE)
    assert found is not None
    return found


def test_alignment_finds_the_words_phones_in_order_and_in_time(speech, phones):
    names = [p.name for p in phones if p.name != "SIL"]
    assert names[:8] == ["DH", "AH", "K", "AE", "T", "S", "AE", "T"]
    assert names[-3:] == ["M", "UW", "N"]
    starts = [p.start for p in phones]
    assert starts == sorted(starts) and all(p.end > p.start for p in phones if p.name != "SIL")
    assert phones[-1].end <= len(speech) / SR + 0.6  # padding at most
    # The M of "moon" sits in the last third of the sentence.
    moon = [p for p in phones if p.name == "M"][-1]
    assert moon.start > 0.66 * len(speech) / SR


def test_unknown_words_are_spelled_not_dropped():
    assert spelled("zorblax") == "Z AA R B L AE K S"
    audio = PiperSpeech(SR).synthesize("Zorblax waved at the moon.", Voice())
    found = align(audio, SR, "Zorblax waved at the moon.")
    assert found is not None and [p.name for p in found if p.name != "SIL"][0] == "Z"


def test_numbers_are_said_as_words():
    assert number_words(182) == "one hundred eighty two" and number_words(2026) == "two thousand twenty six"
    assert words_of("Those 182 days, Eileen's!") == ["those", "one", "hundred", "eighty", "two", "days", "eileen's"]


def test_nothing_to_align_is_none():
    assert align(np.zeros(0, np.float32), SR, "Hello.") is None
    assert align(np.zeros(SR, np.float32), SR, "...") is None


def _reader(audio: np.ndarray, offset: int):
    def read(a: int, b: int) -> np.ndarray:
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, offset), min(b, offset + len(audio))
        if lo < hi:
            out[lo - a : hi - a] = audio[lo - offset : hi - offset]
        return out

    return read


def test_visemes_shut_the_lips_on_p_b_m_and_open_them_on_open_vowels(speech, phones):
    offset = SR  # one second of silence first
    heard = [(p.name, offset + round(p.start * SR), offset + round(p.end * SR)) for p in phones]
    motion = VisemeMotion(SR, FPS)
    frames = (offset + len(speech)) * FPS // SR + FPS
    track = motion.track(_reader(speech, offset), 0, frames, "A", None, phones=lambda a, b: Phones(heard, []))
    assert track.shape == (frames, FACE.width)
    opening = track[:, FACE.index("open")]
    centres = (2 * np.arange(frames) + 1) * SR // (2 * FPS)
    for name, a, b in heard:
        inside = (centres >= a) & (centres < b)
        if name in BILABIALS:
            assert (opening[inside] == 0).all(), name
        if name == "AE" and inside.sum() >= 2:
            assert opening[inside].max() > 0.4
    assert opening[: FPS // 2].max() == 0  # silence: rest
    rounded = [(a + b) // 2 for name, a, b in heard if shape_of(name) == "F"]  # the UW of "moon"
    assert track[rounded[-1] * FPS // SR, FACE.index("width")] < 0


def test_viseme_tracks_do_not_depend_on_chunking(speech, phones):
    heard = [(p.name, round(p.start * SR), round(p.end * SR)) for p in phones]
    motion = VisemeMotion(SR, FPS)
    read = _reader(speech, 0)
    reader = lambda a, b: Phones(heard, [])  # noqa: E731
    frames = len(speech) * FPS // SR
    whole = motion.track(read, 0, frames, "A", None, phones=reader)
    cuts = [0, 7, 19, 40, frames]
    pieces = [motion.track(read, a, b - a, "A", None, phones=reader) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(whole, np.concatenate(pieces))


def _centre(frame: int) -> int:
    return (2 * frame + 1) * SR // (2 * FPS)


def _buzz(seconds: float, gaps: list[tuple[float, float]]) -> np.ndarray:
    """A steady voiced buzz with silent gaps (a lip closure sounds like this in the speech band)."""
    t = np.arange(int(seconds * SR)) / SR
    audio = 0.25 * sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    for a, b in gaps:
        audio[(t >= a) & (t < b)] = 0.0
    return audio.astype(np.float32)


def test_tongue_and_throat_consonants_keep_the_jaw_of_the_vowel_beside_them():
    names = ["SIL", "K", "AE", "N", "T", "HH", "AA", "IY", "N"]
    assert shapes_in_context(names) == ["X", "C", "C", "C", "B", "D", "D", "B", "B"]


def test_the_mouth_opens_early_and_closes_on_time():
    """A vowel shows on the frame during which it begins (20 ms ahead), and stays until the next sound begins."""
    start, end = _centre(10) + int(0.015 * SR), _centre(20) + int(0.01 * SR)
    heard = [("SIL", 0, start), ("AE", start, end), ("F", end, _centre(25)), ("SIL", _centre(25), _centre(40))]
    track = VisemeMotion(SR, FPS).track(_reader(np.zeros(2 * SR, np.float32), 0), 0, 40, "A", None,
                                         phones=lambda a, b: Phones(heard, []))  # fmt: skip
    shown = [SHAPE_NAMES[int(k) - 1] if k else "-" for k in track[:, FACE.index("shape")].round()]
    assert shown[9] == "X" and shown[10] == "C"  # opens on the frame the vowel begins in
    assert shown[20] == "C" and shown[21] == "G"  # the vowel until the F begins, then the bite
    assert track[20, FACE.index("bite")] < 0.5 < track[22, FACE.index("bite")]


def test_the_lips_meet_where_the_closure_is_heard():
    """The voice times a P a little off the sound's own closure: the silence of the closure shuts the lips on the
    frame the voice puts before the P, and a frame whose look-ahead reaches a P stays open while the vowel still
    sounds."""
    audio = _buzz(3.0, [(0.97, 1.09), (2.03, 2.15)])
    heard = [
        ("AA", int(0.2 * SR), int(1.05 * SR)),
        ("P", int(1.05 * SR), int(1.13 * SR)),  # the closure is heard from 0.97 s
        ("AA", int(1.13 * SR), int(1.99 * SR)),
        ("P", int(1.99 * SR), int(2.11 * SR)),  # the closure is heard from 2.03 s
        ("AA", int(2.11 * SR), int(2.8 * SR)),
    ]
    track = VisemeMotion(SR, FPS).track(_reader(audio, 0), 0, 75, "A", None, phones=lambda a, b: Phones(heard, []))
    shut = (track[:, FACE.index("press")] == 1) & (track[:, FACE.index("open")] == 0)
    assert shut[25] and shut[26] and shut[27]  # frame 25 (1.02 s): silent, before the voice's P
    assert not shut[24] and not shut[28]
    assert not shut[49] and track[49, FACE.index("open")] > 0.3  # 1.98 s: the vowel still sounds
    assert shut[50] and shut[51]


def test_unaligned_speech_falls_back_to_loudness(speech):
    motion, envelope = VisemeMotion(SR, FPS), EnvelopeMotion(SR, FPS)
    frames = len(speech) * FPS // SR
    read = _reader(speech, 0)
    fallback = motion.track(read, 0, frames, "A", None, phones=lambda a, b: Phones([], [(0, len(speech))]))
    np.testing.assert_array_equal(fallback[:, FACE.index("open")], envelope.track(read, 0, frames, "A")[:, 0])


def test_a_sentence_that_cannot_be_aligned_warns_and_the_render_goes_on(tmp_path):
    """This demo line in Chelsea's eSpeak voice defeats the aligner (measured); its mouth follows loudness.

    eSpeak times its own phones (tests/test_espeak_phones.py); ``phones=align`` makes it aligned here.
    """
    import json

    from conftest import render_here

    story = tmp_path / "story.txt"
    story.write_text(
        "Chelsea: I counted every one of those 182 days, Eileen.\nThe cat sat on the mat.\n", encoding="utf-8"
    )
    run = render_here(
        tmp_path / "run",
        f"story.text_path={story}",
        f"cache_dir={tmp_path / 'cache'}",
        "video.width=64",
        "video.height=64",
        "stages.lipsync.enabled=false",
        "stages.speech.phones=align",
    )
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert any("could not be aligned" in w for w in manifest["warnings"]), manifest["warnings"]
    unaligned = json.loads((run / "temp" / "phones" / "s000000.json").read_text())
    assert unaligned["phones"] is None and unaligned["source"] == "pocketsphinx"
    assert json.loads((run / "temp" / "phones" / "s000001.json").read_text())["phones"]
    assert (run / "export" / "animated.mp4").is_file()


def test_one_aligner_for_many_sentences_gives_what_fresh_ones_give():
    # The decoder is reused for speed; pocketsphinx would carry its feature state and cepstral mean between
    # utterances (measured: without the reset, "exactly where she had left her." after the demo's first four
    # sentences, in the narrator's voice, aligns 10 ms apart from a fresh decoder's result).
    from deepstory.phones import Aligner

    piper, voice = PiperSpeech(SR), Voice(rate=0.95)
    texts = (
        "The capsule had splashed down on a Tuesday, but it was Friday before Eileen finally climbed the steps "
        "of her little blue house.",
        "Her knees still felt like jelly.",
        "After months of floating, gravity seemed like a rude joke that the whole planet was playing on her.",
        "She turned the key, pushed the door open, and found a striped tabby cat sitting in the middle of the hallway,",
        "exactly where she had left her.",
    )
    clips = [(piper.synthesize(text, voice), text) for text in texts]
    fresh = [align(audio, SR, text) for audio, text in clips]
    shared = Aligner()
    forward = [align(audio, SR, text, shared) for audio, text in clips]
    backward = [align(audio, SR, text, shared) for audio, text in reversed(clips)][::-1]
    assert all(found is not None for found in fresh) and forward == fresh and backward == fresh
