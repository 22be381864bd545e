"""Each chunk's speech -> its motion track ``temp/motion/cNNNNN.npy`` (the "base"), and the listeners' tracks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from deepstory.chunk.files import ChunkFiles
from deepstory.chunk.stage import CHUNKS
from deepstory.executor import Job
from deepstory.files import write_json, write_npy
from deepstory.kernel.stage import Follow, Frontier, Stage
from deepstory.motion.base import MotionBackend
from deepstory.motion.files import MotionFiles
from deepstory.portrait import Portrait
from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles, SpeechSource
from deepstory.speech.stage import SEGMENTS
from deepstory.staging import on_stage
from deepstory.timeline import Chunk, Segment, overlapping, sample_at

#: The frontier name of the chunks whose motion tracks are made, from the first (a prefix of ``chunks``).
MOVED = "moved"


@dataclass
class MotionTask:
    """One chunk's motion track (or its listeners' tracks), picklable for remote workers."""

    speech: SpeechSource
    speaker: str
    first_frame: int
    frames: int
    portraits: dict[str, Portrait]  # speaker -> portrait at its tile size, for backends that need one
    cast: tuple[str, ...] = ()  # non-empty: the listeners' idle tracks, stacked [frames, len(cast), C]
    sample_rate: int = 22050  # of the speech (for phone timings)

    def __call__(self, tmp: Path, motion: MotionBackend) -> None:
        fmt = motion.format
        if self.cast:
            track = np.stack(
                [
                    fmt.check(
                        motion.idle(self.first_frame, self.frames, m, self.portraits.get(m)),
                        self.frames,
                        f"{type(motion).__name__}.idle",
                    )
                    for m in self.cast
                ],
                1,
            )
        else:
            track = fmt.check(
                motion.track(
                    self.speech.reader().read,
                    self.first_frame,
                    self.frames,
                    self.speaker,
                    self.portraits.get(self.speaker),
                    phones=partial(self.speech.phones, sample_rate=self.sample_rate),
                ),
                self.frames,
                f"{type(motion).__name__}.track",
            )
        write_npy(tmp, track)


class MotionStage(Stage[SceneContext]):
    """Motion tracks with ``motion`` (``models.motion``), chunk by chunk, through the run's executor.

    Writes ``temp/motion/track.json`` first: the track format, which the animate stage checks against its animator.
    """

    follows = True
    reads = (SEGMENTS, CHUNKS)
    publishes = (MOVED,)

    def __init__(self, motion: MotionBackend, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.motion = motion

    def run(self, ctx: SceneContext) -> None:
        finished = Frontier(done=True).publish(SEGMENTS, SpeechFiles(ctx.run).segments())
        self.start(ctx)(finished.publish(CHUNKS, ChunkFiles(ctx.run).chunks()))

    def start(self, ctx: SceneContext) -> Follow:
        """The tracks of every final chunk whose audio, context included, is spoken."""
        rate, fps, motion = ctx.media.sample_rate, ctx.media.fps, self.motion
        # The format first: the animate stage checks it against its animator before any frame.
        fmt = motion.format
        write_json(MotionFiles(ctx.run).motion_format, {"format": fmt.name, "channels": list(fmt.channels)})
        advance = ctx.progress.bar("Motion tracks", None)
        # The track's channels are part of every key: a format that grows never reuses an old track.
        identity = {**motion.identity(), "format": [fmt.name, *fmt.channels]}
        made = 0  # chunks whose tracks are made, from the first

        def follow(upstream: Frontier) -> Frontier:
            nonlocal made
            segments, chunks = list(upstream.get(SEGMENTS)), upstream.get(CHUNKS)
            spoken = segments[-1].end if segments else 0
            ready = made
            while ready < len(chunks) and (
                upstream.done
                or sample_at(chunks[ready].first_frame + chunks[ready].frames + motion.context + 1, rate, fps) <= spoken
            ):
                ready += 1
            jobs = self._jobs(ctx, chunks[made:ready], segments, identity)
            ctx.executor.run(ctx.cache, jobs, motion, advance)
            made = ready
            done = upstream.done and ready == len(chunks)
            if done:
                advance.total(len(chunks) * (1 + bool(on_stage(ctx))))
            return upstream.publish(MOVED, chunks[:ready], done=done)

        return follow

    def _jobs(
        self, ctx: SceneContext, chunks: Sequence[Chunk], segments: list[Segment], identity: dict[str, Any]
    ) -> list[Job]:
        """Each chunk's speaker track and, with a cast on stage, its listeners' tracks."""
        files, rate, fps, motion = MotionFiles(ctx.run), ctx.media.sample_rate, ctx.media.fps, self.motion
        if not chunks:
            return []
        speech = SpeechFiles(ctx.run).source(segments)
        shown = on_stage(ctx)
        cast = tuple(shown)

        def portraits(who) -> dict[str, Portrait]:
            return {m: ctx.cast.portrait(m, ctx.tile_size(m, shown)) for m in who} if motion.needs_portrait else {}

        def portrait_keys(who) -> list[str]:
            return [ctx.cast.portrait_key(m, ctx.tile_size(m, shown)) for m in who] if motion.needs_portrait else []

        jobs = []
        for chunk in chunks:
            lo = sample_at(chunk.first_frame - motion.context, rate, fps)
            hi = sample_at(chunk.first_frame + chunk.frames + motion.context + 1, rate, fps)
            heard = [(s.start, s.pad_before, s.speech, s.key) for s in overlapping(segments, lo, hi)]
            out = self.output(
                files.motion(chunk),
                identity,
                chunk.speaker,
                chunk.first_frame,
                chunk.frames,
                heard,
                portrait_keys([chunk.speaker]),
            )
            jobs.append(
                Job(
                    out,
                    MotionTask(
                        speech, chunk.speaker, chunk.first_frame, chunk.frames, portraits([chunk.speaker]), (), rate
                    ),
                )
            )
            if cast:  # the listeners on stage: blinks, drift and breathing, mouths shut
                out = self.output(
                    files.cast_motion(chunk),
                    "cast",
                    identity,
                    cast,
                    chunk.first_frame,
                    chunk.frames,
                    portrait_keys(cast),
                )
                jobs.append(
                    Job(
                        out,
                        MotionTask(speech, chunk.speaker, chunk.first_frame, chunk.frames, portraits(cast), cast, rate),
                    )
                )
        return jobs

    def close(self) -> None:
        self.motion.close()

    def identity(self) -> dict[str, Any]:
        return {"motion": self.motion.identity()}
