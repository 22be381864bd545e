"""The interface of a layout: where the portraits go in the frame.

A layout is built once per render from the ``layout`` group and holds only its
settings.  Who is on screen (the *cast*) follows from the story:
:meth:`Layout.on_stage` picks it from the story's speakers, and every other
method takes it as an argument.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from deepstory.portrait.image import FRAMINGS


@dataclass(frozen=True)
class Tile:
    """Where one portrait goes, in frame pixels."""

    x: int
    y: int
    width: int
    height: int


def frame(size: Sequence[Any], where: str) -> tuple[int, int]:
    """``size`` as a checked ``(width, height)``: two even whole numbers from 16 to 8192 (H.264 yuv420p)."""
    if len(size) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 8192 and v % 2 == 0 for v in size
    ):
        raise ValueError(f"{where}={list(size)}: must be [width, height], even whole numbers from 16 to 8192")
    return int(size[0]), int(size[1])


def check_framing(value: Any, where: str = "layout.framing") -> str:
    """``value`` checked as a framing: ``face`` or ``image``."""
    if value not in FRAMINGS:
        raise ValueError(f"{where}={value!r}: must be one of {', '.join(FRAMINGS)}")
    return str(value)


class Layout(ABC):
    #: When set, every portrait is scaled so that its face box plus this fraction of its size on each side
    #: fits in its tile (small tiles would otherwise cut faces); ``None``: cover the tile, crop around the face.
    face_margin: float | None = None

    #: ``face``: a portrait whose face would be small in its tile shows its head and shoulders
    #: (``deepstory.portrait.image.face_crop``); ``image``: the whole image, covering the tile.
    framing: str = "face"

    #: The frame size (width, height) for a config that sets none (``video.width``/``video.height`` null).
    size: tuple[int, int] = (512, 512)

    @abstractmethod
    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        """Who is on screen all the time, given the story's speakers in order of appearance.

        Empty when only the speaker is shown.  A ``ValueError`` names a
        configured cast that leaves out a speaker.
        """

    def frame_size(self, speakers: Callable[[], Sequence[str]]) -> tuple[int, int]:
        """The frame size (width, height, both even) that suits this layout, for a config that sets none.

        ``speakers()`` parses the story and returns its speakers in order of
        appearance; a layout whose frame depends on its cast calls it.
        """
        return self.size

    @abstractmethod
    def tiles(self, cast: Sequence[str], speaker: str, width: int, height: int) -> dict[str, Tile]:
        """The tile of every portrait on screen while ``speaker`` speaks, the speaker's included."""

    def canvas(self, width: int, height: int) -> np.ndarray:
        """The uint8 ``[H, W, 3]`` picture behind the tiles."""
        return np.zeros((height, width, 3), dtype=np.uint8)

    def decorate(self, frames: np.ndarray, cast: Sequence[str], speaker: str, width: int, height: int) -> None:
        """Draw on finished frames in place (an outline around the speaker, say)."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Every setting that shapes the picture (part of each video segment's cache key)."""

    def close(self) -> None:
        """Layouts hold nothing to release."""
