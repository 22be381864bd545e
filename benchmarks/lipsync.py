"""The lip-sync score of the demo, and of the same render with broken inputs (the negative controls).

Renders the bundled demo with the real CLI, then three controls that must score
far lower if the score measures anything (``tests/test_layout_lipsync.py``
asserts it at 128x128):

* ``shuffled``: every sentence's phone names shuffled, times kept, as
  ``temp/phones/`` records them (the mouths follow the broken files);
* ``late``: every phone 120 ms (three frames) late;
* ``loudness``: the loudness-only mouth, ``models/motion=envelope``.

The controls reuse the demo's speech (copied cache entries), so only the
motion, frames and score are made again.  It prints, per render, every
speaker's figures and the worst speaker's (the headline), with the date and
the CPU cores; ``--json`` writes them too.

    python benchmarks/lipsync.py                 # 512x512, as `python run.py` renders the demo
    python benchmarks/lipsync.py --size 128 --json lipsync.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the controls and their broken-phone speech stage live beside the tests

from deepstory.threads import cpu_cores, describe_cores  # noqa: E402

from stage_plugins import CONTROLS, control_cache  # noqa: E402

FIGURES = ("bilabial_phones_closed", "bilabials_shut", "open_vowels_open", "bilabial_vowel_auc", "pearson")


def render(run_dir: Path, cache: Path, size: int, overrides: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    command = [
        sys.executable,
        str(ROOT / "run.py"),
        f"hydra.run.dir={run_dir}",
        f"cache_dir={cache}",
        f"video.width={size}",
        f"video.height={size}",
        "report.enabled=false",
        *overrides,
    ]
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return json.loads((run_dir / "export" / "lipsync.json").read_text())


def row(name: str, figures: dict) -> str:
    values = "  ".join(f"{figures[k]:6.2f}" if k in figures else "     –" for k in FIGURES)
    return f"{name:<22} {values}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="frame width and height (default 512)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the renders here (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="deepstory-lipsync-"))
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}, {args.size}x{args.size}, work in {work}")
    print(f"{'render / speaker':<22} {'sounds':>6}  {'P/B/M':>6}  {'vowels':>6}  {'AUC':>6}  {'r':>6}")
    results = {}
    for name in ("demo", *CONTROLS):
        cache = work / "cache" if name == "demo" else control_cache(work / "cache", name)
        started = time.perf_counter()
        sync = render(work / name, cache, args.size, CONTROLS.get(name, []))
        seconds = time.perf_counter() - started
        results[name] = {**sync, "seconds": round(seconds, 1)}
        lag = sync.get("best_lag_frames")
        print(row(f"{name} (worst)", sync) + f"   lag {lag}, missed {', '.join(sync['missed_goals']) or 'none'}")
        for speaker, figures in sync.get("speakers", {}).items():
            print(row(f"  {speaker}", figures))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"date": time.strftime("%Y-%m-%d"), "cores": cpu_cores(), "size": args.size, **results}, indent=1
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
