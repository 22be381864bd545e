"""The seed's chunking rule: cut on speaker change, or once the chunk's audio exceeds cut_size."""

from __future__ import annotations

import pytest

from deepstory.chunk.stage import chunk_segments
from deepstory.timeline import build_segments, frame_at

from conftest import FakeSentence

SR = 16000
FPS = 25
CUT = 1000


def segments(*spec):
    """``spec`` items are ``length`` (speaker "A") or ``(speaker, length)``; no pauses."""
    items = [(s if isinstance(s, tuple) else ("A", s)) for s in spec]
    sentences = [FakeSentence(i, speaker) for i, (speaker, _) in enumerate(items)]
    return build_segments(sentences, [length for _, length in items], SR)


def groups(*spec, cut: int = CUT) -> list[tuple[int, ...]]:
    return [c.sentences for c in chunk_segments(segments(*spec), cut, SR, FPS)]


# ------------------------------------------------------------------------- the size rule
def test_everything_below_the_limit_is_one_chunk() -> None:
    assert groups(300, 300, 300) == [(0, 1, 2)]


def test_accumulated_exactly_at_cut_size_does_not_cut() -> None:
    assert groups(500, 500, 10) == [(0, 1, 2)]
    assert groups(CUT, 10) == [(0, 1)]


def test_accumulated_one_below_cut_size_does_not_cut() -> None:
    assert groups(500, 499, 10) == [(0, 1, 2)]
    assert groups(CUT - 1, 10) == [(0, 1)]


def test_accumulated_one_above_cut_size_cuts_before_next_sentence() -> None:
    assert groups(500, 501, 10) == [(0, 1), (2,)]
    assert groups(CUT + 1, 10) == [(0,), (1,)]


def test_sentence_crossing_the_limit_stays_in_the_chunk() -> None:
    # 600 + 600 crosses 1000 during sentence 1: it stays, the next one starts anew.
    assert groups(600, 600, 600, 600, 600) == [(0, 1), (2, 3), (4,)]


def test_after_exact_fill_the_following_sentence_crosses_then_cuts() -> None:
    assert groups(500, 500, 10, 10) == [(0, 1, 2), (3,)]


def test_single_sentence_longer_than_cut_size_is_its_own_chunk() -> None:
    assert groups(10, 3 * CUT, 10, 10) == [(0, 1), (2, 3)]
    assert groups(3 * CUT, 10, 10) == [(0,), (1, 2)]
    assert groups(3 * CUT, 3 * CUT) == [(0,), (1,)]


def test_speaker_change_always_cuts() -> None:
    assert groups(("A", 10), ("B", 10), ("B", 10), ("A", 10)) == [(0,), (1, 2), (3,)]


def test_speaker_change_on_the_sentence_that_crosses_the_limit() -> None:
    # B's sentence would push A's chunk over the limit, but it starts its own chunk
    # because of the speaker change, and the count restarts from B's length.
    assert groups(("A", 900), ("B", 200), ("B", 801), ("B", 10)) == [(0,), (1, 2), (3,)]
    assert groups(("A", 900), ("B", 200), ("B", 800), ("B", 10)) == [(0,), (1, 2, 3)]


def test_speaker_change_right_after_an_overfull_chunk() -> None:
    assert groups(("A", 2000), ("B", 10), ("B", 10)) == [(0,), (1, 2)]


def test_pauses_count_towards_the_limit() -> None:
    # 0.03 s of pause at 16 kHz = 480 samples on each side.
    sentences = [FakeSentence(0, "A", 0.03, 0.03), FakeSentence(1, "A"), FakeSentence(2, "A")]
    segs = build_segments(sentences, [41, 10, 10], SR)
    assert segs[0].length == 1001
    assert [c.sentences for c in chunk_segments(segs, CUT, SR, FPS)] == [(0,), (1, 2)]


def test_no_segments_no_chunks() -> None:
    assert chunk_segments([], CUT, SR, FPS) == []


@pytest.mark.parametrize("cut", [0, -1, -1000, 2.5, 999.9])
def test_invalid_cut_size(cut) -> None:
    with pytest.raises(ValueError):
        chunk_segments(segments(10, 10), cut, SR, FPS)


def test_whole_float_cut_size_is_accepted() -> None:
    assert [c.sentences for c in chunk_segments(segments(500, 501, 10), 1000.0, SR, FPS)] == [(0, 1), (2,)]


# ------------------------------------------------------------------------- chunk fields
def test_chunk_fields_are_consistent() -> None:
    spec = [("A", 4999), ("A", 7001), ("B", 12345), ("B", 3), ("B", 9000), ("A", 1), ("C", 16000), ("C", 15999)]
    sentences = [FakeSentence(i, sp, 0.5 if i % 3 == 0 else 0.0, 0.3) for i, (sp, _) in enumerate(spec)]
    segs = build_segments(sentences, [n for _, n in spec], SR)
    chunks = chunk_segments(segs, 20000, SR, FPS)

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [i for c in chunks for i in c.sentences] == list(range(len(spec)))
    assert chunks[0].start == 0 and chunks[0].first_frame == 0
    for chunk, following in zip(chunks, chunks[1:]):
        assert following.start == chunk.end
        assert following.first_frame == chunk.first_frame + chunk.frames
        assert following.speaker != chunk.speaker or chunk.samples > 20000
    by_index = {s.sentence: s for s in segs}
    for chunk in chunks:
        members = [by_index[i] for i in chunk.sentences]
        assert {m.speaker for m in members} == {chunk.speaker}
        assert chunk.start == members[0].start
        assert chunk.samples == sum(m.length for m in members)
        assert chunk.first_frame == frame_at(chunk.start, SR, FPS)
        assert chunk.frames == frame_at(chunk.end, SR, FPS) - chunk.first_frame
        assert chunk.frames >= 1
    assert chunks[-1].end == segs[-1].end
    assert sum(c.frames for c in chunks) == frame_at(segs[-1].end, SR, FPS)


def test_build_segments_lays_sentences_end_to_end() -> None:
    sentences = [FakeSentence(0, "A", 0.5, 0.3), FakeSentence(1, "B", 0.0, 0.65)]
    segs = build_segments(sentences, [1234, 777], 22050)
    a, b = segs
    assert (a.start, a.pad_before, a.speech, a.pad_after) == (0, 11025, 1234, 6615)
    assert (a.speech_start, a.speech_end, a.end) == (11025, 12259, 18874)
    assert (b.start, b.pad_before, b.speech, b.pad_after) == (18874, 0, 777, 14332)
    assert b.end == 18874 + 777 + 14332


def test_build_segments_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        build_segments([FakeSentence(0, "A")], [10, 20], SR)
