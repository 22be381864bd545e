"""``layout=single``: the speaking character's portrait fills the frame, as in the original Deepstory."""

from __future__ import annotations

from typing import Any, Sequence

from deepstory.layout.base import Layout, Tile, frame


class SingleLayout(Layout):
    """The speaker alone, filling the frame; ``size`` is the frame when the config sets none."""

    def __init__(self, size: Sequence[int] = (512, 512)) -> None:
        self.size = frame(size, "layout.size")

    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        return []

    def tiles(self, cast: Sequence[str], speaker: str, width: int, height: int) -> dict[str, Tile]:
        return {speaker: Tile(0, 0, width, height)}

    def identity(self) -> dict[str, Any]:
        return {"layout": "single"}
