"""The scene a drawing stage sees: the kernel's context, plus the cast (portraits, faces) and the layout (who
is on screen, where).  What follows from them and the story (who is on stage, which of a speaker's images shows
when) is in :mod:`deepstory.staging`, above the story and speech rooms."""

from __future__ import annotations

from dataclasses import dataclass

from deepstory.kernel.context import RunContext
from deepstory.layout import Layout
from deepstory.portrait.cast import Cast


@dataclass(frozen=True)
class SceneContext(RunContext):
    """The run's context with the cast and the layout (built by the driver, handed to every built-in stage)."""

    cast: Cast
    layout: Layout

    def tile_size(self, speaker: str, on_stage: list[str]) -> tuple[int, int]:
        """The size the speaker's portrait is shown at (the frame, or its tile on stage)."""
        tile = self.layout.tiles(on_stage, speaker, *self.media.size).get(speaker)
        return (tile.width, tile.height) if tile is not None else self.media.size
