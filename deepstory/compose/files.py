"""The compose stage's files: the exported video, audio and subtitles, and the key of the export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.kernel.context import RunDir


@dataclass(frozen=True)
class ComposeFiles:
    run: RunDir

    @property
    def video(self) -> Path:
        return self.run.export / "animated.mp4"

    @property
    def audio(self) -> Path:
        return self.run.export / "combined.wav"

    @property
    def subtitles(self) -> Path:
        return self.run.export / "animated.srt"

    @property
    def web_subtitles(self) -> Path:
        """The subtitles as WebVTT, for browsers (the report's ``<track>``)."""
        return self.run.export / "animated.vtt"

    @property
    def video_key(self) -> Path:
        return self.run.temp / "export.json"
