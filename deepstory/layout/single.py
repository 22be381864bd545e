"""``layout=single``: the speaking character's portrait fills the frame, as in the original Deepstory."""

from __future__ import annotations

from typing import Any, Sequence

from deepstory.layout.base import Layout, Tile, check_framing, frame


class SingleLayout(Layout):
    """The speaker alone, filling the frame; ``size`` is the frame when the config sets none.

    ``framing``: ``face`` shows the head and shoulders of a portrait whose face would be small in the frame,
    ``image`` the whole image (see :class:`deepstory.layout.base.Layout`).
    """

    def __init__(self, size: Sequence[int] = (512, 512), framing: str = "face") -> None:
        self.size = frame(size, "layout.size")
        self.framing = check_framing(framing)

    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        return []

    def tiles(self, cast: Sequence[str], speaker: str, width: int, height: int) -> dict[str, Tile]:
        return {speaker: Tile(0, 0, width, height)}

    def identity(self) -> dict[str, Any]:
        return {"layout": "single", "framing": self.framing}
