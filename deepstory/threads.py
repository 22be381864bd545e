"""How many threads torch uses, set for a piece of work and set back after; how many cores there are.

Torch keeps a pool of worker threads that spin while they wait for work: on a
machine whose cores are busy with something else (the x264 encoder, the forked
speech process) they burn the time those need: on the 512x512 demo on 2 cores
the animate stage was markedly slower with torch's default two threads beside
x264 than with one.  OpenCV's pool (the animator's head warp) is left as it is:
its idle threads sleep, and the same stage was faster with two than with one
(figures: benchmarks/README.md, "What changed in this round").
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator


def set_threads(count: int) -> int | None:
    """Torch's threads to ``count`` if torch is imported; returns the count before (``None``: not imported)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    before = int(torch.get_num_threads())
    torch.set_num_threads(count)
    return before


def restore_threads(before: int | None) -> None:
    """Torch's threads back to what :func:`set_threads` found."""
    if before is not None:
        sys.modules["torch"].set_num_threads(before)


@contextmanager
def compute_threads(count: int | None) -> Iterator[None]:
    """Torch on ``count`` threads for the block (``None``: as it is), then back."""
    if count is None:
        yield
        return
    before = set_threads(count)
    try:
        yield
    finally:
        restore_threads(before)


def cpu_cores() -> dict[str, int]:
    """The machine's CPU count (``os.cpu_count()``) and how many of them this process may run on (its
    affinity, ``len(os.sched_getaffinity(0))``; the CPU count where the system has no affinity call).

    Every timing is recorded with these: a figure means little without the cores it was measured on.
    """
    count = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = count
    return {"cpu_count": count, "affinity": usable}


def describe_cores(cores: dict[str, int] | None = None) -> str:
    """``2 CPU cores``, or ``16 CPU cores, 2 usable (affinity)`` where the process may not run on all of them."""
    cores = cores if cores is not None else cpu_cores()
    count, usable = cores.get("cpu_count"), cores.get("affinity", cores.get("cpu_count"))
    text = f"{count} CPU core{'s' if count != 1 else ''}"
    return text if usable == count else f"{text}, {usable} usable (affinity)"
