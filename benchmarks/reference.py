"""How a render compares with its reference: TTS alone + x264 alone, measured in the same run.

The reference is what two of the render's parts cost on their own: synthesizing
the speech and encoding as many frames.  It is a yardstick, not a proven lower
bound (the encoder here encodes a test pattern, not the portraits, and the
render overlaps the two).  For one story this script measures, on this machine,
one after the other:

* **TTS alone**: the story and speech stages only (every sentence spoken with
  its character's voice and shaping, no phone timings), from a fresh cache;
* **x264 alone**: x264 with the renderer's settings encoding as many frames
  as the render has, of a moving test pattern (ffmpeg testsrc2), at the same size;
* **the full render** from a fresh cache (the real CLI, peak memory of the
  process tree included, as PSS sampled every 0.5 s: the forked speech process shares pages with the render);

and prints each figure and the ratio of the render to the reference, per size,
with the CPU cores it ran on (the render is given its reference,
``report.reference_seconds``, so its own summary, manifest and report show it too).

    python benchmarks/reference.py                               # the demo at 256 and 512
    python benchmarks/reference.py --minutes 30 --sizes 512      # a generated 30-minute story
    python benchmarks/reference.py --json reference.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import MEMORY_INTERVAL, encode_alone, render, story_file  # noqa: E402

from deepstory.threads import cpu_cores, describe_cores  # noqa: E402

SPEECH_ONLY = [  # the story and speech stages only, without phone timings: synthesis alone
    *(f"stages.{s}.enabled=false" for s in ("chunk", "motion", "animate", "compose", "contact", "lipsync", "report")),
    "stages.speech.phones=false",
]


def tts_alone(story: Path, workdir: Path) -> tuple[float, int]:
    """Seconds of the speech stage alone, fresh cache (the story stage's parsing is not counted), and the frames."""
    (workdir / "tts").mkdir(parents=True, exist_ok=True)
    out = render(story, 256, workdir / "tts", SPEECH_ONLY)
    return float(out["manifest"]["stages"]["speech"]["seconds"]), int(out["manifest"]["video"]["frames"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--minutes", type=float, default=None, help="a generated story of this length (default: the demo)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--workdir", type=Path, default=None, help="runs and caches (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the full renders")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="deepstory-reference-"))
    workdir.mkdir(parents=True, exist_ok=True)
    story = story_file(args.minutes, workdir)
    cores = cpu_cores()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores(cores)}")
    t0 = time.perf_counter()
    tts, frames = tts_alone(story, workdir)
    print(f"story {story.name}: TTS alone {tts:.1f} s (measured in {time.perf_counter() - t0:.0f} s)")
    print(
        f"{'size':>5} {'audio':>7} {'frames':>7} {'TTS':>6} {'x264':>7} {'ref':>6} {'render':>7} {'ratio':>6} {'peak PSS':>9}"
    )
    rows = []
    for size in args.sizes:
        (workdir / f"full-{size}").mkdir(parents=True, exist_ok=True)
        encode = encode_alone(frames, size, workdir)
        reference = tts + encode
        # The render is told its reference: its own summary, manifest and report show the ratio too.
        full = render(
            story, size, workdir / f"full-{size}", [*args.overrides, f"report.reference_seconds={reference:.3f}"]
        )
        manifest = full["manifest"]
        assert manifest["video"]["frames"] == frames, "the render and the TTS run disagree on the story's length"
        audio = manifest["audio"]["seconds"]
        row = {
            "size": size,
            "audio_s": round(audio, 1),
            "frames": frames,
            "tts_s": round(tts, 1),
            "encode_s": round(encode, 1),
            "reference_s": round(reference, 1),
            "render_s": round(full["wall"], 1),
            "ratio": round(full["wall"] / reference, 2),
            "peak_pss_mib": round(full["peak"] / 2**20),
            "memory_interval_s": MEMORY_INTERVAL,
            "stages_s": {k: round(v.get("seconds", 0.0), 1) for k, v in manifest["stages"].items()},
            "cores": cores,
            "date": time.strftime("%Y-%m-%d"),
        }
        rows.append(row)
        print(
            f"{size:5d} {audio:6.0f}s {frames:7d} {tts:5.1f}s {encode:6.1f}s {reference:5.1f}s {full['wall']:6.1f}s "
            f"{row['ratio']:5.2f}x {row['peak_pss_mib']:6d} MiB"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
