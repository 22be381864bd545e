"""The schema of ``stages.lipsync`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class LipSyncStageConfig:
    """``stages.lipsync``: :class:`deepstory.lipsync.stage.LipSyncStage`."""

    _target_: str = "deepstory.lipsync.stage.LipSyncStage"
    enabled: bool = MISSING
