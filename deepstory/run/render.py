"""The render: check the config, build the run's context and its stages, run the stages in order."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from deepstory.animate.rest import RestPose
from deepstory.cache import DEFAULT_VERIFY, JOURNAL, Cache, digest
from deepstory.config import instantiate
from deepstory.errors import UserError
from deepstory.files import read_yaml, write_text
from deepstory.kernel.context import Media, RunDir
from deepstory.kernel.progress import PROGRESS_FILE, EventLog, Progress
from deepstory.kernel.stage import Stage
from deepstory.layout import Layout
from deepstory.media import ffmpeg_exe
from deepstory.memory import peak_mib, release_memory, reset_peak, tune_allocator
from deepstory.portrait.cast import Cast
from deepstory.run import manifest
from deepstory.run import overlap as overlapping
from deepstory.run.checks import validate_config
from deepstory.scene import SceneContext
from deepstory.story.stage import StoryStage

# Keys that never change what is rendered, left out of the config hash.
UNHASHED = ("cache_dir", "cache", "debug", "overlap")


def config_hash(cfg: DictConfig) -> str:
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return digest({k: v for k, v in data.items() if k not in UNHASHED})[:16]


def _even(value: float) -> int:
    return max(16, min(8192, 2 * round(value / 2)))


def frame_size(cfg: DictConfig, layout: Layout, speakers: Callable[[], Sequence[str]]) -> tuple[int, int]:
    """``video.width`` x ``video.height``, where null means the layout's size for the story's cast.

    With only one of them set, the other follows the layout's aspect ratio (rounded to an even number).
    """
    width, height = OmegaConf.select(cfg, "video.width"), OmegaConf.select(cfg, "video.height")
    if width is not None and height is not None:
        return int(width), int(height)
    try:
        auto_width, auto_height = layout.frame_size(speakers)
    except ValueError as exc:  # a configured cast that leaves out a speaker
        raise UserError(str(exc)) from None
    if width is not None:
        return int(width), _even(int(width) * auto_height / auto_width)
    if height is not None:
        return _even(int(height) * auto_width / auto_height), int(height)
    return auto_width, auto_height


def build_context(cfg: DictConfig, run_dir: Path, console: Console, stages: list[Stage] | None = None) -> SceneContext:
    """Everything fixed for the run, from the config: run dir, media constants, cast, layout, executor, cache.

    The frame size is settled here, once: where ``video.width``/``video.height`` are null the layout
    picks it for the story's cast (the story stage parses the text early for it).  ``ctx.cfg`` holds
    the settled size, so the exported config, the config hash and the manifest all name it.
    """
    layout = instantiate(cfg.layout, "layout")
    background = tuple(int(v) for v in cfg.video.get("background", (255, 255, 255)))
    progress = Progress(console)
    local = OmegaConf.select(cfg, "cache.local_dir", default=None)
    cache = Cache(
        Path(str(cfg.cache_dir)).expanduser(),
        verify=str(OmegaConf.select(cfg, "cache.verify", default=DEFAULT_VERIFY)),
        warn=progress.warn,  # a damaged entry is a warning of the run, kept in the manifest
        # Where new entries go if cache_dir cannot be written (a team's read-only cache): null, the run dir's own.
        local=Path(str(local)).expanduser() if local is not None else Path(run_dir) / "cache",
    )
    run = RunDir(Path(run_dir))
    cast = Cast(
        cfg.speakers,
        background,  # type: ignore[arg-type]
        layout.face_margin,
        cache,
        run.temp / "faces",
        framing=layout.framing,
        rest=RestPose(),  # a photo's open mouth closed at rest (speakers.<Name>.face.rest)
    )

    def speakers() -> list[str]:
        """The story's speakers, from the stage that parses the story (its text only)."""
        for stage in stages if stages is not None else build_stages(cfg):
            if isinstance(stage, StoryStage):
                return stage.speakers(cast)
        return []

    width, height = frame_size(cfg, layout, speakers)
    if (cfg.video.width, cfg.video.height) != (width, height):
        cfg = copy.deepcopy(cfg)
        cfg.video.width, cfg.video.height = width, height
    media = Media.from_config(cfg)
    return SceneContext(
        cfg=cfg,
        config_hash=config_hash(cfg),
        run=run,
        media=media,
        cast=cast,
        layout=layout,
        executor=instantiate(cfg.executor, "executor"),
        cache=cache,
        progress=progress,
    )


def with_speakers_file(cfg: DictConfig) -> DictConfig:
    """``cfg`` with its speakers read from ``speakers_file`` where one is set (in place of the group's)."""
    name = OmegaConf.select(cfg, "speakers_file", default=None)
    if name is None:
        return cfg
    path = Path(str(name)).expanduser()
    table = read_yaml(path, "speakers_file", "a speakers YAML file")
    if not isinstance(table, dict) or not table:
        raise UserError(f"speakers_file={path}: a mapping of speaker names to their image, voice and face")
    cfg = copy.deepcopy(cfg)
    cfg.speakers = OmegaConf.create(table)
    return cfg


def with_book_cast(cfg: DictConfig, stages: Sequence[Stage], run: RunDir) -> tuple[DictConfig, list[str]]:
    """``cfg`` with a drawn, voiced speaker (``temp/cast/``) for each character of a prose story who has none
    (``story.cast: auto``), and the casting's warnings; the exported config names them all."""
    for stage in stages:
        if isinstance(stage, StoryStage):
            extra, warnings = stage.book_cast(cfg.speakers, run.temp / "cast")
            if not extra:
                return cfg, warnings
            cfg = copy.deepcopy(cfg)
            with open_dict(cfg.speakers):
                for name, entry in extra.items():
                    cfg.speakers[name] = entry
            return cfg, warnings
    return cfg, []


