"""The render: validate everything cheap, then run the stages in order."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from deepstory.config import DeepstoryError, instantiate
from deepstory.context import RunContext, make_progress
from deepstory.files import write_json, write_text
from deepstory.speech import Voice
from deepstory.story import SpeakerMapper, StoryError, parse_story
from deepstory.timeline import frame_at


def resolve_device(cfg: DictConfig) -> torch.device:
    kind = str(cfg.device.type)
    if kind == "cuda" and not torch.cuda.is_available():
        if cfg.device.get("fallback") == "cpu":
            return torch.device("cpu")
        raise DeepstoryError("device=cuda but no CUDA GPU is available (set device.fallback=cpu to use the CPU)")
    try:
        return torch.device(kind if kind != "cuda" else f"cuda:{int(cfg.device.get('index', 0))}")
    except RuntimeError as exc:
        raise DeepstoryError(f"device.type={kind!r}: {exc}") from exc


def read_story_text(cfg: DictConfig) -> tuple[str, Path]:
    path = Path(str(cfg.story.text_path)).expanduser()
    encoding = str(cfg.story.get("encoding", "utf-8"))
    if not path.is_file():
        raise DeepstoryError(f"story.text_path={path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DeepstoryError(
            f"story.text_path={path}: not valid {encoding} at byte {exc.start} (set story.encoding=...)"
        ) from exc
    return text.lstrip("\ufeff"), path


def prepare(ctx: RunContext) -> None:
    """Parse the story and check speakers, voices and portraits before any synthesis."""
    cfg = ctx.cfg
    text, path = read_story_text(cfg)
    speakers = list(cfg.speakers.keys())
    try:
        mapper = SpeakerMapper(speakers, str(cfg.story.default_speaker), cfg.story.get("speaker_map"))
        story = parse_story(text, mapper)
    except StoryError as exc:
        raise DeepstoryError(str(exc)) from exc
    if not story.sentences:
        raise DeepstoryError(f"story.text_path={path}: nothing to say (no line has a word in it)")
    for speaker in story.speakers:
        spec = cfg.speakers[speaker]
        try:
            Voice.from_config(spec.get("voice"))
            ctx.portrait(speaker)
        except (OSError, ValueError) as exc:
            raise DeepstoryError(f"speakers.{speaker}: {exc}") from exc
    write_json(ctx.story_file, {
        "source": str(path),
        "speaker_of": story.speaker_of,
        "skipped_lines": story.skipped_lines,
        "sentences": [vars(s) for s in story.sentences],
    })


def render(cfg: DictConfig, run_dir: Path, console: Console | None = None) -> RunContext:
    """Render ``cfg`` into ``run_dir``; returns the context (paths and stats)."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    ctx = RunContext(run_dir=Path(run_dir), cfg=cfg, device=resolve_device(cfg), console=console)
    ctx.temp.mkdir(parents=True, exist_ok=True)
    ctx.export.mkdir(parents=True, exist_ok=True)
    write_text(ctx.export / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    prepare(ctx)
    models = cfg.models
    stages = [
        instantiate(cfg.stages.speech, "stages.speech",
                    tts=instantiate(models.tts, "models.tts")),
        instantiate(cfg.stages.chunk, "stages.chunk"),
        instantiate(cfg.stages.motion, "stages.motion",
                    motion=instantiate(models.motion, "models.motion")),
        instantiate(cfg.stages.animate, "stages.animate",
                    animator=instantiate(models.animator, "models.animator", device=ctx.device)),
        instantiate(cfg.stages.compose, "stages.compose"),
    ]
    with make_progress(console) as progress:
        ctx.progress = progress
        for stage in stages:
            t0 = time.perf_counter()
            stage.run(ctx)
            ctx.stats.setdefault(stage.name, {})["seconds"] = time.perf_counter() - t0
    ctx.progress = None
    ctx.stats["total"] = {"seconds": time.perf_counter() - started}
    summarize(ctx)
    return ctx


def summarize(ctx: RunContext) -> None:
    sentences, chunks, segments = ctx.sentences(), ctx.chunks(), ctx.segments()
    samples = segments[-1].end if segments else 0
    frames = frame_at(samples, ctx.sample_rate, ctx.fps)
    audio_seconds = samples / ctx.sample_rate
    table = Table(title="Deepstory render", show_header=False)
    table.add_row("speakers", ", ".join(dict.fromkeys(s.speaker for s in sentences)))
    table.add_row("sentences", str(len(sentences)))
    table.add_row("chunks", f"{len(chunks)} (cut_size {ctx.cfg.cut_size})")
    table.add_row("audio", f"{audio_seconds:.1f} s, {samples} samples at {ctx.sample_rate} Hz")
    table.add_row("video", f"{frames} frames at {ctx.fps} fps, {ctx.size[0]}x{ctx.size[1]}, device {ctx.device}")
    for name, stat in ctx.stats.items():
        if "seconds" in stat:
            table.add_row(f"time: {name}", f"{stat['seconds']:.1f} s")
    total = ctx.stats.get("total", {}).get("seconds", 0.0)
    if audio_seconds:
        table.add_row("real-time factor", f"{total / audio_seconds:.2f}")
    table.add_row("output", str(ctx.export / "animated.mp4"))
    ctx.console.print(table)
