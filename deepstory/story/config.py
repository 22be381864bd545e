"""The schemas of the ``story`` group and of ``stages.story`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.schema import Range, ranged

#: Words per piece of a long sentence (``max_words``).
MAX_WORDS = Range(3, 1000)


@dataclass
class StoryConfig:
    """``conf/story/*.yaml``."""

    text_path: str = MISSING
    encoding: str = MISSING
    default_speaker: str = MISSING
    speaker_map: dict[str, str] = MISSING
    chapter: Any = None
    format: str = MISSING
    aliases: Optional[str] = None
    cast: str = MISSING


@dataclass
class StoryStageConfig:
    """``stages.story``: :class:`deepstory.story.stage.StoryStage`."""

    _target_: str = "deepstory.story.stage.StoryStage"
    enabled: bool = MISSING
    text_path: str = MISSING
    encoding: str = MISSING
    default_speaker: str = MISSING
    speaker_map: dict[str, str] = MISSING
    chapter: Any = None
    format: str = MISSING
    aliases: Optional[str] = None
    cast: str = MISSING
    max_words: int = ranged(MAX_WORDS)
