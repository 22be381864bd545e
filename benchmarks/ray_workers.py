"""1 vs 2 Ray workers on this machine: wall time of the chunk and segment work, and the speed-up.

Renders the same generated story three times with a fresh cache each time
(speech is shared through a pre-filled speech cache so only motion, animation
and encoding are timed): the local executor, Ray with 1 worker, Ray with 2.

    python benchmarks/ray_workers.py --minutes 2 --size 256
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import make_story  # noqa: E402

from deepstory.threads import describe_cores  # noqa: E402


def render(story: Path, size: int, work: Path, name: str, speech_cache: Path, extra: list[str]) -> dict:
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    if speech_cache.is_dir():
        shutil.copytree(speech_cache, cache / "speech")
    run_dir = work / f"run-{name}"
    args = [
        sys.executable,
        str(ROOT / "run.py"),
        f"story.text_path={story}",
        f"video.width={size}",
        f"video.height={size}",
        f"cache_dir={cache}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    if not speech_cache.is_dir():
        shutil.copytree(cache / "speech", speech_cache)
    stages = manifest["stages"]
    return {
        "name": name,
        "wall": wall,
        "motion": stages["motion"]["seconds"],
        "animate": stages["animate"]["seconds"],
        "executor": manifest.get("executor", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}")
    work = Path(tempfile.mkdtemp(prefix="deepstory-ray-"))
    story = work / "story.txt"
    story.write_text(make_story(args.minutes), encoding="utf-8")
    speech = work / "speech-cache"
    rows = [render(story, args.size, work, "local", speech, ["stages.lipsync.enabled=false"])]
    for workers in (1, 2):
        rows.append(
            render(
                story,
                args.size,
                work,
                f"ray-{workers}",
                speech,
                ["stages.lipsync.enabled=false", "executor=ray", f"executor.workers={workers}", "executor.num_cpus=2"],
            )
        )
    base = rows[1]["animate"] + rows[1]["motion"]
    print(f"{'executor':>10} {'wall':>7} {'motion':>7} {'animate':>8} {'speed-up vs 1 worker':>21}")
    for r in rows:
        work_s = r["animate"] + r["motion"]
        print(f"{r['name']:>10} {r['wall']:>6.1f}s {r['motion']:>6.1f}s {r['animate']:>7.1f}s {base / work_s:>20.2f}x")


if __name__ == "__main__":
    main()
