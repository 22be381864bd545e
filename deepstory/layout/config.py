"""The schemas of the ``layout`` group (``deepstory.schema``); defaults are the YAML's.

The frame sizes (``size``, ``sizes``) are checked by the layouts themselves (``deepstory.layout.base.frame``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.portrait.image import FRAMINGS
from deepstory.schema import OneOf, Range, ranged


@dataclass
class SingleLayoutConfig:
    """``layout=single``: :class:`deepstory.layout.single.SingleLayout`."""

    _target_: str = "deepstory.layout.single.SingleLayout"
    size: list[int] = MISSING
    framing: str = ranged(OneOf(FRAMINGS))


@dataclass
class StageLayoutConfig:
    """``layout=stage``: :class:`deepstory.layout.grid.StageLayout`."""

    _target_: str = "deepstory.layout.grid.StageLayout"
    characters: Optional[list[str]] = MISSING
    columns: Optional[int] = ranged(Range(1, 100))
    sizes: list[Any] = MISSING
    gap: int = ranged(Range(0, 1000))
    background: list[int] = MISSING
    highlight: Optional[list[int]] = MISSING
    highlight_width: int = ranged(Range(0, 1000))
    face_margin: Optional[float] = ranged(Range(0, 10, whole=False))
    framing: str = ranged(OneOf(FRAMINGS))
