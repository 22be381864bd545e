"""The schema of ``stages.contact`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from deepstory.schema import Range, ranged


@dataclass
class ContactStageConfig:
    """``stages.contact``: :class:`deepstory.contact.stage.ContactStage`."""

    _target_: str = "deepstory.contact.stage.ContactStage"
    enabled: bool = MISSING
    animator: Any = MISSING
    size: int = ranged(Range(16, 4096))