def build_stages(cfg: DictConfig) -> list[Stage]:
    """Every enabled stage under ``stages:``, in order, built with its nested backend."""
    stages: list[Stage] = []
    for name, node in cfg.stages.items():
        if not node.get("enabled", True):
            continue
        stage = instantiate(node, f"stages.{name}")
        if not isinstance(stage, Stage):
            raise UserError(f"stages.{name}: {node._target_} is not a deepstory.kernel.stage.Stage")
        stage.name = str(name)
        stages.append(stage)
    return stages


def render(cfg: DictConfig, run_dir: Path, console: Console | None = None) -> SceneContext:
    """Render ``cfg`` into ``run_dir``; returns the context (paths and figures).

    Its progress is also written as JSON lines to ``temp/progress.jsonl`` (:class:`EventLog`), ending with
    how the render ended: ``done``, ``interrupted`` (Ctrl-C) or ``failed``.
    """
    events = EventLog(RunDir(Path(run_dir)).temp / PROGRESS_FILE)
    try:
        ctx = _render(cfg, run_dir, console or Console(stderr=True), events)
    except KeyboardInterrupt:
        events.finish("interrupted")
        raise
    except BaseException:
        events.finish("failed")
        raise
    events.finish("done")
    return ctx


def _render(cfg: DictConfig, run_dir: Path, console: Console, events: EventLog) -> SceneContext:
    started = time.perf_counter()
    tune_allocator()
    reset_peak()
    cfg = with_speakers_file(cfg)
    validate_config(cfg)
    ffmpeg_exe()  # a missing encoder fails now, not after the speech
    stages = build_stages(cfg)
    cfg, casting = with_book_cast(cfg, stages, RunDir(Path(run_dir)))
    ctx = build_context(cfg, run_dir, console, stages)
    ctx.progress.events = events
    for warning in casting:
        ctx.progress.warn(warning)
    # The lease keeps prune off every entry this render uses until its manifest lists them.
    with ctx.cache.lease(Path(run_dir), Path(run_dir) / JOURNAL):
        try:
            ctx.run.temp.mkdir(parents=True, exist_ok=True)
            ctx.run.export.mkdir(parents=True, exist_ok=True)
            write_text(ctx.run.config, OmegaConf.to_yaml(ctx.cfg, resolve=True))
            run_stages(ctx, [s for s in stages if not s.reports], also_check=[s for s in stages if s.reports])
        finally:
            ctx.executor.close()
        peaks = [stat["peak_rss_mib"] for stat in ctx.progress.stats.values() if "peak_rss_mib" in stat]
        ctx.progress.note("total", seconds=time.perf_counter() - started, peak_rss_mib=max(peaks, default=peak_mib()))
        manifest.write_manifest(ctx, stages)
        run_stages(ctx, [s for s in stages if s.reports], checked=True)  # they read the manifest
    manifest.summarize(ctx)
    return ctx


def overlap_group(stages: Sequence[Stage]) -> list[Stage]:
    """The stages that run side by side from ``stages[0]``: a leading stage and each following stage after it
    whose every frontier name is published by the group before it.  A stage whose inputs the group does not
    publish (its upstream stage is off, say) ends the group: it runs alone, reading its inputs' files."""
    group = [stages[0]]
    if not stages[0].leads:
        return group
    published = set(stages[0].publishes)
    for stage in stages[1:]:
        if not stage.follows or not set(stage.reads) <= published:
            break
        group.append(stage)
        published.update(stage.publishes)
    return group


def run_stages(ctx: SceneContext, stages: list[Stage], also_check: Sequence[Stage] = (), checked: bool = False) -> None:
    """The quick stages, then every other stage's check (and ``also_check``'s, stages run later), then the
    other stages, each closed when done.  ``checked``: the checks ran before.

    With ``overlap`` on, a leading stage and the following stages after it run side by side
    (:mod:`deepstory.run.overlap`).  Each stage's wall time and this process's peak resident set while it ran
    (MiB) go to the manifest.
    """
    quick = 0
    while quick < len(stages) and stages[quick].quick:
        quick += 1
    to_check = [] if checked else [*stages[quick:], *also_check]
    overlap = bool(OmegaConf.select(ctx.cfg, "overlap", default=False))
    for stage in stages:  # figures in the stages' order, whatever order they come in
        ctx.progress.stats.setdefault(stage.name, {})
    with ctx.progress.live(overall=not checked), ctx.progress.interruptible():
        i = 0
        while i < len(stages):
            if i == quick:
                for later in to_check:
                    later.check(ctx)
            group = overlap_group(stages[i:]) if overlap and i >= quick and overlapping.available() else [stages[i]]
            t0 = time.perf_counter()
            reset_peak()
            if len(group) > 1:
                seconds = overlapping.run_overlapped(ctx, group[0], group[1:])
            else:
                try:
                    group[0].run(ctx)
                finally:
                    group[0].close()
                seconds = {group[0].name: time.perf_counter() - t0}
            peak = peak_mib()
            release_memory()
            ctx.progress.check()
            for stage in group:
                overlapped = {"overlapped": [s.name for s in group if s is not stage]} if len(group) > 1 else {}
                ctx.progress.note(stage.name, seconds=seconds[stage.name], peak_rss_mib=peak, **overlapped)
            i += len(group)
        if quick == len(stages):  # only quick stages: the later ones are still checked
            for later in to_check:
                later.check(ctx)
    ctx.progress.bars = None
