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

`--why` also counts, per speaker, why the demo's failing frames fail: for
each open-vowel frame measured shut and each P/B/M frame measured open, what
the voice's own phones (``temp/phones/``, which drove the mouth) have at the
frame's centre and which mouth shape the frame shows (docs/lipsync.md).

    python benchmarks/lipsync.py                 # 512x512, as `python run.py` renders the demo
    python benchmarks/lipsync.py --size 128 --json lipsync.json
    python benchmarks/lipsync.py --size 128 --why
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
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


def failing_frames(run_dir: Path) -> dict[str, Counter]:
    """Per speaker, the failing frames of a render by kind: what the voice's own phones (which drove the mouth)
    have at the frame's centre, and the mouth shape the frame shows."""
    import numpy as np

    from deepstory.chunk.files import ChunkFiles
    from deepstory.kernel.context import RunDir
    from deepstory.lipsync.files import LipSyncFiles
    from deepstory.lipsync.score import load_series, shut_threshold
    from deepstory.motion.files import MotionFiles
    from deepstory.motion.visemes import BILABIALS, OPEN_VOWELS, VOWELS
    from deepstory.speech.files import SpeechFiles
    from deepstory.track import FACE, SHAPE_NAMES

    run = RunDir(run_dir)
    video = json.loads(run.manifest.read_text())
    sample_rate, fps = video["audio"]["sample_rate"], video["video"]["fps"]
    series = load_series(LipSyncFiles(run).lipsync_series)
    opening, speaker = series["opening"], series["speaker"]
    total = len(opening)
    shown = np.zeros(total, dtype=int)  # 1 + the shape each frame shows (the track's "shape"); 0: none named
    for chunk in ChunkFiles(run).chunks():
        last = min(chunk.first_frame + chunk.frames, total)
        if last > chunk.first_frame:
            track = np.load(MotionFiles(run).motion(chunk))
            shown[chunk.first_frame : last] = track[: last - chunk.first_frame, FACE.index("shape")].round()
    speech = SpeechFiles(run)
    voiced = speech.source().phones(0, sample_rate * total // fps + sample_rate, sample_rate).phones
    centres = (2 * np.arange(total) + 1) * sample_rate // (2 * fps)
    said = np.full(total, "SIL", dtype=object)
    for name, a, b in voiced:
        said[(centres >= a) & (centres < b)] = name
    out: dict[str, Counter] = {}
    for code, who in enumerate(str(n) for n in series["speakers"]):
        mine = speaker == code
        shut = shut_threshold(opening[mine], series["energy"][mine], series["silent"][mine])
        kinds = out.setdefault(who, Counter())
        for f in np.flatnonzero(mine & series["vowel"] & (opening <= shut)):
            shape = SHAPE_NAMES[shown[f] - 1] if shown[f] > 0 else "?"
            if said[f] in OPEN_VOWELS:
                kind = f"this vowel, showing {shape}"
            elif said[f] in BILABIALS:
                kind = "a P/B/M"
            elif said[f] in VOWELS:
                kind = "another vowel"
            elif said[f] == "SIL":
                kind = "silence"
            else:
                kind = "a consonant"
            kinds[f"open vowel shut; the voice has {kind}"] += 1
        for f in np.flatnonzero(mine & series["bilabial"] & (opening > shut)):
            kinds["P/B/M open; the voice has " + ("it here" if said[f] in BILABIALS else "it a frame away")] += 1
    return out


def row(name: str, figures: dict) -> str:
    values = "  ".join(f"{figures[k]:6.2f}" if k in figures else "     –" for k in FIGURES)
    return f"{name:<22} {values}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="frame width and height (default 512)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the renders here (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--why", action="store_true", help="count the demo's failing frames by kind")
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
    if args.why:
        print("failing frames of the demo, by what the voice's own phones have at the frame's centre:")
        for speaker, kinds in failing_frames(work / "demo").items():
            for kind, count in sorted(kinds.items()):
                print(f"  {speaker:<10} {count:4d}  {kind}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"date": time.strftime("%Y-%m-%d"), "cores": cpu_cores(), "size": args.size, **results}, indent=1
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
