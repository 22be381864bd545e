"""Book prose -> a script: narration and quotes, each quote attributed to a character (issue #24)."""

from deepstory.script.attribute import Character, Script, Segment, attribute, looks_like_prose
from deepstory.script.characters import discover

__all__ = ["Character", "Script", "Segment", "attribute", "discover", "looks_like_prose"]
