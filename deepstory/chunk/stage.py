"""The seed's chunking rule, exactly.

Walking the sentences in story order, a new chunk starts when the speaker
changes, or when the audio already accumulated in the current chunk exceeds
``cut_size`` samples.  It is not a hard cut: the sentence that crosses the
limit stays in the chunk, so a chunk may run over by one sentence, and a
single sentence longer than ``cut_size`` is a chunk of its own.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Sequence

from deepstory.chunk.files import ChunkFiles
from deepstory.files import write_json
from deepstory.kernel.context import RunContext
from deepstory.kernel.stage import Follow, Frontier, Stage
from deepstory.media import write_wav
from deepstory.speech.files import SpeechFiles
from deepstory.speech.stage import SEGMENTS
from deepstory.timeline import Chunk, Segment, SegmentReader, frame_at

#: The frontier name of the chunks cut so far (``Chunk`` s, in story order: all but the last final until done).
CHUNKS = "chunks"


def chunk_segments(segments: Sequence[Segment], cut_size: int, sample_rate: int, fps: int) -> list[Chunk]:
    if isinstance(cut_size, bool) or int(cut_size) != cut_size or cut_size <= 0:
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


def _write_span(reader: SegmentReader, start: int, end: int, rate: int, tmp: Path) -> None:
    write_wav(tmp, reader.read(start, end), rate)


class ChunkStage(Stage[RunContext]):
    """The timeline cut into chunks -> ``temp/chunks.json`` and each chunk's audio ``temp/chunks/cNNNNN.wav``.

    ``cut_size`` (the top-level ``cut_size``, in samples; its range is the schema's,
    ``deepstory/chunk/config.py``) is recorded in ``chunks.json`` for the summary.
    """

    follows = True
    reads = (SEGMENTS,)
    publishes = (CHUNKS,)

    def __init__(self, cut_size: int, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.cut_size = cut_size

    def run(self, ctx: RunContext) -> None:
        self.start(ctx)(Frontier(done=True).publish(SEGMENTS, SpeechFiles(ctx.run).segments()))

    def start(self, ctx: RunContext) -> Follow:
        """Cut the chunks of the sentences spoken so far; all but the last are final until the story is."""
        files, speech = ChunkFiles(ctx.run), SpeechFiles(ctx.run)
        advance = ctx.progress.bar("Cutting chunks", None)
        cut = 0  # chunks cut so far

        def follow(upstream: Frontier) -> Frontier:
            nonlocal cut
            rate, segments = ctx.media.sample_rate, list(upstream.get(SEGMENTS))
            chunks = chunk_segments(segments, self.cut_size, rate, ctx.media.fps)
            final = chunks if upstream.done else chunks[:-1]
            reader = speech.reader(segments)
            for chunk in final[cut:]:
                span = segments[chunk.sentences[0] : chunk.sentences[-1] + 1]
                out = self.output(files.chunk_audio(chunk), rate, [(s.key, s.pad_before, s.pad_after) for s in span])
                self.make(ctx, out, partial(_write_span, reader, chunk.start, chunk.end, rate))
                advance(1)
            cut = len(final)
            if upstream.done:
                advance.total(len(final))
                write_json(files.chunks_file, {"cut_size": self.cut_size, "chunks": [c.to_dict() for c in chunks]})
            return upstream.publish(CHUNKS, final)

        return follow
