"""Where every sentence and chunk sits on the story's global sample and frame axes.

Frame boundaries are derived from cumulative *sample* positions, never by
adding per-chunk durations, so rounding never accumulates: after any number of
chunks the video has ``frame_at(total_samples)`` frames, within half a frame
of the audio, and each chunk's first frame is within half a frame of its first
sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np


def frame_at(sample: int, sample_rate: int, fps: int) -> int:
    """Index of the frame boundary nearest to ``sample`` (halves round up)."""
    return (2 * int(sample) * int(fps) + int(sample_rate)) // (2 * int(sample_rate))


def sample_at(frame: int, sample_rate: int, fps: int) -> int:
    """First sample of ``frame`` (floor), the inverse of :func:`frame_at` up to rounding."""
    return int(frame) * int(sample_rate) // int(fps)


@dataclass(frozen=True)
class Segment:
    """One sentence on the global timeline: silence, speech, silence."""

    sentence: int
    speaker: str
    start: int  # first sample of the segment (its leading silence)
    pad_before: int
    speech: int  # samples of speech
    pad_after: int
    key: str = ""  # cache key of the speech audio

    @property
    def length(self) -> int:
        return self.pad_before + self.speech + self.pad_after

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def speech_start(self) -> int:
        return self.start + self.pad_before

    @property
    def speech_end(self) -> int:
        return self.speech_start + self.speech


def build_segments(
    sentences: Sequence,
    speech_lengths: Sequence[int],
    sample_rate: int,
    keys: Sequence[str] | None = None,
    start: int = 0,
) -> list[Segment]:
    """Lay sentences end to end from sample ``start``; ``speech_lengths[i]`` is sentence i's speech in samples."""
    segments, position = [], start
    keys = keys if keys is not None else [""] * len(sentences)
    for sentence, speech, key in zip(sentences, speech_lengths, keys, strict=True):
        seg = Segment(
            sentence=sentence.index,
            speaker=sentence.speaker,
            start=position,
            pad_before=round(sentence.pause_before * sample_rate),
            speech=int(speech),
            pad_after=round(sentence.pause_after * sample_rate),
            key=key,
        )
        segments.append(seg)
        position = seg.end
    return segments


@dataclass(frozen=True)
class Chunk:
    """Consecutive sentences of one speaker, animated and encoded together."""

    index: int
    speaker: str
    sentences: tuple[int, ...]
    start: int  # first global sample
    samples: int
    first_frame: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.samples

    @property
    def name(self) -> str:
        return f"c{self.index:05d}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sentences"] = list(self.sentences)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**{**d, "sentences": tuple(d["sentences"])})


def video_segments(total_frames: int, segment_frames: int) -> list[tuple[int, int]]:
    """The fixed grid of encoded video segments: ``[start, stop)`` global frames.

    The grid depends only on the story's length, never on the chunks, so the
    encoder sees the same frames in the same groups whatever ``cut_size`` is,
    and the decoded video is identical across chunkings.
    """
    if segment_frames < 1:
        raise ValueError(f"video.segment_frames must be at least 1, got {segment_frames}")
    return [(a, min(a + segment_frames, total_frames)) for a in range(0, total_frames, segment_frames)]


def overlapping(spans: Sequence, start: int, stop: int, first=lambda s: s.start, end=lambda s: s.end) -> list:
    """The items of ``spans`` (sorted, contiguous) that overlap ``[start, stop)``."""
    return [s for s in spans if first(s) < stop and end(s) > start]


class SegmentReader:
    """Reads any global sample range of the story from the per-sentence speech files.

    Only the sentences overlapping the range are opened, so memory is bounded
    by the range asked for, never by the story.
    """

    def __init__(self, segments: Sequence[Segment], load_speech: Callable[[int], np.ndarray]):
        self.segments = list(segments)
        self._starts = np.array([s.start for s in self.segments], dtype=np.int64)
        self._load = load_speech
        self.total = self.segments[-1].end if self.segments else 0

    def read(self, start: int, stop: int) -> np.ndarray:
        """Float32 samples ``[start, stop)``; zeros outside the story."""
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        if stop <= start or not self.segments:
            return out
        first = max(0, int(np.searchsorted(self._starts, start, side="right")) - 1)
        for seg in self.segments[first:]:
            if seg.start >= stop:
                break
            lo, hi = max(start, seg.speech_start), min(stop, seg.speech_end)
            if lo < hi:
                speech = self._load(seg.sentence)
                out[lo - start : hi - start] = speech[lo - seg.speech_start : hi - seg.speech_start]
        return out
