"""Stages side by side: the leading stage in a child process, the following stages here.

With ``overlap: true`` a stage that *leads* (the speech stage) runs in a
forked child process and sends, after every step, what it has published so far
(its :class:`~deepstory.kernel.stage.Frontier`: only what is new under each
name travels); here the stages that *follow* (chunk, motion, animate) make
what is final (see :mod:`deepstory.kernel.stage`).  A process, not a thread: the speech engines'
C libraries (WORLD, pocketsphinx) hold Python's GIL for tens of milliseconds
at a time, which starved a thread of the animator's many short torch calls
(the 512x512 demo took longer overlapped than one stage after the other).

The child shares the run's files and cache (each write is atomic and locked,
as between concurrent renders); what it counts (progress, warnings, figures,
cache hits and misses) it sends here, over a pipe, for the bars, the
manifest and the summary.  It dies with the render: Ctrl-C or an error here
stops it, and so does the render's death (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import multiprocessing
import signal
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from deepstory.errors import EnvironmentFailure
from deepstory.kernel.context import RunContext
from deepstory.kernel.progress import Advance, Progress
from deepstory.kernel.stage import Frontier, Stage
from deepstory.memory import peak_mib
from deepstory.threads import restore_threads, set_threads

POLL = 0.25  # seconds between looks at the child when nothing came


def available() -> bool:
    """Whether stages can overlap here (a forking OS: Linux)."""
    return "fork" in multiprocessing.get_all_start_methods()


@dataclass
class Relay(Progress):
    """A child's progress: bars, warnings and figures go to the render over ``conn``."""

    conn: Any = None

    def bar(self, description: str, total: int | None, frames: bool = False) -> Advance:
        self.made += 1
        self.conn.send(("bar", self.made, description, total, frames))
        return _RelayAdvance(self, self.made, frames)

    def warn(self, message: str) -> None:
        self.conn.send(("warn", message))

    def expect_frames(self, frames: float) -> None:
        self.conn.send(("expect", frames))

    def note(self, stage: str, **figures: Any) -> None:
        self.conn.send(("note", stage, figures))


