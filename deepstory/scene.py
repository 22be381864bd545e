"""The scene a drawing stage sees: the kernel's context, plus the cast (portraits, faces) and the layout (who
is on screen, where), and what follows from them and the story (who is on stage, each tile's size, which of a
speaker's images shows when)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from deepstory.kernel.context import RunContext
from deepstory.layout import Layout
from deepstory.portrait.cast import Cast
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles
from deepstory.timeline import Segment


@dataclass(frozen=True)
class SceneContext(RunContext):
    """The run's context with the cast and the layout (built by the driver, handed to every built-in stage)."""

    cast: Cast
    layout: Layout

    # -- derived from the story --------------------------------------------------------------
    def on_stage(self) -> list[str]:
        """Who the layout keeps on screen (empty: only the speaker)."""
        return self.layout.on_stage(StoryFiles(self.run).speakers())

    def tile_size(self, speaker: str, on_stage: list[str]) -> tuple[int, int]:
        """The size the speaker's portrait is shown at (the frame, or its tile on stage)."""
        tile = self.layout.tiles(on_stage, speaker, *self.media.size).get(speaker)
        return (tile.width, tile.height) if tile is not None else self.media.size

    def image_runs(self, segments: Sequence[Segment] | None = None) -> list[tuple[int, int, int]]:
        """``(image index, first frame, end frame)`` for every sentence of ``segments`` (default: the timeline's)."""
        sentences = StoryFiles(self.run).sentences()
        return [
            (sentences[seg.sentence].image, self.media.frame_at(seg.start), self.media.frame_at(seg.end))
            for seg in (SpeechFiles(self.run).segments() if segments is None else segments)
        ]
