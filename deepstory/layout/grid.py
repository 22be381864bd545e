"""``layout=stage``: every character of the story on screen at once, in a grid.

The one speaking talks, the others blink and breathe, and the speaker's tile
can be outlined.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from deepstory.layout.base import Layout, Tile


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


class StageLayout(Layout):
    """All characters on screen in a grid of ``columns`` (default: one row), in story order.

    ``characters`` fixes who is on stage and in which order (default: everyone
    who speaks).  ``highlight`` outlines the speaker's tile in that RGB colour
    (``null`` for none).  ``face_margin``: every face is kept whole in its tile,
    with this fraction of its size around it (``null``: cover the tile and crop).
    """

    def __init__(
        self,
        characters: Sequence[str] | None = None,
        columns: int | None = None,
        gap: int = 8,
        background: Sequence[int] = (24, 24, 32),
        highlight: Sequence[int] | None = (240, 190, 60),
        highlight_width: int = 4,
        face_margin: float | None = 0.15,
    ) -> None:
        self.characters = list(characters) if characters else None
        self.columns = columns
        self.gap = int(gap)
        self.background = tuple(int(v) for v in background)
        self.highlight = tuple(int(v) for v in highlight) if highlight is not None else None
        self.highlight_width = int(highlight_width)
        self.face_margin = None if face_margin is None else float(face_margin)

    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        if self.characters is None:
            return list(speakers)
        missing = [s for s in speakers if s not in self.characters]
        if missing:
            raise ValueError(f"layout.characters leaves out speakers of the story: {', '.join(missing)}")
        return list(self.characters)

    def _grid(self, cast: Sequence[str], width: int, height: int) -> dict[str, Tile]:
        n = max(1, len(cast))
        cols = min(n, int(self.columns) if self.columns else n)
        rows = math.ceil(n / cols)
        tw = _even((width - self.gap * (cols + 1)) / cols)
        th = _even((height - self.gap * (rows + 1)) / rows)
        if tw < 16 or th < 16:
            raise ValueError(f"layout=stage: {n} characters do not fit in {width}x{height}")
        tiles = {}
        for i, name in enumerate(cast):
            r, c = divmod(i, cols)
            x = self.gap + c * (tw + self.gap) + (width - (cols * tw + (cols + 1) * self.gap)) // 2
            y = self.gap + r * (th + self.gap) + (height - (rows * th + (rows + 1) * self.gap)) // 2
            tiles[name] = Tile(x, y, tw, th)
        return tiles

    def tiles(self, cast: Sequence[str], speaker: str, width: int, height: int) -> dict[str, Tile]:
        return self._grid(cast, width, height)

    def canvas(self, width: int, height: int) -> np.ndarray:
        return np.broadcast_to(np.array(self.background, dtype=np.uint8), (height, width, 3)).copy()

    def decorate(self, frames: np.ndarray, cast: Sequence[str], speaker: str, width: int, height: int) -> None:
        """Outline the speaker's tile, in place."""
        if self.highlight is None or speaker not in cast:
            return
        t = self._grid(cast, width, height)[speaker]
        w = self.highlight_width
        x0, y0, x1, y1 = (
            max(0, t.x - w),
            max(0, t.y - w),
            min(width, t.x + t.width + w),
            min(height, t.y + t.height + w),
        )
        color = np.array(self.highlight, dtype=np.uint8)
        frames[:, y0 : t.y, x0:x1] = color
        frames[:, t.y + t.height : y1, x0:x1] = color
        frames[:, y0:y1, x0 : t.x] = color
        frames[:, y0:y1, t.x + t.width : x1] = color

    def identity(self) -> dict[str, Any]:
        return {
            "layout": "stage",
            "columns": self.columns,
            "gap": self.gap,
            "characters": self.characters,
            "background": self.background,
            "highlight": self.highlight,
            "highlight_width": self.highlight_width,
            "face_margin": self.face_margin,
        }
