"""Where portraits go in the frame.

* ``single``: the speaking character's portrait fills the frame (as the
  original Deepstory did).
* ``stage``: every character of the story is on screen at once, side by side
  (or in ``columns``); the one speaking talks, the others blink and breathe,
  and the speaker's tile can be outlined.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    width: int
    height: int


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


class SingleLayout:
    """The speaker alone, filling the frame."""

    def __init__(self) -> None:
        self.cast: list[str] = []

    def with_cast(self, speakers: Sequence[str]) -> "SingleLayout":
        return self

    def tiles(self, speaker: str, width: int, height: int) -> dict[str, Tile]:
        return {speaker: Tile(0, 0, width, height)}

    def canvas(self, width: int, height: int) -> np.ndarray:
        return np.zeros((height, width, 3), dtype=np.uint8)

    def decorate(self, frames: np.ndarray, speaker: str, width: int, height: int) -> None:
        return None

    def identity(self) -> dict:
        return {"layout": "single"}


class StageLayout:
    """All characters on screen in a grid of ``columns`` (default: one row), in story order.

    ``characters`` fixes who is on stage and in which order (default: everyone
    who speaks).  ``highlight`` outlines the speaker's tile in that RGB colour
    (``null`` for none).
    """

    def __init__(self, characters: Sequence[str] | None = None, columns: int | None = None, gap: int = 8,
                 background: Sequence[int] = (24, 24, 32), highlight: Sequence[int] | None = (240, 190, 60),
                 highlight_width: int = 4) -> None:
        self.characters = list(characters) if characters else None
        self.columns = columns
        self.gap = int(gap)
        self.background = tuple(int(v) for v in background)
        self.highlight = tuple(int(v) for v in highlight) if highlight is not None else None
        self.highlight_width = int(highlight_width)
        self.cast: list[str] = list(self.characters or [])

    def with_cast(self, speakers: Sequence[str]) -> "StageLayout":
        if self.characters is None:
            self.cast = list(speakers)
        else:
            missing = [s for s in speakers if s not in self.characters]
            if missing:
                raise ValueError(f"layout.characters leaves out speakers of the story: {', '.join(missing)}")
            self.cast = list(self.characters)
        return self

    def _grid(self, width: int, height: int) -> dict[str, Tile]:
        n = max(1, len(self.cast))
        cols = min(n, int(self.columns) if self.columns else n)
        rows = math.ceil(n / cols)
        tw = _even((width - self.gap * (cols + 1)) / cols)
        th = _even((height - self.gap * (rows + 1)) / rows)
        if tw < 16 or th < 16:
            raise ValueError(f"layout=stage: {n} characters do not fit in {width}x{height}")
        tiles = {}
        for i, name in enumerate(self.cast):
            r, c = divmod(i, cols)
            x = self.gap + c * (tw + self.gap) + (width - (cols * tw + (cols + 1) * self.gap)) // 2
            y = self.gap + r * (th + self.gap) + (height - (rows * th + (rows + 1) * self.gap)) // 2
            tiles[name] = Tile(x, y, tw, th)
        return tiles

    def tiles(self, speaker: str, width: int, height: int) -> dict[str, Tile]:
        return self._grid(width, height)

    def canvas(self, width: int, height: int) -> np.ndarray:
        return np.broadcast_to(np.array(self.background, dtype=np.uint8), (height, width, 3)).copy()

    def decorate(self, frames: np.ndarray, speaker: str, width: int, height: int) -> None:
        """Outline the speaker's tile, in place."""
        if self.highlight is None or speaker not in self.cast:
            return
        t = self._grid(width, height)[speaker]
        w = self.highlight_width
        x0, y0, x1, y1 = max(0, t.x - w), max(0, t.y - w), min(width, t.x + t.width + w), min(height, t.y + t.height + w)
        color = np.array(self.highlight, dtype=np.uint8)
        frames[:, y0:t.y, x0:x1] = color
        frames[:, t.y + t.height:y1, x0:x1] = color
        frames[:, y0:y1, x0:t.x] = color
        frames[:, y0:y1, t.x + t.width:x1] = color

    def identity(self) -> dict:
        return {"layout": "stage", "cast": self.cast, "columns": self.columns, "gap": self.gap,
                "background": self.background, "highlight": self.highlight, "highlight_width": self.highlight_width}
