"""The interface of an executor: where per-chunk and per-segment work runs.

After speech and chunking, chunks (motion) and video segments (animation and
encoding) are independent.  A stage describes each piece of work as a
:class:`Job`: the :class:`~deepstory.cache.Output` it makes (cache key and
destination) and a picklable task that writes the result to a path it is
given, using the stage's backend.  An executor makes the outputs that are not
cached yet and places every output in the run dir; the cache counts hits and
misses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from deepstory.cache import Cache, Output


class Task(Protocol):
    """Writes one result to ``tmp`` with ``backend``; picklable, so a remote worker can run it."""

    def __call__(self, tmp: Path, backend: Any, /) -> None: ...


@dataclass
class Job:
    out: Output
    task: Task
    weight: int = 1  # progress units (frames for segments)


class Executor(ABC):
    """Runs a stage's jobs with its backend.  Built once per render from the ``executor`` group."""

    name: str = "executor"

    @abstractmethod
    def run(self, cache: Cache, jobs: list[Job], backend: Any, advance: Callable[[int], None]) -> None:
        """Make every job's output (or find it in ``cache``), place it at its destination, ``advance(weight)`` each."""

    def describe(self) -> dict[str, Any]:
        """What ran where, for the manifest and the summary."""
        return {"executor": self.name}

    def identity(self) -> dict[str, Any]:
        """Executors never change what is rendered: nothing goes into cache keys."""
        return {}

    def close(self) -> None:
        """Stop workers; called when the render ends, however it ends."""
