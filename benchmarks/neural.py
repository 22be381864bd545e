"""The original networks on a GPU: frames per second and peak GPU memory of a 30-second story.

No real weights can be downloaded here, so the script builds a data folder in
the original layout with seeded random weights (the same compute as real ones;
the picture is noise).  Point ``--data-dir`` at a real Deepstory data folder to
use its weights instead.

    python benchmarks/neural.py                       # device=cuda, 30 s of speech
    python benchmarks/neural.py --device cpu --seconds 3   # a smoke run without a GPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from deepstory.threads import describe_cores  # noqa: E402

LINES = [
    "Eileen: Hello there, it is good to be home again after such a long time in orbit.",
    "The cat looked up from the sofa and blinked slowly at her.",
    "Eileen: Did you miss me while I was away, up there among the stars?",
    "The cat yawned, stretched, and walked off towards the kitchen.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seconds", type=float, default=30.0, help="roughly this much speech")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deepstory-neural-"))
    data = args.data_dir
    if data is None:
        from neural_golden import write_deepstory_data

        data = write_deepstory_data(work / "data", ["Eileen", "Narrator"])
    words_needed = int(args.seconds * 2.2)
    lines, words = [], 0
    while words < words_needed:
        line = LINES[len(lines) % len(LINES)]
        lines.append(line)
        words += len(line.split()) - 1
    story = work / "story.txt"
    story.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = work / "run"
    cmd = [
        sys.executable,
        str(ROOT / "run.py"),
        "models=deepstory",
        f"models.data_dir={data}",
        f"device={args.device}",
        f"story.text_path={story}",
        f"video.width={args.size}",
        f"video.height={args.size}",
        f"models.animator.batch_size={args.batch_size}",
        f"cache_dir={work / 'cache'}",
        f"hydra.run.dir={run_dir}",
        "stages.lipsync.enabled=false",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    m = json.loads((run_dir / "export" / "manifest.json").read_text())
    stages = m["stages"]
    frames = m["video"]["frames"]
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores(m['cores'])}")
    print(f"device {m['video']['device']}, {m['audio']['seconds']:.1f} s of speech, {frames} frames at {args.size}px")
    for name in ("speech", "motion", "animate", "compose"):
        print(f"  {name:8s} {stages[name]['seconds']:8.1f} s")
    print(f"  animate  {frames / max(stages['animate']['seconds'], 1e-9):8.1f} frames/s (FOMM)")
    print(f"  motion   {frames / max(stages['motion']['seconds'], 1e-9):8.1f} frames/s (SDA + keypoints)")
    print(f"  total    {wall:8.1f} s wall, real-time factor {wall / m['audio']['seconds']:.2f}")
    if "max_memory_allocated" in m["video"]:
        print(f"  peak GPU memory allocated: {m['video']['max_memory_allocated'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
