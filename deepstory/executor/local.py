"""Jobs run here, one after another, with the stage's own backend."""
from __future__ import annotations

from typing import Any, Callable

from deepstory.cache import Cache
from deepstory.executor.base import Executor, Job


class LocalExecutor(Executor):
    name = "local"

    def run(self, cache: Cache, jobs: list[Job], backend: Any, advance: Callable[[int], None]) -> None:
        for job in jobs:
            cache.get(job.out, lambda tmp, job=job: job.task(tmp, backend))
            advance(job.weight)
