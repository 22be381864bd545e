"""Scale out: Ray executor (same output as local, survives a dead worker), launcher sweeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, decoded_digest, in_ci, render_here, run_cli, tiny_args

pytestmark = pytest.mark.slow
if in_ci():  # installed by the [test] extra: missing in CI is a failure, not a skip
    import ray
else:
    ray = pytest.importorskip("ray")

RAY = ["executor=ray", "executor.num_cpus=2", "executor.workers=2"]


def test_ray_renders_the_same_video_as_local(tiny_render, tiny_story, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(*tiny_args(tiny_story, tmp_path / "cache"), "cut_size=30000", *RAY, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert decoded_digest(run_dir / "export" / "animated.mp4") == decoded_digest(
        tiny_render / "export" / "animated.mp4"
    )
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    assert manifest["executor"]["executor"] == "ray" and manifest["executor"]["throughput"]
    assert manifest["stages"]["animate"]["misses"] == len(
        json.loads((run_dir / "temp" / "animated" / "segments.json").read_text())["segments"]
    )


def _workers() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ray::_Worker"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def test_a_killed_ray_worker_is_replaced_and_the_render_is_right(tiny_story, tmp_path):
    size = ["video.width=320", "video.height=320", "video.segment_frames=50"]
    reference = tmp_path / "reference"
    render_here(reference, *tiny_args(tiny_story, tmp_path / "cache-ref"), *size)
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    render = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *tiny_args(tiny_story, cache), *size, *RAY, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and render.poll() is None and not killed:
        busy = (cache / "animate").is_dir() and any((cache / "animate").rglob("*.partial.mp4"))
        if busy and _workers():
            os.kill(_workers()[0], signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    _, err = render.communicate(timeout=600)
    assert killed, "no worker was caught encoding"
    assert render.returncode == 0, err[-3000:]
    assert decoded_digest(run_dir / "export" / "animated.mp4", 320) == decoded_digest(
        reference / "export" / "animated.mp4", 320
    )


def test_submitit_local_sweep(tiny_story, tmp_path):
    if not in_ci():
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        *tiny_args(tiny_story, tmp_path / "cache"),
        "cut_size=30000,800000",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweep.subdir=${hydra:job.num}",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = [decoded_digest(sweep / str(n) / "export" / "animated.mp4") for n in range(2)]
    assert digests[0] == digests[1]
    chunks = [len(json.loads((sweep / str(n) / "export" / "manifest.json").read_text())["chunks"]) for n in range(2)]
    assert chunks[0] > chunks[1]
