"""Reproducible, resumable, sweepable renders: the cache, crash safety, sweeps, provenance."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepstory.media import probe

from conftest import ROOT, check_golden, decoded_digest, render_here, run_cli, tiny_args

pytestmark = pytest.mark.slow


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "export" / "manifest.json").read_text())


def _misses(manifest: dict, stage: str) -> int:
    return manifest["stages"][stage].get("misses", 0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_story):
    """An uninterrupted render with a fresh cache, and its decoded output."""
    base = tmp_path_factory.mktemp("reference")
    run_dir = base / "run"
    render_here(run_dir, *tiny_args(tiny_story, base / "cache"))
    return run_dir, decoded_digest(run_dir / "export" / "animated.mp4")


def test_output_is_the_recorded_reference(reference):
    """The default cut_size: decoded frames and samples identical to the render recorded before the restructure."""
    check_golden("tiny_cut800000", reference[0] / "export" / "animated.mp4")


def test_second_identical_run_is_all_cache_hits(reference, tiny_story, tmp_path):
    run_dir, expected = reference
    again = tmp_path / "again"
    cache = run_dir.parent / "cache"
    render_here(again, *tiny_args(tiny_story, cache))
    stages = _manifest(again)["stages"]
    for stage in ("speech", "chunk", "motion", "animate", "compose", "faces"):
        assert stages[stage]["misses"] == 0 and stages[stage]["hits"] > 0, (stage, stages[stage])
    assert decoded_digest(again / "export" / "animated.mp4") == expected
    # Faces are found once per image and kept: the re-run placed them without looking again.
    # Named by the speaker's place in the speakers config (Narrator, Eileen, ...), the name inside.
    faces = {p.name: json.loads(p.read_text(encoding="utf-8"))["speaker"] for p in (again / "temp" / "faces").iterdir()}
    assert faces == {"p00-0.json": "Narrator", "p01-0.json": "Eileen"}


def test_a_cached_rerun_imports_no_heavy_module_it_does_not_use(reference, tiny_story):
    """Nothing to make: neither scipy.signal (resampling) nor the neural networks are imported (start-up time)."""
    run_dir, _ = reference
    probe = (
        "import json, runpy, sys\n"
        f"sys.argv = ['run.py', *{tiny_args(tiny_story, run_dir.parent / 'cache')!r}, 'hydra.run.dir=' + sys.argv[1]]\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as exc:\n    assert not exc.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(run_dir.parent / "cached-rerun")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "deepstory.run.render" in modules  # it did render
    assert "scipy.signal" not in modules
    assert not [m for m in modules if m.startswith("deepstory.neural")]
    manifest = _manifest(run_dir.parent / "cached-rerun")
    assert all(stat.get("misses", 0) == 0 for stat in manifest["stages"].values())


def test_same_config_same_output_with_fresh_cache(reference, tiny_story, tmp_path):
    _, expected = reference
    render_here(tmp_path / "run", *tiny_args(tiny_story, tmp_path / "cache"))
    assert decoded_digest(tmp_path / "run" / "export" / "animated.mp4") == expected


@pytest.mark.parametrize("cut_size", [800000, 30000])
def test_overlapped_stages_make_the_same_files_as_one_after_the_other(reference, tiny_story, tmp_path, cut_size):
    """overlap=true (speech beside chunk, motion and animation) and overlap=false: every file and frame the same."""
    made = {}
    for overlap in ("true", "false"):
        run_dir = tmp_path / overlap
        render_here(
            run_dir, *tiny_args(tiny_story, tmp_path / f"cache-{overlap}"), f"cut_size={cut_size}", f"overlap={overlap}"
        )
        temp = run_dir / "temp"
        made[overlap] = (
            decoded_digest(run_dir / "export" / "animated.mp4"),
            sorted((temp / "cache-keys.txt").read_text().splitlines()),  # every output, made in another order
            *((temp / name).read_text() for name in ("timeline.json", "chunks.json", "animated/segments.json")),
        )
    assert made["true"] == made["false"]
    assert made["true"][0] == reference[1]  # and the same picture as the default cut_size
    assert len(json.loads(made["true"][3])["chunks"]) > (1 if cut_size == 800000 else 4)


def test_sweep_synthesizes_each_sentence_once_and_cut_size_changes_nothing(reference, tiny_story, tmp_path):
    _, expected = reference
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        *tiny_args(tiny_story, tmp_path / "cache"),
        "cut_size=20000,50000,800000",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweep.subdir=${hydra:job.num}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifests = [_manifest(sweep / str(n)) for n in range(3)]
    sentences = len(json.loads((sweep / "0" / "temp" / "story.json").read_text())["sentences"])
    assert sum(_misses(m, "speech") for m in manifests) == sentences
    chunk_counts = [len(m["chunks"]) for m in manifests]
    assert len(set(chunk_counts)) == 3, chunk_counts  # the chunking really differs
    for n in range(3):
        assert decoded_digest(sweep / str(n) / "export" / "animated.mp4") == expected


def test_changing_one_image_rerenders_only_its_segments(reference, tiny_story, tmp_path):
    run_dir, _ = reference
    cache = tmp_path / "cache"
    shutil.copytree(run_dir.parent / "cache", cache)
    hoot = Image.open(ROOT / "deepstory" / "assets" / "portraits" / "hoot.png").convert("RGB")
    pixels = np.array(hoot)
    pixels[:20] = 0  # a black band at the top: a different image
    changed = tmp_path / "hoot2.png"
    Image.fromarray(pixels).save(changed)
    render_here(
        tmp_path / "base",
        *tiny_args(tiny_story, cache),
        f"speakers.Narrator.image={changed}",
        "video.segment_frames=50",
    )
    # Same segment grid, new image: only segments showing the narrator are redone.
    render_here(tmp_path / "run", *tiny_args(tiny_story, cache), "video.segment_frames=50")
    manifest = _manifest(tmp_path / "run")
    narrator_frames = set()
    for c in manifest["chunks"]:
        if c["speaker"] == "Narrator":
            narrator_frames.update(range(c["first_frame"], c["first_frame"] + c["frames"]))
    segments = json.loads((tmp_path / "run" / "temp" / "animated" / "segments.json").read_text())["segments"]
    with_narrator = sum(1 for s in segments if narrator_frames & set(range(*s["frames"])))
    assert 0 < with_narrator < len(segments)
    assert _misses(manifest, "animate") == with_narrator
    assert _misses(manifest, "speech") == 0 and _misses(manifest, "motion") == 0


def test_video_traces_to_its_config_and_saved_config_reproduces_it(reference, tiny_story, tmp_path):
    _, expected = reference
    run_dir = tmp_path / "first"  # through the command line: Hydra saves the config in .hydra/
    proc = run_cli(*tiny_args(tiny_story, tmp_path / "cache"), f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = _manifest(run_dir)
    tags = probe(run_dir / "export" / "animated.mp4").tags
    assert tags["comment"] == f"deepstory config {manifest['config_hash']}"
    assert (run_dir / "export" / "config.yaml").is_file()
    assert manifest["inputs"]["story"]["sha256"] and manifest["inputs"]["images"]["Eileen"][0]["sha256"]
    assert manifest["chunks"][0]["first_sample"] == 0 and manifest["chunks"][0]["first_frame"] == 0
    again = tmp_path / "again"
    proc = run_cli(
        "--config-path",
        str(run_dir / ".hydra"),
        "--config-name",
        "config",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={again}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _manifest(again)["config_hash"] == manifest["config_hash"]
    assert decoded_digest(again / "export" / "animated.mp4") == expected


def _wait_for(predicate, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("when", ["speech", "motion", "encoding", "compose"])
def test_killed_render_resumes_to_the_same_video(reference, tiny_story, tmp_path, when):
    _, expected = reference
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    args = [sys.executable, str(ROOT / "run.py"), *tiny_args(tiny_story, cache), f"hydra.run.dir={run_dir}"]
    marks = {
        "speech": lambda: len(list((run_dir / "temp" / "speech").glob("s*.wav"))) >= 3,
        "motion": lambda: (run_dir / "temp" / "motion").is_dir(),
        "encoding": lambda: any((cache / "animate").rglob("*.partial.mp4")) if (cache / "animate").is_dir() else False,
        "compose": lambda: (
            (run_dir / "export" / "combined.wav").exists() or any((run_dir / "export").glob(".combined*"))
        ),
    }
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reached = _wait_for(marks[when], proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    spoken = len(list((run_dir / "temp" / "speech").glob("s*.wav")))  # placed only when whole (and cached)
    assert reached, f"the render finished before reaching {when}"
    assert not (run_dir / "export" / "animated.mp4").exists()
    resumed = run_cli(*tiny_args(tiny_story, cache), f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert decoded_digest(run_dir / "export" / "animated.mp4") == expected
    # Work finished before the kill was reused: every sentence spoken before it (with overlap, the motion
    # and video of the first chunks are made while later sentences are still being spoken).
    manifest = _manifest(run_dir)
    sentences = len(json.loads((run_dir / "temp" / "story.json").read_text())["sentences"])
    assert _misses(manifest, "speech") == sentences - spoken


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:  # gone
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the speech process through /proc")
def test_a_killed_speech_process_is_one_error_line_and_the_render_resumes(reference, tiny_story, tmp_path):
    """The speech runs in its own process (overlap): killed (the OOM killer), the render stops with exit 1."""
    _, expected = reference
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    args = [sys.executable, str(ROOT / "run.py"), *tiny_args(tiny_story, cache), f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    spoken = lambda: len(list((run_dir / "temp" / "speech").glob("s*.wav"))) >= 2  # noqa: E731
    assert _wait_for(spoken, proc), "the render finished before the speech could be killed"
    pythons = [p for p in _children(proc.pid) if _exe(p) == _exe(proc.pid)]  # not the encoders
    assert len(pythons) == 1, pythons
    os.kill(pythons[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "stages.speech: its process stopped" in lines[0], err[-2000:]
    resumed = run_cli(*tiny_args(tiny_story, cache), f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert decoded_digest(run_dir / "export" / "animated.mp4") == expected


def test_concurrent_renders_share_the_cache(reference, tiny_story, tmp_path):
    _, expected = reference
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), *tiny_args(tiny_story, cache), f"hydra.run.dir={tmp_path / name}"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    for name in ("a", "b"):
        assert decoded_digest(tmp_path / name / "export" / "animated.mp4") == expected
    sentences = len(json.loads((tmp_path / "a" / "temp" / "story.json").read_text())["sentences"])
    assert _misses(_manifest(tmp_path / "a"), "speech") + _misses(_manifest(tmp_path / "b"), "speech") == sentences


def test_cache_info_and_prune(reference, tmp_path):
    run_dir, _ = reference
    cache = tmp_path / "cache"
    shutil.copytree(run_dir.parent / "cache", cache)
    (cache / "speech" / "zz").mkdir(parents=True)
    orphan = cache / "speech" / "zz" / ("f" * 64 + ".wav")
    orphan.write_bytes(b"RIFF")
    cmd = [sys.executable, "-m", "deepstory.cache"]
    info = subprocess.run([*cmd, "info", "--cache-dir", str(cache)], cwd=ROOT, capture_output=True, text=True)
    assert info.returncode == 0 and "speech" in info.stdout and "animate" in info.stdout
    used = _manifest(run_dir)["cache"]["keys"]
    prune = subprocess.run(
        [*cmd, "prune", "--all-unused", "--cache-dir", str(cache), "--runs", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert prune.returncode == 0, prune.stderr
    assert not orphan.exists()
    for kind, keys in used.items():
        for key in keys:
            assert list((cache / kind / key[:2]).glob(f"{key}.*")), (kind, key)
    bad = subprocess.run([*cmd, "prune", "--cache-dir", str(cache)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "needs" in bad.stderr
