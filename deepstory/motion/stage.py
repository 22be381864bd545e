"""Each chunk's speech -> its motion track ``temp/motion/cNNNNN.npy`` (the "base"), and the listeners' tracks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from deepstory.executor import Job
from deepstory.files import write_json, write_npy
from deepstory.motion.base import MotionBackend
from deepstory.portrait import Portrait
from deepstory.run.context import RunContext, SpeechFiles
from deepstory.run.stage import Stage
from deepstory.timeline import overlapping, sample_at


@dataclass
class MotionTask:
    """One chunk's motion track (or its listeners' tracks), picklable for remote workers."""

    speech: SpeechFiles
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


class MotionStage(Stage):
    """Motion tracks with ``motion`` (``models.motion``), chunk by chunk, through the run's executor.

    Writes ``temp/motion/track.json``: the track format, which the animate stage checks against its animator.
    """

    def __init__(self, motion: MotionBackend, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.motion = motion

    def run(self, ctx: RunContext) -> None:
        files, rate, fps = ctx.files, ctx.media.sample_rate, ctx.media.fps
        segments, chunks = files.segments(), files.chunks()
        speech = files.speech_files(segments)
        motion = self.motion
        # The track's channels are part of every key: a format that grows never reuses an old track.
        identity = {**motion.identity(), "format": [motion.format.name, *motion.format.channels]}
        on_stage = ctx.on_stage()
        cast = tuple(on_stage)

        def portraits(who) -> dict[str, Portrait]:
            return {m: ctx.cast.portrait(m, ctx.tile_size(m, on_stage)) for m in who} if motion.needs_portrait else {}

        def portrait_keys(who) -> list[str]:
            return [ctx.cast.portrait_key(m, ctx.tile_size(m, on_stage)) for m in who] if motion.needs_portrait else []

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
        ctx.executor.run(ctx.cache, jobs, motion, ctx.progress.bar("Motion tracks", len(jobs)))
        write_json(files.motion_format, {"format": motion.format.name, "channels": list(motion.format.channels)})

    def close(self) -> None:
        self.motion.close()

    def identity(self) -> dict[str, Any]:
        return {"motion": self.motion.identity()}
