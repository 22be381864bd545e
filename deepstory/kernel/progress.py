"""Progress while stages run: rich bars (per stage and the whole render's row), warnings, per-stage figures
for the manifest and summary, and the Ctrl-C latch."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bars
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second of a bar (frames per second on the frame bars)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


RENDER = "Render (frames, all stages)"


@dataclass
class Advance:
    """``advance(n)`` moves a progress bar on (and raises ``KeyboardInterrupt`` if Ctrl-C came)."""

    progress: Progress
    task: Any  # the bar's rich task id; None without live bars
    frames: bool = False  # its units are the story's frames: the whole render's row moves on with it

    def __call__(self, n: int = 1) -> None:
        self.progress.check()
        bars = self.progress.bars
        if bars is not None and self.task is not None:
            bars.advance(self.task, n)
            if self.frames and self.progress.overall is not None:
                bars.advance(self.progress.overall, n)

    def total(self, total: int) -> None:
        """The bar's total, once known (or a better estimate)."""
        if self.progress.bars is not None and self.task is not None:
            self.progress.bars.update(self.task, total=total)


@dataclass
class Progress:
    """Progress bars while stages run; warnings and per-stage figures kept for the manifest and summary."""

    console: Console
    bars: Bars | None = None
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupted: threading.Event = field(default_factory=threading.Event)
    overall: Any = None  # the whole render's row (frames made of the story's, estimated until spoken)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Ctrl-C (SIGINT) stops the render even when Python swallows its ``KeyboardInterrupt``.

        Python runs a signal handler at the next bytecode, which may be inside a
        weakref callback or a finalizer, whose exceptions are printed and
        ignored (seen: ``importlib``'s module-lock callback during a lazy
        import). The handler therefore also latches the signal, and
        :meth:`check` (called by every progress step and between stages)
        raises it again.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def latch(signum: int, frame: Any) -> None:
            self.interrupted.set()
            raise KeyboardInterrupt

        def unraisable(info: Any) -> None:  # the lost raise is latched: no traceback for it
            if not issubclass(info.exc_type, KeyboardInterrupt):
                hook(info)

        previous, hook = signal.signal(signal.SIGINT, latch), sys.unraisablehook
        sys.unraisablehook = unraisable
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            sys.unraisablehook = hook

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C came, even if its first raise was lost."""
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def warn(self, message: str) -> None:
        """A problem that does not stop the render: shown, and kept for the manifest."""
        self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def bar(self, description: str, total: int | None, frames: bool = False) -> Advance:
        """A progress bar (``total`` None: not known yet, see :meth:`Advance.total`); returns ``advance(n)``.

        ``frames``: it counts the story's frames, and the whole render's row counts them too.
        """
        bars = self.bars
        task = bars.add_task(description, total=total) if bars is not None else None
        return Advance(self, task, frames)

    def expect_frames(self, frames: float) -> None:
        """The story's length in frames, or an estimate while it is being spoken: the whole render's total."""
        if self.bars is not None and self.overall is not None:
            self.bars.update(self.overall, total=max(1, int(frames)))

    def steps(self, description: str, total: int) -> Iterator[int]:
        """``range(total)`` with a progress bar."""
        advance = self.bar(description, total)
        for i in range(total):
            yield i
            advance(1)

    def note(self, stage: str, **figures: Any) -> None:
        """Figures of a stage for the manifest (``frames=...``)."""
        self.stats.setdefault(stage, {}).update(figures)

    def live(self, overall: bool = True) -> Bars:
        """Live progress bars; ``overall``: with the whole render's row (not for the reporting stages)."""
        self.bars = Bars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        # Elapsed, frames per second and time left for the whole render: its frames are the story's
        # (estimated from the sentences spoken so far until all are), made by the animate stage.
        self.overall = self.bars.add_task(RENDER, total=None) if overall else None
        return self.bars
