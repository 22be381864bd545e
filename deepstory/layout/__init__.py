"""Where portraits go in the frame: the speaker alone (``single``) or everyone on stage (``stage``)."""

from deepstory.layout.base import Layout, Tile
from deepstory.layout.grid import StageLayout
from deepstory.layout.single import SingleLayout

__all__ = ["Layout", "SingleLayout", "StageLayout", "Tile"]
