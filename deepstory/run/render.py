"""The render: check the config, build the run's context and its stages, run the stages in order."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from deepstory.cache import Cache, digest
from deepstory.config import instantiate
from deepstory.errors import UserError
from deepstory.files import write_text
from deepstory.media import ffmpeg_exe
from deepstory.memory import release_memory
from deepstory.run import report
from deepstory.run.checks import validate_config
from deepstory.run.context import Cast, Media, Progress, RunContext, RunFiles
from deepstory.run.stage import Stage

# Keys that never change what is rendered, left out of the config hash.
UNHASHED = ("cache_dir", "debug")


def config_hash(cfg: DictConfig) -> str:
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return digest({k: v for k, v in data.items() if k not in UNHASHED})[:16]


def build_context(cfg: DictConfig, run_dir: Path, console: Console) -> RunContext:
    """Everything fixed for the run, from the config: files, media constants, cast, layout, executor, cache."""
    media = Media.from_config(cfg)
    layout = instantiate(cfg.layout, "layout")
    return RunContext(
        cfg=cfg,
        config_hash=config_hash(cfg),
        files=RunFiles(Path(run_dir)),
        media=media,
        cast=Cast(cfg.speakers, media.background, layout.face_margin),
        layout=layout,
        executor=instantiate(cfg.executor, "executor"),
        cache=Cache(Path(str(cfg.cache_dir)).expanduser()),
        progress=Progress(console),
    )


def build_stages(cfg: DictConfig) -> list[Stage]:
    """Every enabled stage under ``stages:``, in order, built with its nested backend."""
    stages = []
    for name, node in cfg.stages.items():
        if not node.get("enabled", True):
            continue
        stage = instantiate(node, f"stages.{name}")
        if not isinstance(stage, Stage):
            raise UserError(f"stages.{name}: {node._target_} is not a deepstory.run.stage.Stage")
        stage.name = str(name)
        stages.append(stage)
    return stages


def render(cfg: DictConfig, run_dir: Path, console: Console | None = None) -> RunContext:
    """Render ``cfg`` into ``run_dir``; returns the context (paths and figures)."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    validate_config(cfg)
    ffmpeg_exe()  # a missing encoder fails now, not after the speech
    ctx = build_context(cfg, run_dir, console)
    try:
        stages = build_stages(cfg)
        ctx.files.temp.mkdir(parents=True, exist_ok=True)
        ctx.files.export.mkdir(parents=True, exist_ok=True)
        write_text(ctx.files.export / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        run_stages(ctx, stages)
    finally:
        ctx.executor.close()
    ctx.progress.note("total", seconds=time.perf_counter() - started)
    report.write_manifest(ctx, stages)
    report.summarize(ctx)
    return ctx


def run_stages(ctx: RunContext, stages: list[Stage]) -> None:
    """The quick stages, then every other stage's check, then the other stages, each closed when done."""
    quick = 0
    while quick < len(stages) and stages[quick].quick:
        quick += 1
    with ctx.progress.live(), ctx.progress.interruptible():
        for i, stage in enumerate(stages):
            if i == quick:
                for later in stages[quick:]:
                    later.check(ctx)
            t0 = time.perf_counter()
            try:
                stage.run(ctx)
            finally:
                stage.close()
            release_memory()
            ctx.progress.check()
            ctx.progress.note(stage.name, seconds=time.perf_counter() - t0)
    ctx.progress.bars = None
