"""The motion stage's files: each chunk's motion track (the "base"), its listeners' tracks, the track format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.kernel.context import RunDir
from deepstory.timeline import Chunk


@dataclass(frozen=True)
class MotionFiles:
    run: RunDir

    def motion(self, chunk: Chunk) -> Path:
        return self.run.temp / "motion" / f"{chunk.name}.npy"

    def cast_motion(self, chunk: Chunk) -> Path:
        return self.run.temp / "motion" / f"{chunk.name}.cast.npy"

    @property
    def motion_format(self) -> Path:
        return self.run.temp / "motion" / "track.json"
