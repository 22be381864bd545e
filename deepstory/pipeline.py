"""The render: validate everything cheap, then run the stages in order."""
from __future__ import annotations

import importlib.metadata
import subprocess
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

from deepstory.cache import Cache, digest, file_digest
from deepstory.config import DeepstoryError, instantiate
from deepstory.context import RunContext, make_progress
from deepstory.face import speaker_images
from deepstory.portrait import ImageError
from deepstory.files import read_json, write_json, write_text
from deepstory.media import ffmpeg_exe
from deepstory.memory import release_memory
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


# Top-level keys a run understands; anything else is a typo (Hydra already rejects unknown
# nested keys; `+key=value` can add top-level ones, which are refused here).
KNOWN_KEYS = {"story", "speakers", "models", "device", "layout", "executor", "sample_rate", "fps", "cut_size", "seed", "cache_dir",
              "max_words", "debug", "video", "stages"}


# Extra words for values the user must set (``???`` in the config).
MISSING_HINTS = {"models.data_dir": " (the Deepstory data folder with dctts/<Speaker>/, sda/grid.dat and fom/vox-cpk.pth.tar)"}


def _whole(cfg: DictConfig, key: str, lo: int, hi: int) -> int:
    value = OmegaConf.select(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DeepstoryError(f"{key}={value!r}: must be a whole number from {lo} to {hi}")
    return value


def missing_keys(node: object, prefix: str = "") -> list[str]:
    """Dotted keys whose value is ``???`` (mandatory, not set), in config order; interpolations are not resolved."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in missing_keys(value, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in missing_keys(value, f"{prefix}{i}.")]
    return [prefix[:-1]] if node == "???" else []


def validate_config(cfg: DictConfig) -> None:
    """Cheap checks of the composed config, before anything is read or written."""
    unknown = sorted(set(cfg.keys()) - KNOWN_KEYS)
    if unknown:
        raise DeepstoryError(f"unknown config key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    missing = missing_keys(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        hint = MISSING_HINTS.get(missing[0], "")
        raise DeepstoryError(f"{missing[0]}: missing value, set it on the command line: {missing[0]}=...{hint}")
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{exc.full_key}: " if getattr(exc, "full_key", None) else ""
        hint = " (use models=deepstory models.data_dir=/path, or add +models.data_dir=/path)" \
            if "'models.data_dir'" in first else ""
        raise DeepstoryError(f"config: {where}{first}{hint}") from None
    _whole(cfg, "cut_size", 1, 2**40)
    _whole(cfg, "sample_rate", 8000, 192000)
    _whole(cfg, "fps", 1, 120)
    _whole(cfg, "max_words", 3, 1000)
    for key in ("video.width", "video.height"):
        if _whole(cfg, key, 16, 8192) % 2:
            raise DeepstoryError(f"{key}={OmegaConf.select(cfg, key)}: must be even (H.264 yuv420p)")
    _whole(cfg, "video.segment_frames", 1, 100000)
    if not cfg.speakers:
        raise DeepstoryError("speakers: no speakers configured")
    for name, spec in cfg.speakers.items():
        if not isinstance(spec, DictConfig) or not spec.get("image"):
            raise DeepstoryError(f"speakers.{name}.image: missing (every speaker needs a portrait)")


def read_story_text(cfg: DictConfig) -> tuple[str, Path]:
    path = Path(str(cfg.story.text_path)).expanduser()
    encoding = str(cfg.story.get("encoding", "utf-8"))
    if path.is_dir():
        raise DeepstoryError(f"story.text_path={path}: is a directory, not a text file")
    if not path.is_file():
        raise DeepstoryError(f"story.text_path={path}: no such file")
    try:
        "".encode(encoding)
    except LookupError:
        raise DeepstoryError(f"story.encoding={encoding!r}: unknown encoding") from None
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
        story = parse_story(text, mapper, {s: len(speaker_images(cfg.speakers[s])) for s in speakers},
                            max_words=int(cfg.max_words))
    except StoryError as exc:
        raise DeepstoryError(str(exc)) from exc
    if not story.sentences:
        raise DeepstoryError(f"story.text_path={path}: nothing to say (no line has a word the voices can speak)")
    for speaker in story.speakers:
        spec = cfg.speakers[speaker]
        try:
            Voice.from_config(spec.get("voice"))
            for image in sorted({s.image for s in story.sentences if s.speaker == speaker} | {0}):
                ctx.portrait(speaker, image=image)
        except ImageError as exc:
            raise DeepstoryError(str(exc)) from exc
        except (OSError, ValueError) as exc:
            raise DeepstoryError(f"speakers.{speaker}: {exc}") from exc
    for line in story.skipped_lines:
        ctx.warn(f"story line {line}: nothing to say, skipped")
    for line, piece in story.skipped_text:
        ctx.warn(f"story line {line}: cannot speak {piece!r}, skipped")
    write_json(ctx.story_file, {
        "source": str(path),
        "speaker_of": story.speaker_of,
        "skipped_lines": story.skipped_lines,
        "skipped_text": story.skipped_text,
        "sentences": [vars(s) for s in story.sentences],
    })


# Keys that never change what is rendered, left out of the config hash.
UNHASHED = ("cache_dir", "debug")


def config_hash(cfg: DictConfig) -> str:
    data = OmegaConf.to_container(cfg, resolve=True)
    return digest({k: v for k, v in data.items() if k not in UNHASHED})[:16]


def render(cfg: DictConfig, run_dir: Path, console: Console | None = None) -> RunContext:
    """Render ``cfg`` into ``run_dir``; returns the context (paths and stats)."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    validate_config(cfg)
    ffmpeg_exe()  # a missing encoder fails now, not after the speech
    ctx = RunContext(run_dir=Path(run_dir), cfg=cfg, device=resolve_device(cfg), console=console,
                     cache=Cache(Path(str(cfg.cache_dir)).expanduser()))
    ctx.temp.mkdir(parents=True, exist_ok=True)
    ctx.export.mkdir(parents=True, exist_ok=True)
    write_text(ctx.export / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    chash = config_hash(cfg)
    ctx.metadata = {"comment": f"deepstory config {chash}", "title": Path(str(cfg.story.text_path)).stem}
    prepare(ctx)
    try:
        ctx.layout = instantiate(cfg.layout, "layout").with_cast(ctx.speakers_in_story())
    except ValueError as exc:
        raise DeepstoryError(str(exc)) from exc
    models = cfg.models
    # Backends with a `device` setting get the resolved run device (honours device.fallback and device.index).
    on_device = lambda node: {"device": ctx.device} if "device" in node else {}  # noqa: E731
    tts = instantiate(models.tts, "models.tts", **on_device(models.tts))
    motion = instantiate(models.motion, "models.motion", **on_device(models.motion))
    animator = instantiate(models.animator, "models.animator", device=ctx.device)
    # Backend settings, plus what a backend says about its model files (checking that they exist, before any work).
    ctx.identity = {
        "tts": tts.identity(),
        "motion": _backend_identity(models.motion, motion),
        "animator": _backend_identity(models.animator, animator),
        "layout": ctx.layout.identity(),
    }
    ctx.executor = instantiate(cfg.executor, "executor")
    ctx.backend_configs = {  # what a remote worker needs to build the same backends
        "motion": _worker_config(models.motion, ctx.device, "device" in models.motion),
        "animator": _worker_config(models.animator, ctx.device, True),
    }
    stages = [
        instantiate(cfg.stages.speech, "stages.speech", tts=tts),
        instantiate(cfg.stages.chunk, "stages.chunk"),
        instantiate(cfg.stages.motion, "stages.motion", motion=motion),
        instantiate(cfg.stages.animate, "stages.animate", animator=animator),
        instantiate(cfg.stages.compose, "stages.compose"),
        instantiate(cfg.stages.lipsync, "stages.lipsync"),
    ]
    try:
        with make_progress(console) as progress:
            ctx.progress = progress
            for stage in stages:
                t0 = time.perf_counter()
                stage.run(ctx)
                release_memory()
                ctx.stats.setdefault(stage.name, {})["seconds"] = time.perf_counter() - t0
    finally:
        ctx.executor.close()
    ctx.progress = None
    ctx.stats["total"] = {"seconds": time.perf_counter() - started}
    write_manifest(ctx, chash)
    summarize(ctx)
    return ctx


def _worker_config(node: DictConfig, device: torch.device, with_device: bool) -> dict:
    """A backend's config as plain data, with the run's resolved device where the backend takes one."""
    config = OmegaConf.to_container(node, resolve=True)
    if with_device:
        config["device"] = str(device)
    return config


def _backend_identity(node: DictConfig, backend: object) -> dict:
    """A backend's resolved settings, and its own ``identity()`` (e.g. model file fingerprints) if it has one."""
    settings = OmegaConf.to_container(node, resolve=True)
    own = getattr(backend, "identity", None)
    return {**settings, **own()} if callable(own) else settings


STAGE_OF_KIND = {"speech": "speech", "chunk-audio": "chunk", "motion": "motion", "clip": "animate", "export": "compose",
                 "lipsync": "lipsync"}


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _version() -> str:
    try:
        return importlib.metadata.version("deepstory")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def write_manifest(ctx: RunContext, chash: str) -> None:
    """``export/manifest.json``: what made this render, what it contains, what it cost."""
    cfg = ctx.cfg
    sentences, segments, chunks = ctx.sentences(), ctx.segments(), ctx.chunks()
    samples = segments[-1].end if segments else 0
    stages = {name: {"seconds": round(stat.get("seconds", 0.0), 3)} for name, stat in ctx.stats.items()}
    for kind, counts in ctx.cache.summary().items():
        stages.setdefault(STAGE_OF_KIND.get(kind, kind), {}).update(counts)
    speakers = list(dict.fromkeys(s.speaker for s in sentences))
    manifest = {
        "config_hash": chash,
        "deepstory_version": _version(),
        "git_revision": _git_revision(),
        "inputs": {
            "story": {"path": str(cfg.story.text_path), "sha256": file_digest(cfg.story.text_path)},
            "images": {s: [{"path": p, "sha256": file_digest(p)} for p in speaker_images(cfg.speakers[s])]
                       for s in speakers},
            "models": ctx.identity,
        },
        "audio": {"samples": samples, "sample_rate": ctx.sample_rate, "seconds": samples / ctx.sample_rate},
        "video": {"frames": frame_at(samples, ctx.sample_rate, ctx.fps), "fps": ctx.fps,
                  "width": ctx.size[0], "height": ctx.size[1], "device": str(ctx.device)},
        "stages": stages,
        "chunks": [{"index": c.index, "speaker": c.speaker, "sentences": list(c.sentences),
                    "first_sample": c.start, "last_sample": c.end - 1, "first_frame": c.first_frame,
                    "frames": c.frames} for c in chunks],
        "cache": {"dir": str(ctx.cache.root), "keys": ctx.cache.used},
    }
    if (ctx.export / "lipsync.json").is_file():
        manifest["lipsync"] = read_json(ctx.export / "lipsync.json")
    manifest["warnings"] = ctx.warnings
    manifest["executor"] = ctx.executor.describe()
    if ctx.device.type == "cuda":
        manifest["video"]["max_memory_allocated"] = torch.cuda.max_memory_allocated(ctx.device)
    write_json(ctx.export / "manifest.json", manifest)


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
    described = ctx.executor.describe()
    if described.get("throughput"):
        per_worker = ", ".join(f"{w}: {r['jobs']} jobs in {r['seconds']:.1f} s" for w, r in described["throughput"].items())
        table.add_row("executor", f"{described['executor']} ({per_worker})")
    cache = ctx.cache.summary()
    for name, stat in ctx.stats.items():
        if "seconds" in stat:
            counts = [c for kind, c in cache.items() if STAGE_OF_KIND.get(kind) == name]
            hits = sum(c["hits"] for c in counts)
            done = sum(c["hits"] + c["misses"] for c in counts)
            note = f"  ({hits}/{done} cached)" if done else ""
            table.add_row(f"time: {name}", f"{stat['seconds']:.1f} s{note}")
    total = ctx.stats.get("total", {}).get("seconds", 0.0)
    if audio_seconds:
        table.add_row("real-time factor", f"{total / audio_seconds:.2f}")
    if (ctx.export / "lipsync.json").is_file():
        sync = read_json(ctx.export / "lipsync.json")
        table.add_row("lip sync", f"r={sync['pearson']:.2f} (best lag {sync['best_lag_frames']} frames), mouth shut in "
                                  f"{100 * sync['closed_in_long_silences']:.0f}% of long-silence frames")
    table.add_row("output", str(ctx.export / "animated.mp4"))
    ctx.console.print(table)
