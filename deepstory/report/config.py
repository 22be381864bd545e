"""The schemas of ``report.*`` and of ``stages.report`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.schema import Range, ranged


@dataclass
class ReportConfig:
    """``report``: both HTML reports on or off, and the render's reference time."""

    enabled: bool = MISSING
    # Any: a word (``soon``) is answered with the range, as a number out of it is.
    reference_seconds: Optional[Any] = ranged(Range(0, whole=False, above=True, unit="of seconds"))


@dataclass
class ReportStageConfig:
    """``stages.report``: :class:`deepstory.report.stage.ReportStage`."""

    _target_: str = "deepstory.report.stage.ReportStage"
    enabled: bool = MISSING
    window: float = ranged(Range(0, whole=False, above=True, unit="of seconds"))
    window_start: Optional[float] = MISSING
    thumbnail: int = ranged(Range(16, 4096))
