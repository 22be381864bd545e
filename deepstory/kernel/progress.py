"""Progress while stages run: rich bars (per stage and the whole render's row), warnings, per-stage figures
for the manifest and summary, the Ctrl-C latch, and the same progress as JSON lines for other programs
(:class:`EventLog`: ``temp/progress.jsonl``, read by the studio)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

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

#: The run dir's progress events, one JSON object a line (see :class:`EventLog`).
PROGRESS_FILE = "progress.jsonl"


class EventLog:
    """Progress as JSON lines, for programs that watch a render (the studio): never scrape the terminal.

    Each line is one object: a bar's ``{"stage", "done", "total", "rate", "eta", "state": "running", "time"}``
    (``total``, ``rate`` and ``eta`` may be null; ``stage`` is the bar's description, the whole render's
    row is :data:`RENDER`), or the render's own ``{"state": "started" | "done" | "interrupted" | "failed",
    "time"}``.  ``time`` is the wall clock (Unix seconds) when the line was written.  A bar's lines are
    throttled to one per ``interval`` seconds; what a throttled update held is written by a small thread
    within ``interval``, so a reader lags the render by at most ``interval`` plus its own polling.  Every
    line is flushed as it is written.  The file is started afresh by each run (a resumed render too).
    """

    def __init__(self, path: Path, interval: float = 0.2) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115  (closed by finish)
        self._lock = threading.Lock()
        self._bars: dict[int, dict[str, Any]] = {}  # per bar: its figures, when written, and whether pending
        self._stop = threading.Event()
        self.write({"state": "started"})
        self._flusher = threading.Thread(target=self._flush_pending, name="progress-events", daemon=True)
        self._flusher.start()

    def write(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps({**event, "time": round(time.time(), 3)}) + "\n")
                self._file.flush()

    def update(self, key: int, stage: str, done: int, total: int | None) -> None:
        """Bar ``key`` (``stage``) has ``done`` of ``total``: written now, or within ``interval``."""
        now = time.monotonic()
        bar = self._bars.setdefault(key, {"stage": stage, "started": now, "written": -1.0})
        bar.update(done=done, total=total, pending=True)
        if now - bar["written"] >= self.interval or (total is not None and done >= total):
            self._emit(bar, now)

    def _emit(self, bar: dict[str, Any], now: float) -> None:
        bar["pending"], bar["written"] = False, now
        done, total = bar["done"], bar["total"]
        rate = done / (now - bar["started"]) if done and now > bar["started"] else None
        eta = (total - done) / rate if rate and total is not None else None
        self.write(
            {
                "stage": bar["stage"],
                "done": done,
                "total": total,
                "rate": None if rate is None else round(rate, 3),
                "eta": None if eta is None else round(max(eta, 0.0), 2),
                "state": "running",
            }
        )

    def _flush_pending(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            for bar in list(self._bars.values()):
                if bar["pending"]:
                    self._emit(bar, now)

    def finish(self, state: str) -> None:
        """The render ended (``done``, ``interrupted`` or ``failed``): pending figures, the state, and close."""
        self._stop.set()
        now = time.monotonic()
        for bar in list(self._bars.values()):
            if bar["pending"]:
                self._emit(bar, now)
        self.write({"state": state})
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass
class Advance:
    """``advance(n)`` moves a progress bar on (and raises ``KeyboardInterrupt`` if Ctrl-C came)."""

    progress: Progress
    task: Any  # the bar's rich task id; None without live bars
    frames: bool = False  # its units are the story's frames: the whole render's row moves on with it
    description: str = ""
    done: int = 0
    known: int | None = None  # its total, where known
    key: int = 0  # its number in the event log (the whole render's row is 0)

    def __call__(self, n: int = 1) -> None:
        self.progress.check()
        self.done += n
        bars = self.progress.bars
        if bars is not None and self.task is not None:
            bars.advance(self.task, n)
            if self.frames and self.progress.overall is not None:
                bars.advance(self.progress.overall, n)
        if self.frames:
            self.progress.overall_done += n
        self.progress.event(self)

    def total(self, total: int) -> None:
        """The bar's total, once known (or a better estimate)."""
        self.known = total
        if self.progress.bars is not None and self.task is not None:
            self.progress.bars.update(self.task, total=total)
        self.progress.event(self)


@dataclass
class Progress:
    """Progress bars while stages run; warnings and per-stage figures kept for the manifest and summary."""

    console: Console
    bars: Bars | None = None
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupted: threading.Event = field(default_factory=threading.Event)
    overall: Any = None  # the whole render's row (frames made of the story's, estimated until spoken)
    events: EventLog | None = None  # the same progress as JSON lines (temp/progress.jsonl), where one is kept
    overall_done: int = 0  # the whole render's row, for the events
    overall_total: int | None = None
    made: int = 0  # bars made so far (each bar's key in the event log)

    def event(self, advance: Advance) -> None:
        """A bar moved (or learnt its total): the event log hears of it, and of the whole render's row."""
        events = self.events
        if events is None:
            return
        events.update(advance.key, advance.description, advance.done, advance.known)
        if advance.frames:
            events.update(0, RENDER, self.overall_done, self.overall_total)

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
        self.made += 1
        advance = Advance(self, task, frames, description, 0, total, self.made)
        self.event(advance)
        return advance

    def expect_frames(self, frames: float) -> None:
        """The story's length in frames, or an estimate while it is being spoken: the whole render's total."""
        self.overall_total = max(1, int(frames))
        if self.bars is not None and self.overall is not None:
            self.bars.update(self.overall, total=self.overall_total)
        if self.events is not None:
            self.events.update(0, RENDER, self.overall_done, self.overall_total)

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
