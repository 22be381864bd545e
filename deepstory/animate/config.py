"""The schemas of ``models/animator`` (each animator) and of ``stages.animate`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.schema import Range, ranged

#: Frames per torch batch of an animator.
BATCH_SIZE = Range(1, 4096)
#: Frames per encoded video segment (``video.segment_frames``; ``stages.animate.segment_frames``).
SEGMENT_FRAMES = Range(1, 100000)
#: x264's constant rate factor (``video.crf``; ``stages.animate.crf``).
CRF = Range(0, 51)


@dataclass
class WarpConfig:
    """``models/animator=warp``: :class:`deepstory.animate.warp.WarpAnimator`."""

    _target_: str = "deepstory.animate.warp.WarpAnimator"
    batch_size: int = ranged(BATCH_SIZE)
    device: str = MISSING


@dataclass
class FOMMConfig:
    """``models/animator=fomm``: :class:`deepstory.animate.fomm.FOMMAnimator`."""

    _target_: str = "deepstory.animate.fomm.FOMMAnimator"
    checkpoint: str = MISSING
    batch_size: int = ranged(BATCH_SIZE)
    feather: float = ranged(Range(0, 0.5, whole=False))
    device: str = MISSING


@dataclass
class AnimateStageConfig:
    """``stages.animate``: :class:`deepstory.animate.stage.AnimateStage`."""

    _target_: str = "deepstory.animate.stage.AnimateStage"
    enabled: bool = MISSING
    animator: Any = MISSING
    crf: int = ranged(CRF)
    preset: str = MISSING
    segment_frames: int = ranged(SEGMENT_FRAMES)
    threads: Optional[int] = ranged(Range(1, 1024))
