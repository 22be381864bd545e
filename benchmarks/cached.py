"""A cached re-run of the demo, and what verifying the cache costs (``cache.verify=full`` against ``size``).

Renders the story once into a fresh cache with the real CLI, then measures, on
this machine:

* **re-runs** (``rerun``): the same command line run again ``--runs`` times per
  verification mode, alternating ``cache.verify=full`` (the default: the size
  and SHA-256 of every hit) and ``cache.verify=size`` (the size only), each into
  a new run dir with the warm cache, timed from start to exit (interpreter
  start-up, imports, Hydra, every stage finding its outputs in the cache, the
  manifest and the report included); it prints min / median / max wall seconds
  per mode, and checks that every re-run made nothing (no cache miss);
* **hashing** (``hash``): every entry of that cache checked as a hit checks it
  (``deepstory.cache.damage``: the record read, the size compared, and with
  ``full`` the SHA-256 computed), in this process, ``--repeats`` times per
  mode, alternating, with the files in the page cache as in a warm re-run; it
  prints the entries, their MiB and min / median / max seconds per mode.

The date and the CPU cores come first, and with ``--json``.

    python benchmarks/cached.py                                   # the demo as `python run.py` renders it (512x512)
    python benchmarks/cached.py --runs 5 --repeats 20 --json cached.json
    python benchmarks/cached.py --what hash --workdir /tmp/cached   # hashing alone, on the cache left there
    python benchmarks/cached.py --minutes 0.3 --size 128 --runs 2   # a quick check of the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import story_file  # noqa: E402

from deepstory.cache import VERIFY_MODES, damage, entries  # noqa: E402
from deepstory.threads import cpu_cores, describe_cores  # noqa: E402


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def shown(s: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    return " / ".join(f"{s[k] * scale:.{digits}f}" for k in ("min", "median", "max"))


def render(story: Path, size: int | None, cache: Path, run_dir: Path, extra: list[str]) -> tuple[float, dict]:
    """One render with the real CLI, timed from start to exit; its wall seconds and its manifest."""
    args = [
        sys.executable,
        str(ROOT / "run.py"),
        f"story.text_path={story}",
        f"cache_dir={cache}",
        f"hydra.run.dir={run_dir}",
        *([f"video.width={size}", f"video.height={size}"] if size else []),
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"render failed: {proc.stderr[-2000:]}")
    return wall, json.loads((run_dir / "export" / "manifest.json").read_text(encoding="utf-8"))


def reruns(story: Path, size: int | None, workdir: Path, runs: int, extra: list[str]) -> dict:
    cache = workdir / "cache"
    first = workdir / "run-first"
    if (first / "export" / "manifest.json").is_file() and cache.is_dir():
        print(f"first render: kept from {first}")
        first_s = None
    else:
        first_s, _ = render(story, size, cache, first, extra)
        print(f"first render (fresh cache): {first_s:.1f} s")
    walls: dict[str, list[float]] = {mode: [] for mode in VERIFY_MODES}
    totals: dict[str, list[float]] = {mode: [] for mode in VERIFY_MODES}
    for i in range(runs):
        for mode in ("full", "size"):  # alternated, so that a drift of the machine's speed hits both alike
            wall, manifest = render(
                story, size, cache, workdir / f"run-warm-{mode}-{i}", [*extra, f"cache.verify={mode}"]
            )
            made = {name: stat["misses"] for name, stat in manifest["stages"].items() if stat.get("misses")}
            if made:
                raise SystemExit(f"re-run {i} ({mode}) was not fully cached: it made {made}")
            walls[mode].append(wall)
            totals[mode].append(float(manifest["stages"]["total"]["seconds"]))
    print(f"warm re-runs, {runs} per mode, seconds min / median / max:")
    out: dict = {"first_render_s": None if first_s is None else round(first_s, 1), "runs": runs}
    for mode in ("full", "size"):
        out[mode] = {"wall_s": spread(walls[mode]), "in_process_s": spread(totals[mode])}
        print(
            f"  cache.verify={mode:<4}  from start to exit {shown(out[mode]['wall_s'])}"
            f"   (the render's own total, after start-up: {shown(out[mode]['in_process_s'])})"
        )
    return out


def hashing(cache: Path, repeats: int) -> dict:
    found = list(entries(cache))
    if not found:
        raise SystemExit(f"no cache entries under {cache}: render first (--what rerun, or both)")
    mib = sum(p.stat().st_size for p in found) / 2**20
    for p in found:  # into the page cache, as a warm re-run finds them
        p.read_bytes()
    seconds: dict[str, list[float]] = {mode: [] for mode in VERIFY_MODES}
    for _ in range(repeats):
        for mode in ("full", "size"):
            start = time.perf_counter()
            bad = [p for p in found if damage(p, mode == "full") is not None]
            seconds[mode].append(time.perf_counter() - start)
            if bad:
                raise SystemExit(f"{len(bad)} entries fail their check (first: {bad[0]}): not a fair measure")
    out: dict = {"entries": len(found), "mib": round(mib, 1), "repeats": repeats}
    print(f"checking every entry as a hit does: {len(found)} entries, {mib:.1f} MiB, {repeats} times per mode")
    print("  milliseconds, min / median / max:")
    for mode in ("full", "size"):
        out[mode] = spread(seconds[mode], digits=5)  # seconds
        what = "size + SHA-256" if mode == "full" else "size only"
        print(f"  cache.verify={mode:<4}  {shown(out[mode], 1000, 1)}   ({what})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", nargs="+", choices=["rerun", "hash"], default=["rerun", "hash"])
    parser.add_argument(
        "--minutes", type=float, default=None, help="a generated story of this length (default: the demo)"
    )
    parser.add_argument("--size", type=int, default=None, help="frame size (default: the layout's, 512x512)")
    parser.add_argument("--runs", type=int, default=5, help="warm re-runs per verification mode")
    parser.add_argument("--repeats", type=int, default=20, help="checks of the whole cache per verification mode")
    parser.add_argument("--workdir", type=Path, default=None, help="runs and the cache (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every render")
    args = parser.parse_args()
    cores = cpu_cores()
    date = time.strftime("%Y-%m-%d")
    print(f"{date}, {describe_cores(cores)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="deepstory-cached-"))
    workdir.mkdir(parents=True, exist_ok=True)
    story = story_file(args.minutes, workdir)
    result: dict = {"date": date, "cores": cores, "story": story.name, "size": args.size or "layout's (512)"}
    if "rerun" in args.what:
        result["rerun"] = reruns(story, args.size, workdir, args.runs, args.overrides)
    if "hash" in args.what:
        result["hash"] = hashing(workdir / "cache", args.repeats)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
