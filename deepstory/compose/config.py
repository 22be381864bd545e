"""The schema of ``stages.compose`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class ComposeStageConfig:
    """``stages.compose``: :class:`deepstory.compose.stage.ComposeStage`."""

    _target_: str = "deepstory.compose.stage.ComposeStage"
    enabled: bool = MISSING
    audio_bitrate: str = MISSING
