"""``layout=stage``: every character of the story on screen at once, in a grid.

The one speaking talks, the others blink and breathe, and the speaker's tile
can be outlined.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from deepstory.layout.base import Layout, Tile, check_framing, frame

#: The frame for a config that sets none, by how many are on stage (``up_to`` null: any number).
SIZES = (
    {"up_to": 2, "size": (512, 512)},
    {"up_to": 6, "size": (1280, 720)},
    {"up_to": None, "size": (1920, 1080)},
)


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


class StageLayout(Layout):
    """All characters on screen in a grid of ``columns``, in story order.

    ``columns`` null: the arrangement that shows the faces largest in the frame
    (one row for two or three characters in a wide frame, then a grid).
    ``characters`` fixes who is on stage and in which order (default: everyone
    who speaks).  ``sizes``: the frame for a config that sets none, by how many
    are on stage, each ``{up_to: N, size: [width, height]}`` (the first that
    covers the cast; ``up_to`` null: any number).  ``highlight`` outlines the speaker's tile in that RGB colour
    (``null`` for none).  ``face_margin``: every face is kept whole in its tile,
    with this fraction of its size around it (``null``: cover the tile and crop).  ``framing``: ``face`` shows
    the head and shoulders of a portrait whose face would be small in its tile, ``image`` the whole image.
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
        sizes: Sequence[Mapping[str, Any]] = SIZES,
        framing: str = "face",
    ) -> None:
        self.characters = list(characters) if characters else None
        self.columns = columns
        self.gap = int(gap)
        self.background = tuple(int(v) for v in background)
        self.highlight = tuple(int(v) for v in highlight) if highlight is not None else None
        self.highlight_width = int(highlight_width)
        self.face_margin = None if face_margin is None else float(face_margin)
        self.framing = check_framing(framing)
        self.sizes: list[tuple[int | None, tuple[int, int]]] = []
        for i, entry in enumerate(sizes):
            up_to = entry.get("up_to")
            if up_to is not None and (isinstance(up_to, bool) or not isinstance(up_to, int) or up_to < 1):
                raise ValueError(f"layout.sizes.{i}.up_to={up_to!r}: must be a whole number of characters or null")
            self.sizes.append((up_to, frame(list(entry.get("size") or ()), f"layout.sizes.{i}.size")))
        if not self.sizes:
            raise ValueError("layout.sizes: needs at least one {up_to: N, size: [width, height]}")

    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        if self.characters is None:
            return list(speakers)
        missing = [s for s in speakers if s not in self.characters]
        if missing:
            raise ValueError(f"layout.characters leaves out speakers of the story: {', '.join(missing)}")
        return list(self.characters)

    def frame_size(self, speakers: Callable[[], Sequence[str]]) -> tuple[int, int]:
        """The first of ``sizes`` whose ``up_to`` covers the cast (the last one if none does)."""
        n = len(self.on_stage(speakers()))
        return next((size for up_to, size in self.sizes if up_to is None or n <= up_to), self.sizes[-1][1])

    def _tile_size(self, n: int, cols: int, width: int, height: int) -> tuple[int, int, int]:
        rows = math.ceil(n / cols)
        return rows, _even((width - self.gap * (cols + 1)) / cols), _even((height - self.gap * (rows + 1)) / rows)

    def _columns(self, n: int, width: int, height: int) -> int:
        """``columns``, or the one whose tiles show the faces largest (a face with its margin is about as
        wide as high: the tile's shorter side); on a tie, fewer empty tiles, then fewer rows."""
        if self.columns:
            return min(n, int(self.columns))

        def score(cols: int) -> tuple[int, int, int]:
            rows, tw, th = self._tile_size(n, cols, width, height)
            return min(tw, th), -(rows * cols - n), -rows

        return max(range(1, n + 1), key=score)

    def _grid(self, cast: Sequence[str], width: int, height: int) -> dict[str, Tile]:
        n = max(1, len(cast))
        cols = self._columns(n, width, height)
        rows, tw, th = self._tile_size(n, cols, width, height)
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
            "framing": self.framing,
        }  # sizes: not here, the frame size keys every segment already
