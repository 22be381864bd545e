"""Global sample/frame axes: no drift over many chunks, and range reads over sentence files."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from deepstory.chunk.stage import chunk_segments
from deepstory.timeline import Chunk, SegmentReader, build_segments, frame_at, sample_at

from conftest import FakeSentence

RATES = [
    (22050, 24),
    (22050, 25),
    (22050, 30),
    (16000, 24),
    (16000, 25),
    (16000, 30),
    (44100, 24),
    (44100, 25),
    (44100, 30),
]


def _primes(count: int, start: int) -> list[int]:
    found, n = [], start
    while len(found) < count:
        n += 1
        if n > 1 and all(n % d for d in range(2, int(n**0.5) + 1)):
            found.append(n)
    return found


# ------------------------------------------------------------------------- frame_at / sample_at
@pytest.mark.parametrize("sr, fps", RATES)
def test_frame_at_is_nearest_frame_boundary(sr: int, fps: int) -> None:
    rng = np.random.default_rng(sr + fps)
    samples = list(rng.integers(0, 10 * sr, 300)) + [0, 1, sr - 1, sr, sr + 1, 7 * sr]
    for s in samples:
        exact = Fraction(int(s) * fps, sr)
        f = frame_at(int(s), sr, fps)
        assert abs(Fraction(f) - exact) <= Fraction(1, 2)
        if exact - int(exact) == Fraction(1, 2):
            assert f == int(exact) + 1  # halves round up
    assert frame_at(sr, sr, fps) == fps
    assert frame_at(0, sr, fps) == 0


def test_frame_at_exact_values() -> None:
    # 22050 Hz at 25 fps: 882 samples per frame, 441 is exactly half a frame.
    assert frame_at(440, 22050, 25) == 0
    assert frame_at(441, 22050, 25) == 1
    assert frame_at(882, 22050, 25) == 1
    assert frame_at(882 + 440, 22050, 25) == 1
    assert frame_at(882 + 441, 22050, 25) == 2
    # 16000 Hz at 24 fps: 666.67 samples per frame.
    assert frame_at(333, 16000, 24) == 0
    assert frame_at(334, 16000, 24) == 1
    assert frame_at(16000 * 60, 16000, 24) == 1440


@pytest.mark.parametrize("sr, fps", RATES)
def test_sample_at_is_floor_and_inverts_frame_at(sr: int, fps: int) -> None:
    for f in range(0, 5000, 7):
        s = sample_at(f, sr, fps)
        assert s == (f * sr) // fps
        assert Fraction(s) <= Fraction(f * sr, fps) < s + 1
        assert frame_at(s, sr, fps) == f
    assert sample_at(fps, sr, fps) == sr


# ------------------------------------------------------------------------- no drift
@pytest.mark.parametrize("sr, fps", RATES)
def test_no_drift_over_many_chunks(sr: int, fps: int) -> None:
    rng = np.random.default_rng(1000 * sr + fps)
    n = 300
    lengths = _primes(40, sr // 3) + [int(x) for x in rng.integers(1, 3 * sr, n - 40)]
    lengths[5] = 1  # a tiny one
    lengths[6] = sr // fps + 1  # just over a frame
    # Alternate speakers so that every sentence is a chunk; pauses are awkward too.
    sentences = [
        FakeSentence(
            i, "AB"[i % 2], pause_before=0.5 if i % 4 == 0 else 0.0, pause_after=[0.3, 0.15, 0.4, 0.6, 0.35, 0.0][i % 6]
        )
        for i in range(n)
    ]
    segs = build_segments(sentences, lengths, sr)
    chunks = chunk_segments(segs, 10 * sr, sr, fps)
    assert len(chunks) == n >= 250

    total = segs[-1].end
    assert sum(c.frames for c in chunks) == frame_at(total, sr, fps)
    video = Fraction(sum(c.frames for c in chunks), fps)
    audio = Fraction(total, sr)
    assert abs(video - audio) < Fraction(1, fps)
    assert abs(video - audio) <= Fraction(1, 2 * fps)
    position = 0
    for c in chunks:
        assert c.first_frame == position
        assert abs(Fraction(c.first_frame, fps) - Fraction(c.start, sr)) <= Fraction(1, 2 * fps)
        assert c.frames >= 0
        position += c.frames


@pytest.mark.parametrize("sr, fps", [(22050, 25), (16000, 30), (44100, 24)])
def test_summing_rounded_durations_would_drift_but_cumulative_does_not(sr: int, fps: int) -> None:
    # Each chunk is 0.4 frame over a whole frame count: per-chunk rounding would lose
    # 0.4 frame each time; cumulative rounding must not.
    per = Fraction(sr, fps) * Fraction(7, 5)  # 1.4 frames worth of samples
    lengths = [int(per)] * 260
    segs = build_segments([FakeSentence(i, "AB"[i % 2]) for i in range(260)], lengths, sr)
    chunks = chunk_segments(segs, sr, sr, fps)
    total = sum(lengths)
    frames = sum(c.frames for c in chunks)
    assert abs(Fraction(frames, fps) - Fraction(total, sr)) <= Fraction(1, 2 * fps)
    assert frames != sum(round(n * fps / sr) for n in lengths)  # the naive sum is way off


def test_chunk_dict_round_trip() -> None:
    chunk = Chunk(index=3, speaker="Alice", sentences=(4, 5, 6), start=1234, samples=5678, first_frame=2, frames=7)
    d = chunk.to_dict()
    assert d["sentences"] == [4, 5, 6]
    assert Chunk.from_dict(d) == chunk
    assert chunk.end == 1234 + 5678
    assert chunk.name == "c00003"


# ------------------------------------------------------------------------- SegmentReader
def _story(seed: int, n: int = 40, sr: int = 1000):
    rng = np.random.default_rng(seed)
    lengths = [int(x) for x in rng.integers(0, 400, n)]
    lengths[3] = 0  # a sentence with no speech at all
    sentences = [
        FakeSentence(
            i,
            "AB"[i % 2],
            pause_before=float(rng.choice([0.0, 0.05, 0.5])),
            pause_after=float(rng.choice([0.0, 0.013, 0.3])),
        )
        for i in range(n)
    ]
    segs = build_segments(sentences, lengths, sr)
    speech = {i: (rng.standard_normal(length).astype(np.float32) * 0.3 + 0.5) for i, length in enumerate(lengths)}
    whole = np.concatenate(
        [
            np.concatenate([np.zeros(s.pad_before, np.float32), speech[s.sentence], np.zeros(s.pad_after, np.float32)])
            for s in segs
        ]
    )
    return segs, speech, whole


def _expected(whole: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = np.zeros(max(0, stop - start), np.float32)
    lo, hi = max(start, 0), min(stop, len(whole))
    if lo < hi:
        out[lo - start : hi - start] = whole[lo:hi]
    return out


def test_segment_reader_matches_the_concatenated_whole() -> None:
    segs, speech, whole = _story(7)
    reader = SegmentReader(segs, lambda i: speech[i])
    assert reader.total == len(whole) == segs[-1].end
    assert np.array_equal(reader.read(0, reader.total), whole)

    rng = np.random.default_rng(11)
    ranges = [tuple(sorted(int(x) for x in rng.integers(-200, len(whole) + 200, 2))) for _ in range(300)]
    # Ranges starting/ending exactly on and around every segment boundary and speech edge.
    for s in segs:
        for edge in (s.start, s.speech_start, s.speech_end, s.end):
            ranges += [(edge - 1, edge + 1), (edge, edge + 37), (edge - 37, edge), (edge - 500, edge + 500)]
    ranges += [
        (-300, -10),
        (-50, 50),
        (len(whole) - 20, len(whole) + 20),
        (len(whole), len(whole) + 100),
        (len(whole) + 5, len(whole) + 6),
        (100, 100),
        (200, 100),
    ]
    for start, stop in ranges:
        got = reader.read(start, stop)
        assert got.dtype == np.float32
        assert np.array_equal(got, _expected(whole, start, stop)), (start, stop)


def test_segment_reader_reads_tile_the_story() -> None:
    segs, speech, whole = _story(3, n=25)
    reader = SegmentReader(segs, lambda i: speech[i])
    for block in (1, 97, 1000, 4096):
        pieces = [reader.read(a, a + block) for a in range(0, reader.total, block)]
        assert np.array_equal(np.concatenate(pieces)[: reader.total], whole)


def test_segment_reader_empty_story() -> None:
    reader = SegmentReader([], lambda i: np.zeros(0, np.float32))
    assert reader.total == 0
    assert np.array_equal(reader.read(-5, 5), np.zeros(10, np.float32))
