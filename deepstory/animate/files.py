"""The animate stage's files: the encoded video segments on their fixed grid, and their index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.kernel.context import RunDir


@dataclass(frozen=True)
class AnimateFiles:
    run: RunDir

    def clip(self, segment: int) -> Path:
        return self.run.temp / "animated" / f"v{segment:05d}.mp4"

    @property
    def clips_file(self) -> Path:
        return self.run.temp / "animated" / "segments.json"