@dataclass
class _RelayAdvance(Advance):
    def __call__(self, n: int = 1) -> None:
        self.progress.conn.send(("advance", self.task, n))  # type: ignore[attr-defined]

    def total(self, total: int) -> None:
        self.progress.conn.send(("total", self.task, total))  # type: ignore[attr-defined]


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the render's process dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _lead(ctx: RunContext, leader: Stage, conn: Any) -> None:
    """The child: run ``leader``, sending what it publishes, then its figures and cache counts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the render's to handle: it stops this process
    _die_with_parent()
    set_threads(1)  # OpenMP's thread pool does not survive a fork: one thread in the child
    relay = Relay(Console(file=io.StringIO()), conn=conn)
    ctx.cache.reset_counts()
    ctx.cache.warn = relay.warn
    sent: dict[str, int] = {}

    def publish(frontier: Frontier) -> None:  # what is new under each name (they only grow)
        new = {name: items[sent.get(name, 0) :] for name, items in frontier.outputs.items()}
        conn.send(("publish", new, frontier.done))
        sent.update({name: len(items) for name, items in frontier.outputs.items()})

    started = time.perf_counter()
    try:
        leader.lead(dataclasses.replace(ctx, progress=relay), publish)
        leader.close()
        conn.send(("end", time.perf_counter() - started, ctx.cache.counts(), peak_mib()))
    except BaseException as exc:  # noqa: BLE001 - sent to the render, which raises it
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def run_overlapped(ctx: RunContext, leader: Stage, followers: list[Stage]) -> dict[str, float]:
    """``leader`` in a child process; here each of ``followers`` in turn on what is final so far, until all is.

    Returns each stage's seconds: the leader's wall time, and each follower's time in its own work.
    Every stage is closed when the group ends, however it ends.
    """
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_lead, args=(ctx, leader, send), name=f"deepstory-{leader.name}", daemon=True)
    group = _Group(ctx, leader, followers, receive, child)
    # Torch's worker threads spin while they wait: beside the child's own threads on the same cores they
    # starve it.  The followers' torch takes one thread until the leader is done (deepstory.threads).
    group.threads = set_threads(1)
    child.start()
    send.close()
    try:
        group.follow()
        group.last_words()
    finally:
        if child.is_alive() and not group.ended:
            child.terminate()
        child.join()
        receive.close()
        restore_threads(group.threads)
        leader.close()
        for stage in followers:
            stage.close()
    return group.seconds


class _Group:
    """The render's side of an overlapped group: the leader's messages, and the followers fed with them."""

    def __init__(self, ctx: RunContext, leader: Stage, followers: list[Stage], receive: Any, child: Any) -> None:
        self.ctx, self.leader, self.followers = ctx, leader, followers
        self.receive, self.child = receive, child
        self.seconds = {stage.name: 0.0 for stage in followers}
        self.bars: dict[int, Advance] = {}
        self.published: dict[str, list] = {}  # what the leader published so far, by name
        self.done = False  # the leader has published all
        self.ended = False  # the leader's process sent its last words
        self.threads: int | None = None  # torch's threads to give back (None: given back)

    def handle(self, message: tuple) -> None:
        ctx = self.ctx
        kind, *rest = message
        if kind == "publish":
            for name, items in rest[0].items():
                self.published.setdefault(name, []).extend(items)
            self.done = self.done or rest[1]
        elif kind == "bar":
            self.bars[rest[0]] = ctx.progress.bar(rest[1], rest[2], frames=rest[3])
        elif kind == "advance":
            self.bars[rest[0]](rest[1])
        elif kind == "total":
            self.bars[rest[0]].total(rest[1])
        elif kind == "warn":
            ctx.progress.warn(rest[0])
        elif kind == "expect":
            ctx.progress.expect_frames(rest[0])
        elif kind == "note":
            ctx.progress.note(rest[0], **rest[1])
        elif kind == "end":
            self.seconds[self.leader.name] = rest[0]
            ctx.cache.merge(rest[1])
            ctx.progress.note(self.leader.name, process_peak_rss_mib=rest[2])  # the child's own peak
            self.ended = True
        elif kind == "error":
            raise rest[0]

    def follow(self) -> None:
        """Start each follower, then feed them what the leader published, until their frontier is done."""
        follows = []
        for stage in self.followers:  # this run's work of each follower (a stage object keeps none)
            t0 = time.perf_counter()
            follows.append(stage.start(self.ctx))
            self.seconds[stage.name] += time.perf_counter() - t0
        seen = -1
        while True:
            self._receive_waiting()
            self.ctx.progress.check()
            if self.done and self.threads is not None:  # the leader is done: the followers get their threads back
                restore_threads(self.threads)
                self.threads = None
            size = sum(len(items) for items in self.published.values())
            if size != seen or self.done:
                seen = size
                frontier = Frontier(self.done, {name: tuple(items) for name, items in self.published.items()})
                for stage, follow in zip(self.followers, follows):
                    t0 = time.perf_counter()
                    frontier = follow(frontier)
                    self.seconds[stage.name] += time.perf_counter() - t0
                if frontier.done:
                    return

    def _receive_waiting(self) -> None:
        """Handle the messages that came (waiting up to POLL s for the first)."""
        try:
            if self.receive.poll(POLL):
                while self.receive.poll():
                    self.handle(self.receive.recv())
        except EOFError:  # the child is gone
            if not self.ended:
                self.child.join()
                raise EnvironmentFailure(
                    f"stages.{self.leader.name}: its process stopped without finishing (exit code "
                    f"{self.child.exitcode}; killed for memory?); run again to resume"
                ) from None

    def last_words(self) -> None:
        """Wait for the child's last words: its time and cache counts."""
        while not self.ended:
            try:
                self.handle(self.receive.recv())
            except EOFError:
                self.child.join()
                raise EnvironmentFailure(
                    f"stages.{self.leader.name}: its process stopped before its counts came (exit code "
                    f"{self.child.exitcode}); run again to resume"
                ) from None
