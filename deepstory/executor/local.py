"""Jobs run here, one after another, with the stage's own backend."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from deepstory.cache import Cache
from deepstory.executor.base import Executor, Job, Task


class LocalExecutor(Executor):
    name = "local"

    def run(self, cache: Cache, jobs: list[Job], backend: Any, advance: Callable[[int], None]) -> None:
        for job in jobs:
            cache.get(job.out, partial(_call, job.task, backend=backend))
            advance(job.weight)


def _call(task: Task, tmp: Path, backend: Any) -> None:
    task(tmp, backend)
