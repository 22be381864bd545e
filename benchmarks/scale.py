"""Chapter-scale benchmark: memory flat in story length, speed near the encoder's limit.

Generates stories of increasing length (unique sentences, so no speech is
reused from the cache), renders each in a fresh cache with the real CLI, and
prints one table row per render: audio length, chunks, peak memory of the whole
process tree (ffmpeg included; PSS sampled every 0.5 s), wall time per stage, real-time factor, frames
per second, and two reference points measured in the same run: Piper synthesis
alone (the speech stage) and ffmpeg encoding alone of the same number of frames
at the same size.  The date and the CPU cores come first, and with every row of ``--json``.

    python benchmarks/scale.py                          # 2, 8, 32 minutes at 256 and 512
    python benchmarks/scale.py --minutes 1 4 --sizes 256
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepstory.config import asset  # noqa: E402
from deepstory.media import ffmpeg_exe  # noqa: E402
from deepstory.threads import cpu_cores, describe_cores  # noqa: E402

#: Seconds between two samples of the process tree's memory (reading smaps_rollup costs ~5 ms a process).
MEMORY_INTERVAL = 0.5
WORDS_PER_SECOND = 2.15  # spoken words per second of story audio (Piper, demo voices, pauses included)


def story_file(minutes: float | None, workdir: Path) -> Path:
    """The bundled demo (``minutes`` None), or a generated story of about ``minutes`` written into ``workdir``."""
    if minutes is None:
        return Path(asset("stories/chapter3.txt"))
    story = workdir / f"story-{minutes:g}min.txt"
    story.write_text(make_story(minutes), encoding="utf-8")
    return story


def make_story(minutes: float, seed: int = 0) -> str:
    """A story of roughly ``minutes`` of speech from the demo's vocabulary; every sentence is new."""
    source = Path(asset("stories/chapter3.txt")).read_text(encoding="utf-8")
    vocab = sorted({w.lower() for w in re.findall(r"[A-Za-z']+", source) if len(w) > 2})
    rng = random.Random(seed)
    target_words = int(minutes * 60 * WORDS_PER_SECOND)
    # Every story starts with one sentence of the longest length a render speaks (max_words, 25): peak
    # memory is set by the longest sentence and the frame size, so all lengths share the same longest one.
    longest = " ".join(rng.choice(vocab) for _ in range(25))
    lines, words = ["Eileen: " + longest[0].upper() + longest[1:] + "."], 25
    speakers = ["", "Eileen: ", "Chelsea: "]
    while words < target_words:
        sentences = []
        for _ in range(rng.randint(1, 3)):
            n = rng.randint(6, 14)
            body = " ".join(rng.choice(vocab) for _ in range(n))
            sentences.append(body[0].upper() + body[1:] + rng.choice([".", ".", "?", "!", "..."]))
            words += n
        lines.append(speakers[len(lines) % 3] + " ".join(sentences))
    return "\n".join(lines) + "\n"


def _proportional_bytes(pid: int) -> int:
    """The process's proportional set size (PSS: each shared page split between the processes that map it),
    from ``/proc/<pid>/smaps_rollup``; its RSS where the kernel has no rollup."""
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
    return 0


class TreeMemory:
    """Samples the memory of a process and all its descendants (python, its forked speech process, ffmpeg).

    Summed PSS, not RSS: the speech process is forked from the render and shares its pages until
    either writes them, and RSS would count every shared page once per process.
    """

    def __init__(self, pid: int, interval: float = MEMORY_INTERVAL):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, []))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(_proportional_bytes(p) for p in self._tree())
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def render(story: Path, size: int, workdir: Path, extra: list[str]) -> dict:
    run_dir = workdir / f"run-{story.stem}-{size}"
    args = [
        sys.executable,
        str(ROOT / "run.py"),
        f"story.text_path={story}",
        f"video.width={size}",
        f"video.height={size}",
        f"cache_dir={workdir / f'cache-{story.stem}-{size}'}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    peak = memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"render failed: {err[-2000:]}")
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    return {"wall": wall, "peak": peak, "manifest": manifest}


def encode_alone(frames: int, size: int, workdir: Path, crf: int = 20, preset: str = "veryfast") -> float:
    """ffmpeg encoding ``frames`` frames of a portrait at ``size`` with the renderer's x264 settings."""
    out = workdir / f"encode-{size}.mp4"
    args = [
        ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}x{size}:rate=25",
        "-frames:v",
        str(frames),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        str(crf),
        "-preset",
        preset,
        "-g",
        "250",
        str(out),
    ]
    start = time.perf_counter()
    subprocess.run(args, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2, 8, 32])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where stories, runs and caches go (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every render (e.g. cut_size=400000)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="deepstory-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    cores = cpu_cores()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores(cores)}, peak memory sampled every {MEMORY_INTERVAL:g} s")
    header = (
        f"{'size':>5} {'audio':>8} {'chunks':>6} {'peak PSS':>9} {'speech':>7} {'motion':>7} {'animate':>8} "
        f"{'compose':>8} {'total':>7} {'RTF':>5} {'fps':>6} {'enc-only':>9} {'enc fps':>8}"
    )
    print(header)
    for size in args.sizes:
        for minutes in args.minutes:
            story = workdir / f"story-{minutes:g}min.txt"
            if not story.exists():
                story.write_text(make_story(minutes), encoding="utf-8")
            result = render(story, size, workdir, args.overrides)
            m = result["manifest"]
            stages = {k: v.get("seconds", 0.0) for k, v in m["stages"].items()}
            audio = m["audio"]["seconds"]
            frames = m["video"]["frames"]
            encode = encode_alone(frames, size, workdir)
            row = {
                "size": size,
                "audio_s": round(audio, 1),
                "chunks": len(m["chunks"]),
                "peak_pss_mib": round(result["peak"] / 2**20),
                "stages_s": {k: round(v, 1) for k, v in stages.items()},
                "wall_s": round(result["wall"], 1),
                "rtf": round(result["wall"] / audio, 3),
                "fps": round(frames / max(stages.get("animate", 0.0), 1e-9), 1),
                "encode_only_s": round(encode, 1),
                "encode_only_fps": round(frames / encode, 1),
                "speech_rtf": round(stages.get("speech", 0.0) / audio, 3),
                "memory_interval_s": MEMORY_INTERVAL,
                "cores": cores,
                "date": time.strftime("%Y-%m-%d"),
            }
            rows.append(row)
            print(
                f"{size:>5} {audio:>7.0f}s {row['chunks']:>6} {row['peak_pss_mib']:>6} MiB "
                f"{stages.get('speech', 0):>6.1f}s {stages.get('motion', 0):>6.1f}s {stages.get('animate', 0):>7.1f}s "
                f"{stages.get('compose', 0):>7.1f}s {result['wall']:>6.1f}s {row['rtf']:>5.2f} {row['fps']:>6.0f} "
                f"{encode:>8.1f}s {row['encode_only_fps']:>8.0f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
