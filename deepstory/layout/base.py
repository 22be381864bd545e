"""The interface of a layout: where the portraits go in the frame.

A layout is built once per render from the ``layout`` group and holds only its
settings.  Who is on screen (the *cast*) follows from the story:
:meth:`Layout.on_stage` picks it from the story's speakers, and every other
method takes it as an argument.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Tile:
    """Where one portrait goes, in frame pixels."""

    x: int
    y: int
    width: int
    height: int


class Layout(ABC):
    #: When set, every portrait is scaled so that its face box plus this fraction of its size on each side
    #: fits in its tile (small tiles would otherwise cut faces); ``None``: cover the tile, crop around the face.
    face_margin: float | None = None

    @abstractmethod
    def on_stage(self, speakers: Sequence[str]) -> list[str]:
        """Who is on screen all the time, given the story's speakers in order of appearance.

        Empty when only the speaker is shown.  A ``ValueError`` names a
        configured cast that leaves out a speaker.
        """

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
