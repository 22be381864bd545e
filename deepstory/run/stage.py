"""The interface of a pipeline stage.

A stage reads the files earlier stages wrote (through ``ctx.files``) and
writes its own, each atomically.  Stages are listed, in order, under
``stages:`` in ``conf/config.yaml``; each is built from its ``_target_`` with
its settings and its backend nested (``tts: ${models.tts}``), and one generic
loop (:func:`deepstory.run.render.render`) runs them:

1. every stage is built (config mistakes surface before any work); where the
   frame size is left to the layout, the stage that parses the story names
   the story's speakers (:meth:`Stage.speakers`) so the size suits the cast;
2. the *quick* stages at the head of the list run (parsing the story);
3. every remaining stage's :meth:`Stage.check` runs (cheap checks that may
   read the story, e.g. the layout's cast), before any expensive work;
4. the remaining stages run, each :meth:`Stage.close`\\ d when done;
5. ``export/manifest.json`` is written, then the *reporting* stages run
   (:attr:`Stage.reports`): they read the manifest, so they show the whole
   render's figures; their own time is in the summary, not the manifest.

With ``overlap: true`` (the default) the stages from speech to animation run
side by side: the speech stage *leads* (:meth:`Stage.lead`, in its own process),
publishing after every sentence what is final so far (a :class:`Frontier`),
and each stage after it *follows* (:meth:`Stage.follow`): it makes the
outputs that what is final allows (a chunk once its last sentence is spoken,
its motion once the audio around it exists, a video segment once its motion
exists), so the first frames are encoded while later sentences are still
being spoken.  Run alone, a following stage reads the whole story's files
into a finished frontier and follows it once: the same code makes every
output either way, so the files are identical.

Outputs that are worth keeping go through :meth:`Stage.output` and the cache:
a stage states what an output depends on and how to make it; the cache finds
or makes it and counts hits and misses under the stage's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from deepstory.cache import Cache, Output
from deepstory.timeline import Chunk, Segment

if TYPE_CHECKING:
    from deepstory.run.context import Cast, RunContext


@dataclass(frozen=True)
class Frontier:
    """How much of the story is final, while stages run side by side (see the module's doc).

    Each field is a prefix of the finished render's: nothing in it changes when more of the story comes.
    """

    #: Everything before is finished: the fields hold the whole story.
    done: bool = False
    #: Sentences spoken (with their phone timings) and laid end to end, in story order (the speech stage).
    segments: tuple[Segment, ...] = ()
    #: Chunks cut from them: every chunk but the last until ``done`` (it may still grow) (the chunk stage).
    chunks: tuple[Chunk, ...] = ()
    #: How many of ``chunks``, from the first, have their motion tracks (the motion stage).
    moved: int = 0


class Stage(ABC):
    """One step of the pipeline."""

    #: The stage's name: its key under ``stages:``, set by the runner.  Names its timing and cache entries.
    name: str = "stage"
    #: A quick stage (no synthesis, no rendering) runs before the other stages are checked.
    quick: bool = False
    #: A reporting stage runs after ``export/manifest.json`` is written, and reads it (``deepstory.report``).
    reports: bool = False

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)

    def check(self, ctx: RunContext) -> None:
        """Cheap checks before any expensive work; raise a ``UserError`` naming the bad value.

        By default: the backend's :meth:`identity`, which finds its model files (a missing checkpoint
        fails here, before any synthesis).
        """
        self.identity()

    def speakers(self, cast: Cast) -> list[str] | None:
        """The story's speakers in order of appearance, from the stage that parses the story (``None``: not
        this stage).  Asked before any stage runs, and only where the frame size follows the cast."""
        return None

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """Read earlier stages' files, write this stage's."""

    #: Runs ahead of the stages after it, publishing what is final as it goes (:meth:`lead`).
    leads: bool = False
    #: Can run beside the stage before it, on what that stage has finished so far (:meth:`follow`).
    follows: bool = False

    def lead(self, ctx: RunContext, publish: Callable[[Frontier], None]) -> None:
        """:meth:`run`, calling ``publish`` with what is final after each step (a leading stage only).

        ``publish`` may raise to stop the stage early (the render stopped behind it).
        """
        raise NotImplementedError(f"{type(self).__name__} does not lead")

    def follow(self, ctx: RunContext, upstream: Frontier) -> Frontier:
        """Make every output that ``upstream`` allows and was not made yet; return what is final after this stage.

        Called again and again with growing frontiers, the last time with ``done``, when the stage
        finishes (writes its index files).  A following stage only.
        """
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

    def make(self, ctx: RunContext, out: Output, produce: Callable[[Path], object]) -> bool:
        """Find ``out`` in the cache or make it with ``produce(tmp_path)``; place it at ``out.dest``. True on a hit."""
        return ctx.cache.get(out, produce)
