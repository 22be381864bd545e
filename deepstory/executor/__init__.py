"""Where chunk and segment work runs: here (:class:`LocalExecutor`) or on a Ray cluster (:class:`RayExecutor`)."""

from deepstory.executor.base import Executor, Job, Task
from deepstory.executor.local import LocalExecutor
from deepstory.executor.ray import RayExecutor

__all__ = ["Executor", "Job", "LocalExecutor", "RayExecutor", "Task"]
