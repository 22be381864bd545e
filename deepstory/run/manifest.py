"""What a finished render reports: ``export/manifest.json`` (provenance, figures, cache use) and the summary table."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from rich.markup import escape
from rich.table import Table

from deepstory.cache import file_digest
from deepstory.files import read_json, write_json
from deepstory.kernel.stage import Stage
from deepstory.portrait import speaker_images
from deepstory.report.files import Inputs
from deepstory.scene import SceneContext
from deepstory.staging import on_stage
from deepstory.story import Sentence
from deepstory.threads import cpu_cores, describe_cores
from deepstory.timeline import Chunk, Segment


def git_revision() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def version() -> str:
    try:
        return importlib.metadata.version("deepstory")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _story_source(ctx: SceneContext) -> str:
    return str(read_json(Inputs.of(ctx.run).story)["source"])


def _written(ctx: SceneContext) -> tuple[list[Sentence], list[Segment], list[Chunk]]:
    """Sentences, timeline and chunks, as far as the stages that ran wrote them (a pipeline may stop early)."""
    files = Inputs.of(ctx.run)
    return (
        files.sentences() if files.story.is_file() else [],
        files.segments() if files.timeline.is_file() else [],
        files.chunks() if files.chunks_file.is_file() else [],
    )


def _reference(ctx: SceneContext) -> float | None:
    """``report.reference_seconds``: this story's reference time at this size (TTS alone + x264 alone), measured
    by benchmarks/reference.py (None: not measured)."""
    reference = OmegaConf.select(ctx.cfg, "report.reference_seconds", default=None)
    return float(reference) if reference else None


def write_manifest(ctx: SceneContext, stages: list[Stage]) -> None:
    """``export/manifest.json``: what made this render, what it contains, what it cost."""
    files, media = Inputs.of(ctx.run), ctx.media
    sentences, segments, chunks = _written(ctx)
    samples = segments[-1].end if segments else 0
    figures = ctx.progress.stats
    per_stage: dict[str, dict[str, Any]] = {
        name: {"seconds": round(stat.get("seconds", 0.0), 3), **{k: v for k, v in stat.items() if k != "seconds"}}
        for name, stat in figures.items()
    }
    for name, counts in ctx.cache.summary().items():
        per_stage.setdefault(name, {}).update(counts)
    speakers = list(dict.fromkeys(s.speaker for s in sentences))
    models: dict[str, Any] = {slot: identity for stage in stages for slot, identity in stage.identity().items()}
    models["layout"] = {**ctx.layout.identity(), "cast": on_stage(ctx) if sentences else []}
    story = _story_source(ctx)
    manifest: dict[str, Any] = {
        "config_hash": ctx.config_hash,
        "deepstory_version": version(),
        "git_revision": git_revision(),
        "inputs": {
            "story": {"path": story, "sha256": file_digest(story)},
            "images": {
                s: [{"path": p, "sha256": file_digest(p)} for p in speaker_images(ctx.cast.config[s])] for s in speakers
            },
            "models": models,
        },
        "audio": {"samples": samples, "sample_rate": media.sample_rate, "seconds": samples / media.sample_rate},
        "video": {
            "frames": media.frame_at(samples),
            "fps": media.fps,
            "width": media.width,
            "height": media.height,
            "device": media.device,
        },
        "stages": per_stage,
        # the cores the timings above were measured on: the machine's, and the ones this render could use
        "cores": cpu_cores(),
        "chunks": [
            {
                "index": c.index,
                "speaker": c.speaker,
                "sentences": list(c.sentences),
                "first_sample": c.start,
                "last_sample": c.end - 1,
                "first_frame": c.first_frame,
                "frames": c.frames,
            }
            for c in chunks
        ],
        "cache": {
            "dir": str(ctx.cache.root),
            "keys": ctx.cache.used,
            **({} if ctx.cache.writable else {"read_only": True, "local_dir": str(ctx.cache.store)}),
        },
    }
    if files.lipsync.is_file():
        manifest["lipsync"] = read_json(files.lipsync)
    reference = _reference(ctx)
    if reference:
        total = figures.get("total", {}).get("seconds", 0.0)
        manifest["reference"] = {"seconds": reference, "ratio": round(total / reference, 3)}
    manifest["warnings"] = ctx.progress.warnings
    manifest["executor"] = ctx.executor.describe()
    if media.device.startswith("cuda"):
        import torch

        manifest["video"]["max_memory_allocated"] = torch.cuda.max_memory_allocated(media.device)
    write_json(files.manifest, manifest)


def summarize(ctx: SceneContext) -> None:
    """The table a render ends with: what was rendered, where, how long."""
    files, media = Inputs.of(ctx.run), ctx.media
    sentences, segments, chunks = _written(ctx)
    cut_size = read_json(files.chunks_file).get("cut_size") if files.chunks_file.is_file() else None
    samples = segments[-1].end if segments else 0
    audio_seconds = samples / media.sample_rate
    table = Table(title="Deepstory render", show_header=False)
    table.add_row("speakers", ", ".join(dict.fromkeys(s.speaker for s in sentences)))
    table.add_row("sentences", str(len(sentences)))
    table.add_row("chunks", f"{len(chunks)} (cut_size {cut_size})")
    table.add_row("audio", f"{audio_seconds:.1f} s, {samples} samples at {media.sample_rate} Hz")
    table.add_row(
        "video",
        f"{media.frame_at(samples)} frames at {media.fps} fps, {media.width}x{media.height}, device {media.device}",
    )
    described = ctx.executor.describe()
    if described.get("throughput"):
        per_worker = ", ".join(
            f"{w}: {r['jobs']} jobs in {r['seconds']:.1f} s" for w, r in described["throughput"].items()
        )
        table.add_row("executor", f"{described['executor']} ({per_worker})")
    cache = ctx.cache.summary()
    for name, stat in ctx.progress.stats.items():
        if "seconds" in stat and name != "total":
            counts = cache.get(name, {"hits": 0, "misses": 0})
            done = counts["hits"] + counts["misses"]
            note = f"  ({counts['hits']}/{done} cached)" if done else ""
            peak = f", peak {stat['peak_rss_mib']:.0f} MiB" if "peak_rss_mib" in stat else ""
            if "process_peak_rss_mib" in stat:  # it ran in its own process, beside the stages it overlapped
                peak = f", its own process, peak {stat['process_peak_rss_mib']:.0f} MiB"
            beside = (
                f", beside {', '.join(stat['overlapped'])}"
                if stat.get("overlapped") and "process_peak_rss_mib" in stat
                else ""
            )
            table.add_row(f"time: {name}", f"{stat['seconds']:.1f} s{note}{peak}{beside}")
    total_stat = ctx.progress.stats.get("total", {})
    total = total_stat.get("seconds", 0.0)
    peak = f", peak {total_stat['peak_rss_mib']:.0f} MiB" if "peak_rss_mib" in total_stat else ""
    table.add_row("time: total", f"{total:.1f} s on {describe_cores()}{peak}")
    if audio_seconds:
        table.add_row("real-time factor", f"{total / audio_seconds:.2f}")
    reference = _reference(ctx)
    if reference:
        table.add_row(
            "reference", f"{total / reference:.2f}x the reference ({reference:.1f} s: TTS alone + x264 alone)"
        )
    if files.lipsync.is_file():
        for label, line in lipsync_lines(read_json(files.lipsync)):
            table.add_row(label, line)
    if files.video.is_file():
        table.add_row("output", str(files.video))
    if files.report.is_file():
        table.add_row("report", str(files.report))
    ctx.progress.console.print(table)


def lipsync_lines(sync: dict) -> list[tuple[str, str]]:
    """The summary's lip-sync rows: the worst speaker's figures, each against its goal, then one row a speaker."""
    missed, worst = sync.get("missed_goals", []), sync.get("worst_speaker", {})

    def figure(key: str, text: str) -> str:
        mark = f" [red](goal {sync['goals'][key]})[/]" if key in missed and key in sync.get("goals", {}) else ""
        return f"{text}{mark}"

    rows = [
        (
            "lip sync",
            figure("pearson", f"r={sync['pearson']:.2f}")
            + figure("best_lag_frames", f" (best lag {sync['best_lag_frames']} frames)")
            + ", mouth shut in "
            + figure("closed_in_long_silences", f"{100 * sync['closed_in_long_silences']:.0f}%")
            + " of long-silence frames",
        )
    ]
    if "bilabial_vowel_auc" in sync:
        rows.append(
            (
                "phonemes (worst)",
                (
                    figure("bilabial_phones_closed", f"P/B/M sounds closed {100 * sync['bilabial_phones_closed']:.0f}%")
                    + ", "
                    if "bilabial_phones_closed" in sync
                    else ""
                )
                + figure("bilabials_shut", f"P/B/M frames shut {100 * sync['bilabials_shut']:.0f}%")
                + ", "
                + figure("open_vowels_open", f"open vowels open {100 * sync['open_vowels_open']:.0f}%")
                + ", "
                + figure("bilabial_vowel_auc", f"AUC {sync['bilabial_vowel_auc']:.2f}")
                + (f"  ({escape(worst['bilabials_shut'])} for P/B/M)" if "bilabials_shut" in worst else ""),
            )
        )
    for name, f in sync.get("speakers", {}).items():
        if "bilabial_vowel_auc" in f:
            rows.append(
                (
                    f"  {escape(name)}",
                    f"P/B/M sounds closed {100 * f.get('bilabial_phones_closed', 0):.0f}%, frames "
                    f"{100 * f['bilabials_shut']:.0f}%, vowels {100 * f['open_vowels_open']:.0f}%, "
                    f"AUC {f['bilabial_vowel_auc']:.2f} ({f['bilabial_frames']}/{f['open_vowel_frames']} frames)",
                )
            )
    return rows
