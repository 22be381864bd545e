"""Jobs on Ray actors: each actor unpacks the stage's backend once, then runs jobs with it.

At most ``max_in_flight`` jobs are out at a time, so memory stays flat, and a
job whose worker died is retried.  Every result is written by the worker
straight into the shared cache, atomically and under the entry's file lock, so
a dead worker leaves no finished-looking file.  The backend travels to the
workers as the object the stage built (pickled once per stage with
``ray.put``): it carries the run's resolved device and loads its models on
first use there.

The run dir and the cache must be on storage every worker sees (a shared
filesystem on a real cluster); a worker that cannot reach them fails with a
one-line error naming the path.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable, Iterable, Iterator

from deepstory.cache import DEFAULT_VERIFY, Cache, digest
from deepstory.errors import DeepstoryError, EnvironmentFailure
from deepstory.executor.base import Executor, Job
from deepstory.memory import tune_allocator


class _Worker:
    """A Ray actor: keeps each backend it is sent (by id), then runs jobs with it."""

    def __init__(
        self, cache_root: str, verify: str = DEFAULT_VERIFY, local: str | None = None, writable: bool | None = None
    ):
        tune_allocator()  # as the render's own process does
        # The render found whether cache_root can be written; where not, the worker writes to its local layer.
        self.cache = Cache(cache_root, verify=verify, local=local, writable=writable)
        self.backends: dict[str, Any] = {}
        self.done = 0
        self.seconds = 0.0

    def run(self, job: Job, backend: Any, backend_id: str) -> dict:
        start = time.perf_counter()
        root = self.cache.root
        if not root.is_dir():
            raise EnvironmentFailure(
                f"cache_dir={root}: not reachable from worker {socket.gethostname()} "
                "(the run dir and cache must be on storage every worker sees)"
            )
        kept = self.backends.setdefault(backend_id, backend)
        self.cache.make(job.out, lambda tmp: job.task(tmp, kept))
        self.done += 1
        self.seconds += time.perf_counter() - start
        return {
            "key": job.out.key,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "seconds": self.seconds,
            "done": self.done,
        }


class RayExecutor(Executor):
    """Runs jobs on Ray actors.

    ``address``: ``auto`` joins a running cluster, ``null`` starts a local one
    with ``num_cpus``.  ``workers`` actors, each with ``cpus_per_worker`` CPUs
    and ``gpus_per_worker`` GPUs (fractions allowed) when the device is CUDA.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        max_in_flight: int | None = None,
        num_cpus: int | None = None,
        max_retries: int = 3,
    ) -> None:
        try:
            import ray
        except ModuleNotFoundError as exc:
            raise EnvironmentFailure("executor=ray needs Ray: pip install 'deepstory[ray]'") from exc
        self.ray = ray
        self.address, self.workers = address, int(workers)
        self.cpus, self.gpus = float(cpus_per_worker), float(gpus_per_worker)
        self.max_in_flight = int(max_in_flight or 2 * self.workers)
        self.num_cpus, self.max_retries = num_cpus, int(max_retries)
        self._actors: list[Any] = []
        self.throughput: dict[str, dict] = {}

    def _start(self, cache: Cache) -> list[Any]:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
            ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, **kwargs)
        if not self._actors:
            actor = ray.remote(
                num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=-1, max_task_retries=self.max_retries
            )(_Worker)
            local = str(cache.local.resolve()) if cache.local is not None else None
            self._actors = [
                actor.remote(str(cache.root.resolve()), cache.verify, local, cache.writable)
                for _ in range(self.workers)
            ]
        return self._actors

    def run(self, cache: Cache, jobs: list[Job], backend: Any, advance: Callable[[int], None]) -> None:
        ray = self.ray
        todo: list[Job] = []
        for job in jobs:  # cached results need no worker
            if cache.reuse(job.out):  # a whole entry, placed and counted (a damaged one is set aside)
                advance(job.weight)
            else:
                todo.append(job)
        if not todo:
            return
        actors = self._start(cache)
        shared = ray.put(backend)
        backend_id = digest(type(backend).__qualname__, backend.identity())
        pending: dict[Any, Job] = {}
        queue = iter(todo)
        n = 0
        for job in _take(queue, self.max_in_flight):
            pending[actors[n % len(actors)].run.remote(job, shared, backend_id)] = job
            n += 1
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    report = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.as_instanceof_cause()
                    if isinstance(cause, DeepstoryError):  # the user's error class, not Ray's wrapper of it
                        kind = next(k for k in type(cause).__mro__ if k.__module__ == DeepstoryError.__module__)
                        raise kind(str(cause).splitlines()[0]) from None
                    raise
                self.throughput[report["worker"]] = report
                cache.record(job.out, made=True)  # made by a worker for this run
                advance(job.weight)
                for nxt in _take(queue, 1):
                    pending[actors[n % len(actors)].run.remote(nxt, shared, backend_id)] = nxt
                    n += 1

    def describe(self) -> dict:
        return {
            "executor": "ray",
            "workers": self.workers,
            "throughput": {
                w: {"jobs": r["done"], "seconds": round(r["seconds"], 2)} for w, r in self.throughput.items()
            },
        }

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors = []


def _take(it: Iterator[Job], n: int) -> Iterable[Job]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return
