"""The seed's chunking rule, exactly.

Walking the sentences in story order, a new chunk starts when the speaker
changes, or when the audio already accumulated in the current chunk exceeds
``cut_size`` samples.  It is not a hard cut: the sentence that crosses the
limit stays in the chunk, so a chunk may run over by one sentence, and a
single sentence longer than ``cut_size`` is a chunk of its own.
"""
from __future__ import annotations

from typing import Sequence

from deepstory.timeline import Chunk, Segment, frame_at


def chunk_segments(segments: Sequence[Segment], cut_size: int, sample_rate: int, fps: int) -> list[Chunk]:
    if int(cut_size) != cut_size or cut_size <= 0:
        raise ValueError(f"cut_size must be a positive whole number of samples, got {cut_size!r}")
    groups: list[list[Segment]] = []
    accumulated = 0
    for seg in segments:
        if not groups or seg.speaker != groups[-1][0].speaker or accumulated > cut_size:
            groups.append([])
            accumulated = 0
        groups[-1].append(seg)
        accumulated += seg.length
    chunks = []
    for index, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        first, last = frame_at(start, sample_rate, fps), frame_at(end, sample_rate, fps)
        chunks.append(
            Chunk(
                index=index,
                speaker=group[0].speaker,
                sentences=tuple(s.sentence for s in group),
                start=start,
                samples=end - start,
                first_frame=first,
                frames=last - first,
            )
        )
    return chunks
