"""The schemas of the ``executor`` group (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.schema import Range, ranged


@dataclass
class LocalExecutorConfig:
    """``executor=local``: :class:`deepstory.executor.local.LocalExecutor`."""

    _target_: str = "deepstory.executor.local.LocalExecutor"


@dataclass
class RayExecutorConfig:
    """``executor=ray``: :class:`deepstory.executor.ray.RayExecutor`."""

    _target_: str = "deepstory.executor.ray.RayExecutor"
    address: Optional[str] = MISSING
    num_cpus: Optional[int] = ranged(Range(1, 100000))
    workers: int = ranged(Range(1, 100000))
    # Any, checked as a number: a float field would turn the YAML's 1 into 1.0, and change the config's hash.
    cpus_per_worker: Any = ranged(Range(0, whole=False))
    gpus_per_worker: Any = ranged(Range(0, whole=False))
    max_in_flight: Optional[int] = ranged(Range(1, 1000000))
    max_retries: int = ranged(Range(0, 1000))
