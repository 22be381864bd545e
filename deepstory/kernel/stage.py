r"""The interface of a pipeline stage, and what stages running side by side tell each other (the frontier).

A stage reads the files earlier stages wrote and writes its own, each
atomically; the paths and loaders of a stage's files live in its own room
(``deepstory/<stage>/files.py``), and the kernel knows none of them.  Stages
are listed, in order, under ``stages:`` in ``conf/config.yaml``; each is built
from its ``_target_`` with its settings and its backend nested, and one loop
(:func:`deepstory.run.render.render`) runs them:

1. every stage is built (config mistakes surface before any work);
2. the *quick* stages at the head of the list run (parsing the story);
3. every remaining stage's :meth:`Stage.check` runs (cheap checks, before any
   expensive work);
4. the remaining stages run, each :meth:`Stage.close`\ d when done;
5. ``export/manifest.json`` is written, then the *reporting* stages run
   (:attr:`Stage.reports`): they read the manifest.

**Side by side** (``overlap: true``): a stage that *leads* (:meth:`Stage.lead`)
runs in its own process and publishes, after each step, what is final so far
as a :class:`Frontier`; each stage after it that *follows*
(:meth:`Stage.start`) makes the outputs that what is final allows and
publishes its own.  A frontier is a set of named, growing tuples: a stage
publishes under the names it declares (:attr:`Stage.publishes`) and reads the
names it declares (:attr:`Stage.reads`); the runner checks that each name read
is published by a stage before it.  Run alone, a following stage is handed the
finished frontier of its inputs, read from their files: the same code makes
every output either way, so the files are identical.

Stage objects hold no per-run state: a following stage's progress through one
run lives in the :data:`Follow` that :meth:`Stage.start` returns.

Outputs worth keeping go through :meth:`Stage.output` and the cache: a stage
states what an output depends on and how to make it; the cache finds or makes
it and counts hits and misses under the stage's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Generic, Mapping, Sequence, TypeVar

from deepstory.cache import Cache, Output
from deepstory.kernel.context import RunContext

#: The context a stage is handed: the kernel's, or one that extends it (a drawing stage's scene).
Ctx = TypeVar("Ctx", bound=RunContext)


@dataclass(frozen=True)
class Frontier:
    """How much of the story is final, while stages run side by side (see the module's doc).

    ``outputs[name]`` is a tuple that only grows: each is a prefix of what the
    finished render holds under that name, so nothing in it changes when more
    of the story comes.  ``done``: everything before is finished, every tuple
    is whole.
    """

    done: bool = False
    outputs: Mapping[str, tuple] = field(default_factory=dict)

    def get(self, name: str) -> tuple:
        """What is final under ``name`` so far (empty if nothing was published under it)."""
        return self.outputs.get(name, ())

    def publish(self, name: str, items: Sequence[Any], done: bool | None = None) -> Frontier:
        """This frontier with ``name`` set to ``items`` (and ``done`` changed, if given)."""
        return Frontier(self.done if done is None else done, {**self.outputs, name: tuple(items)})


#: A following stage's work through one run: called with each growing frontier of its inputs (the last one
#: ``done``), it makes what that allows and returns the frontier with its own outputs published.
Follow = Callable[[Frontier], Frontier]


class Stage(ABC, Generic[Ctx]):
    """One step of the pipeline, handed a context of type ``Ctx``."""

    #: The stage's name: its key under ``stages:``, set by the runner.  Names its timing and cache entries.
    name: str = "stage"
    #: A quick stage (no synthesis, no rendering) runs before the other stages are checked.
    quick: bool = False
    #: A reporting stage runs after ``export/manifest.json`` is written, and reads it (``deepstory.report``).
    reports: bool = False

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)

    def check(self, ctx: Ctx) -> None:
        """Cheap checks before any expensive work; raise a ``UserError`` naming the bad value.

        By default: the backend's :meth:`identity`, which finds its model files (a missing checkpoint
        fails here, before any synthesis).
        """
        self.identity()

    @abstractmethod
    def run(self, ctx: Ctx) -> None:
        """Read earlier stages' files, write this stage's."""

    #: Runs ahead of the stages after it, publishing what is final as it goes (:meth:`lead`).
    leads: ClassVar[bool] = False
    #: Can run beside the stages before it, on what they have finished so far (:meth:`start`).
    follows: ClassVar[bool] = False
    #: The frontier names this stage publishes (leading or following).
    publishes: ClassVar[tuple[str, ...]] = ()
    #: The frontier names a following stage reads (each published by a stage before it).
    reads: ClassVar[tuple[str, ...]] = ()

    def lead(self, ctx: Ctx, publish: Callable[[Frontier], None]) -> None:
        """:meth:`run`, calling ``publish`` with what is final after each step (a leading stage only).

        ``publish`` may raise to stop the stage early (the render stopped behind it).
        """
        raise NotImplementedError(f"{type(self).__name__} does not lead")

    def start(self, ctx: Ctx) -> Follow:
        """This run's :data:`Follow` (a following stage only): called again and again with growing frontiers,
        the last time with ``done``, when the stage finishes (writes its index files)."""
        raise NotImplementedError(f"{type(self).__name__} does not follow")

    def close(self) -> None:
        """Release the stage's backend (models, device memory); called when the stage is done."""

    def identity(self) -> dict[str, Any]:
        """``{models slot: backend.identity()}``: what shapes the stage's outputs, for the manifest; empty without a backend."""
        return {}

    # -- the cache, in one place ----------------------------------------------------------------
    def output(self, dest: Path, *depends_on: Any) -> Output:
        """The output at ``dest`` whose content is fixed by ``depends_on`` (JSON-able values)."""

        return Cache.output(self.name, dest, *depends_on)

    def make(self, ctx: Ctx, out: Output, produce: Callable[[Path], object]) -> bool:
        """Find ``out`` in the cache or make it with ``produce(tmp_path)``; place it at ``out.dest``. True on a hit."""
        return ctx.cache.get(out, produce)
