"""The run's top-level schema (``conf/config.yaml``'s own keys), and :func:`register_schemas`.

Each room's schemas live beside it (``deepstory/<room>/config.py``); this module gathers them into Hydra's
ConfigStore, under the names the YAML files' defaults lists use:

* ``config_schema``: the top level (:class:`RunConfig`); ``stages`` is an open mapping (a stage can be added
  through config alone) whose built-in entries are typed by their stages' schemas;
* ``<group>/<option>_schema`` for every option of a group (``models/tts/piper_schema``, ``layout/stage_schema``),
  and ``models/tts/<engine>_partial`` for an engine of ``models.engines`` (the engine's schema with ``_partial_``).

:func:`register_schemas` runs before every composition: ``run.py``, the tests' ``compose_cfg``,
``python -m deepstory.voices``, the benchmarks that compose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from deepstory.animate.config import CRF, SEGMENT_FRAMES, AnimateStageConfig, FOMMConfig, WarpConfig
from deepstory.cache import VERIFY_MODES
from deepstory.chunk.config import CUT_SIZE, ChunkStageConfig
from deepstory.compose.config import ComposeStageConfig
from deepstory.contact.config import ContactStageConfig
from deepstory.executor.config import LocalExecutorConfig, RayExecutorConfig
from deepstory.layout.config import SingleLayoutConfig, StageLayoutConfig
from deepstory.lipsync.config import LipSyncStageConfig
from deepstory.motion.config import EnvelopeConfig, MotionStageConfig, SDAConfig, VisemesConfig
from deepstory.report.config import ReportConfig, ReportStageConfig
from deepstory.schema import OneOf, Range, ranged
from deepstory.speech.config import ENGINES, SAMPLE_RATE, SpeechStageConfig, partial
from deepstory.story.config import MAX_WORDS, StoryConfig, StoryStageConfig


@dataclass
class DeviceConfig:
    """``conf/device/*.yaml``: the torch device, resolved once into ``name``."""

    type: str = MISSING
    index: int = ranged(Range(0, 1024))
    fallback: Optional[str] = MISSING
    name: str = MISSING


@dataclass
class ModelsConfig:
    """``conf/models/*.yaml``: the backends, each typed by its own group's schema."""

    #: Keys a user may add: ``+models.data_dir=/path`` to use one of the original networks alone
    #: (``models/tts=dctts``); ``models=deepstory`` has it as a field.
    addable: ClassVar[tuple[str, ...]] = ("data_dir",)

    tts: Any = MISSING
    engines: dict[str, Any] = MISSING
    motion: Any = MISSING
    animator: Any = MISSING


@dataclass
class DeepstoryModelsConfig(ModelsConfig):
    """``models=deepstory``: the original networks, from ``data_dir``."""

    data_dir: str = MISSING


@dataclass
class CacheConfig:
    """``cache``: how hits are checked, and where a read-only cache's new entries go."""

    verify: str = ranged(OneOf(VERIFY_MODES))
    local_dir: Optional[str] = MISSING


#: A frame's side in pixels (``video.width``, ``video.height``).
FRAME_SIDE = Range(16, 8192, even="H.264 yuv420p")


@dataclass
class VideoConfig:
    """``video``: the frame and its encoding."""

    # Any, checked as a whole number: a word (video.width=wide) is answered with the range, as 0 is.
    width: Optional[Any] = ranged(FRAME_SIDE)
    height: Optional[Any] = ranged(FRAME_SIDE)
    background: list[int] = MISSING
    crf: int = ranged(CRF)
    preset: str = MISSING
    segment_frames: int = ranged(SEGMENT_FRAMES)
    audio_bitrate: str = MISSING


def _stages() -> dict[str, Any]:
    """The built-in stages, in order; the mapping stays open to stages added through config."""
    return {
        "story": StoryStageConfig(),
        "speech": SpeechStageConfig(),
        "chunk": ChunkStageConfig(),
        "motion": MotionStageConfig(),
        "animate": AnimateStageConfig(),
        "compose": ComposeStageConfig(),
        "contact": ContactStageConfig(),
        "lipsync": LipSyncStageConfig(),
        "report": ReportStageConfig(),
    }


@dataclass
class RunConfig:
    """``conf/config.yaml``: the groups (typed by their options' schemas) and the top-level values."""

    story: Any = MISSING
    speakers: dict[str, Any] = MISSING
    models: Any = MISSING
    device: Any = MISSING
    layout: Any = MISSING
    executor: Any = MISSING
    speakers_file: Optional[str] = None
    sample_rate: int = ranged(SAMPLE_RATE)
    fps: int = ranged(Range(1, 120))
    cut_size: int = ranged(CUT_SIZE)
    overlap: bool = MISSING
    seed: int = MISSING
    cache_dir: str = MISSING
    cache: CacheConfig = field(default_factory=CacheConfig)
    max_words: int = ranged(MAX_WORDS)
    debug: bool = MISSING
    report: ReportConfig = field(default_factory=ReportConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    stages: dict[str, Any] = field(default_factory=_stages)


#: ``(group, name) -> schema``: every schema the YAML files name.
SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "config_schema"): RunConfig,
    ("story", "story_schema"): StoryConfig,
    ("device", "device_schema"): DeviceConfig,
    ("models", "models_schema"): ModelsConfig,
    ("models", "deepstory_schema"): DeepstoryModelsConfig,
    **{("models/tts", f"{name}_schema"): schema for name, schema in ENGINES.items()},
    **{("models/tts", f"{name}_partial"): partial(schema) for name, schema in ENGINES.items()},
    ("models/motion", "visemes_schema"): VisemesConfig,
    ("models/motion", "envelope_schema"): EnvelopeConfig,
    ("models/motion", "sda_schema"): SDAConfig,
    ("models/animator", "warp_schema"): WarpConfig,
    ("models/animator", "fomm_schema"): FOMMConfig,
    ("layout", "single_schema"): SingleLayoutConfig,
    ("layout", "stage_schema"): StageLayoutConfig,
    ("executor", "local_schema"): LocalExecutorConfig,
    ("executor", "ray_schema"): RayExecutorConfig,
}


def stored_name(group: str | None, name: str) -> str:
    """The name a schema is stored under: at the config root, out of the groups, so that ``--help`` and the
    group's options list only what a user can choose (``layout/single_schema`` -> ``layout_single_schema``).  A
    YAML file names it as ``/<stored name>@_here_``."""
    return f"{group.replace('/', '_')}_{name}" if group else name


def register_schemas() -> None:
    """Store every schema in Hydra's ConfigStore (again is harmless); call before composing a config."""
    store = ConfigStore.instance()
    for (group, name), schema in SCHEMAS.items():
        store.store(name=stored_name(group, name), node=schema)
