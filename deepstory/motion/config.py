"""The schemas of ``models/motion`` (each backend) and of ``stages.motion`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from deepstory.schema import Range, ranged


@dataclass
class EnvelopeConfig:
    """``models/motion=envelope``: :class:`deepstory.motion.envelope.EnvelopeMotion`."""

    _target_: str = "deepstory.motion.envelope.EnvelopeMotion"
    sample_rate: int = MISSING
    fps: int = MISSING
    seed: int = MISSING


@dataclass
class VisemesConfig(EnvelopeConfig):
    """``models/motion=visemes``: :class:`deepstory.motion.visemes.VisemeMotion`."""

    _target_: str = "deepstory.motion.visemes.VisemeMotion"
    lead: float = ranged(Range(-1, 1, whole=False))


@dataclass
class SDAConfig:
    """``models/motion=sda``: :class:`deepstory.motion.sda.SDAMotion` (it checks ``fps`` against its model)."""

    _target_: str = "deepstory.motion.sda.SDAMotion"
    checkpoint: str = MISSING
    fomm_checkpoint: str = MISSING
    sample_rate: int = MISSING
    fps: int = MISSING
    seed: int = MISSING
    device: str = MISSING
    window: int = ranged(Range(1, 100000))
    kp_batch: int = ranged(Range(1, 100000))


@dataclass
class MotionStageConfig:
    """``stages.motion``: :class:`deepstory.motion.stage.MotionStage`."""

    _target_: str = "deepstory.motion.stage.MotionStage"
    enabled: bool = MISSING
    motion: Any = MISSING
