"""What every stage is handed: one :class:`RunContext`, built complete before the first stage runs.

* :class:`RunDir` — the run's directory: ``temp/`` for the stages' working
  files, ``export/`` for what the render delivers, the manifest;
* :class:`Media` — the run's constants: sample rate, frame rate, frame size, device;
* the executor and the cache, built from the config;
* :class:`~deepstory.kernel.progress.Progress` — progress bars, warnings and per-stage figures.

Nothing here knows a stage: each stage's own files (their paths and loaders)
live in its room (``deepstory/<stage>/files.py``).  A room that needs more of
the run (the drawing stages' cast and layout, ``deepstory.scene``) extends
:class:`RunContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from deepstory.cache import Cache
from deepstory.executor import Executor
from deepstory.kernel.progress import Progress
from deepstory.timeline import frame_at


@dataclass(frozen=True)
class RunDir:
    """One render's directory (Hydra's run dir): each stage's files are below ``temp`` and ``export``."""

    root: Path

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def manifest(self) -> Path:
        """``export/manifest.json``: what was rendered, from what, how long it took (``deepstory.run.manifest``)."""
        return self.export / "manifest.json"

    @property
    def config(self) -> Path:
        """``export/config.yaml``: the resolved config of the render."""
        return self.export / "config.yaml"


@dataclass(frozen=True)
class Media:
    """The run's media constants (the top-level config values) and the resolved device."""

    sample_rate: int
    fps: int
    width: int
    height: int
    background: tuple[int, int, int]
    device: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def frame_at(self, sample: int) -> int:
        return frame_at(sample, self.sample_rate, self.fps)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "Media":
        return cls(
            int(cfg.sample_rate),
            int(cfg.fps),
            int(cfg.video.width),
            int(cfg.video.height),
            tuple(int(v) for v in cfg.video.get("background", (255, 255, 255))),  # type: ignore[arg-type]
            str(cfg.device.name),
        )


@dataclass(frozen=True)
class RunContext:
    """Everything fixed for one render, handed to every stage."""

    cfg: DictConfig  # the composed config, for provenance only: stages get their settings as arguments
    config_hash: str  # names the config that made this render (written into the mp4)
    run: RunDir
    media: Media
    executor: Executor
    cache: Cache
    progress: Progress
