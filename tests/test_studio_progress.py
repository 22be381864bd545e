"""The renderer's progress events (``temp/progress.jsonl``), which the studio reads instead of the terminal."""

from __future__ import annotations

import json
import time

import pytest
from rich.console import Console

from deepstory.kernel.progress import RENDER, EventLog, Progress


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bars_become_json_lines_throttled_and_flushed(tmp_path):
    path = tmp_path / "temp" / "progress.jsonl"
    progress = Progress(Console(file=None, quiet=True))
    progress.events = EventLog(path, interval=0.2)
    progress.expect_frames(100)
    advance = progress.bar("Animate (frames)", 100, frames=True)
    for _ in range(50):
        advance(1)
    # Written and flushed as it goes: a reader sees the first figures before the render ends.
    seen = read(path)
    assert seen[0]["state"] == "started"
    assert any(e.get("stage") == "Animate (frames)" for e in seen)
    # Throttled: 50 steps in far less than 0.2 s are one or two lines, not fifty.
    assert sum(e.get("stage") == "Animate (frames)" for e in seen) <= 3
    time.sleep(0.45)  # what the throttle held is written within the interval
    bar = [e for e in read(path) if e.get("stage") == "Animate (frames)"][-1]
    assert bar["done"] == 50 and bar["total"] == 100 and bar["state"] == "running"
    assert bar["rate"] > 0 and bar["eta"] >= 0 and abs(bar["time"] - time.time()) < 5
    whole = [e for e in read(path) if e.get("stage") == RENDER][-1]
    assert whole["done"] == 50 and whole["total"] == 100
    for _ in range(50):
        advance(1)
    progress.events.finish("done")
    events = read(path)
    assert events[-1]["state"] == "done"
    assert [e for e in events if e.get("stage") == "Animate (frames)"][-1]["done"] == 100


@pytest.mark.slow
def test_a_render_writes_its_progress_and_how_it_ended(tiny_render):
    events = read(tiny_render / "temp" / "progress.jsonl")
    assert events[0]["state"] == "started" and events[-1]["state"] == "done"
    stages = {e["stage"] for e in events if "stage" in e}
    assert RENDER in stages and len(stages) >= 3
    final = [e for e in events if e.get("stage") == RENDER][-1]
    assert final["done"] == final["total"] > 0
