"""Every option of every config group composes, typed by its schema, and its objects instantiate; the schemas
refuse unknown keys and values out of range, in one line naming the key."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
import yaml
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from deepstory.animate.base import Animator
from deepstory.config import instantiate
from deepstory.errors import UserError
from deepstory.executor import Executor
from deepstory.kernel.stage import Stage
from deepstory.layout import Layout
from deepstory.motion.base import MotionBackend
from deepstory.run.checks import missing_keys, validate_config
from deepstory.run.config import SCHEMAS, RunConfig, _stages, stored_name
from deepstory.run.render import build_stages
from deepstory.speech import SpeechBackend
from deepstory.speech.config import ENGINES

from conftest import CONF, compose_cfg, stage_named


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("models", _options("models"))
def test_models_instantiate(models, tmp_path):
    # Options with a mandatory value (``???``, e.g. models=deepstory's data_dir) get an empty folder for it:
    # the backends read their files lazily, so they instantiate without them.
    missing = missing_keys(OmegaConf.to_container(compose_cfg(f"models={models}"), resolve=False))
    cfg = compose_cfg(f"models={models}", *(f"{key}={tmp_path}" for key in missing))
    tts = instantiate(cfg.models.tts, "models.tts")
    assert isinstance(tts, SpeechBackend) and tts.sample_rate == cfg.sample_rate
    motion = instantiate(cfg.models.motion, "models.motion")
    assert isinstance(motion, MotionBackend)
    animator = instantiate(cfg.models.animator, "models.animator")
    assert isinstance(animator, Animator) and animator.batch_size >= 1
    assert animator.accepts == motion.format  # every bundled models preset is a matching pair


def test_every_stage_builds_with_its_backend():
    cfg = compose_cfg()
    stages = build_stages(cfg)
    assert [s.name for s in stages] == list(cfg.stages)  # config order is run order
    assert all(isinstance(s, Stage) for s in stages)
    assert isinstance(stage_named(stages, "speech").tts, SpeechBackend)
    assert isinstance(stage_named(stages, "motion").motion, MotionBackend)
    assert [s.name for s in stages if s.quick] == ["story"]


def test_a_disabled_stage_is_not_built():
    assert "lipsync" not in [s.name for s in build_stages(compose_cfg("stages.lipsync.enabled=false"))]


def test_the_device_is_resolved_once_for_every_backend():
    cfg = compose_cfg("device=cuda", "device.fallback=cpu")
    import torch

    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert cfg.device.name == expected
    assert cfg.stages.animate.animator.device == expected


@pytest.mark.parametrize("device", _options("device"))
def test_device_options_compose(device):
    cfg = compose_cfg(f"device={device}")
    assert cfg.device.type == device


@pytest.mark.parametrize("story", _options("story"))
def test_story_files_exist(story):
    cfg = compose_cfg(f"story={story}")
    assert Path(cfg.story.text_path).is_file()
    assert cfg.story.default_speaker in cfg.speakers


@pytest.mark.parametrize("speakers", _options("speakers"))
def test_speaker_images_exist(speakers):
    cfg = compose_cfg(f"speakers={speakers}")
    for name, spec in cfg.speakers.items():
        assert Path(spec.image).is_file(), name


def test_media_constants_are_interpolated():
    cfg = compose_cfg("sample_rate=16000", "fps=30", "cut_size=1234")
    assert cfg.models.tts.sample_rate == 16000
    assert cfg.models.motion.fps == 30 and cfg.models.motion.sample_rate == 16000
    assert cfg.stages.chunk.cut_size == 1234


@pytest.mark.parametrize("executor", _options("executor"))
def test_executors_instantiate(executor):
    cfg = compose_cfg(f"executor={executor}")
    built = instantiate(cfg.executor, "executor")
    assert isinstance(built, Executor) and built.describe()["executor"] == executor


@pytest.mark.parametrize("layout", _options("layout"))
def test_layouts_instantiate(layout):
    cfg = compose_cfg(f"layout={layout}")
    built = instantiate(cfg.layout, "layout")
    assert isinstance(built, Layout)
    cast = built.on_stage(["Narrator", "Eileen", "Chelsea"])
    tiles = built.tiles(cast, "Eileen", 512, 256)
    assert "Eileen" in tiles and all(t.width % 2 == 0 and t.height % 2 == 0 for t in tiles.values())


# -- the schemas (deepstory/<room>/config.py, deepstory/run/config.py) ------------------------------------------
GROUPS = ["story", "device", "layout", "executor", "models", "models/tts", "models/motion", "models/animator"]
OPTIONS = [(group, option) for group in GROUPS for option in _options(group)]


def test_every_schema_is_registered():
    store = ConfigStore.instance()
    for (group, name), schema in SCHEMAS.items():
        entry = store.load(f"{stored_name(group, name)}.yaml")
        assert OmegaConf.get_type(entry.node) is schema, (group, name)


def _named_schema(group: str, option: str) -> str:
    """The last schema the option's defaults list names, its own or (``- default``) another option's."""
    named = ""
    for entry in yaml.safe_load((CONF / group / f"{option}.yaml").read_text()).get("defaults", []):
        if isinstance(entry, str) and entry.endswith("_schema@_here_"):
            named = entry[len(f"/{group.replace('/', '_')}_") : -len("@_here_")]
        elif isinstance(entry, str) and (CONF / group / f"{entry}.yaml").is_file():
            named = _named_schema(group, entry) or named
    return named


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_each_option_composes_typed_by_its_schema(group, option, tmp_path):
    """Every YAML file of a group names its schema in its defaults list; the composed node is of that type."""
    overrides = [f"{group}={option}", "device.fallback=cpu"]
    if group.startswith("models/") and option in ("dctts", "sda", "fomm"):  # the original networks' files
        overrides.append(f"+models.data_dir={tmp_path}")
    if group == "models" and option == "deepstory":
        overrides.append(f"models.data_dir={tmp_path}")
    cfg = compose_cfg(*overrides)
    validate_config(cfg)
    node = OmegaConf.select(cfg, group.replace("/", "."))
    assert OmegaConf.get_type(node) is SCHEMAS[(group, _named_schema(group, option))]
    assert OmegaConf.get_type(cfg) is RunConfig
    for name in ("piper", "espeak", "dctts"):
        if name in cfg.models.engines:
            assert OmegaConf.get_type(cfg.models.engines[name]).__name__ == f"{ENGINES[name].__name__}Partial"


def test_every_built_in_stage_is_typed_and_the_stages_stay_open():
    cfg = compose_cfg("+stages.note={_target_: stage_plugins.WordCountStage, filename: n.json}")
    validate_config(cfg)
    for name, schema in _stages().items():
        assert OmegaConf.get_type(cfg.stages[name]) is type(schema), name
    assert OmegaConf.get_type(cfg.stages.note) is dict  # a stage added through config has no schema of ours


@pytest.mark.parametrize("schema", sorted({s for s in SCHEMAS.values()}, key=lambda s: s.__name__), ids=str)
def test_each_schema_names_the_parameters_of_its_class(schema):
    """A schema's fields are parameters of its ``_target_`` (a field no class takes would fail at build time)."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    if "_target_" not in fields:
        return
    module, name = fields["_target_"].default.rsplit(".", 1)
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    assert set(fields) - {"_target_", "_partial_"} <= set(parameters), schema


UNKNOWN = [
    "+foo=1",
    "+video.widht=3",
    "+cache.verfy=full",
    "+report.enable=false",
    "+story.encodng=latin-1",
    "+device.fallbak=cpu",
    "+layout.sise=[10,10]",
    "+executor.workers=2",
    "+models.extra=1",
    "+models.tts.noise=1",
    "+models.engines.espeak.languge=de",
    "+models.motion.lead_s=0.1",
    "+models.animator.batch=2",
    *(f"+stages.{name}.bogus=1" for name in _stages()),
    "+stages.chunk.cut_sise=5",
]


@pytest.mark.parametrize("override", UNKNOWN)
def test_an_unknown_key_in_a_built_in_node_is_refused_naming_it(override):
    key = override[1:].split("=")[0]
    with pytest.raises(UserError) as error:
        validate_config(compose_cfg(override))
    assert str(error.value).startswith(f"unknown config key '{key}' (known: ") and "\n" not in str(error.value)


@pytest.mark.parametrize("override", ["stages.chunk.cut_sise=5", "video.widht=3", "models.tts.noise=1"])
def test_an_unknown_key_without_plus_fails_at_composition_naming_it(override):
    with pytest.raises(ConfigCompositionException, match=re.escape(override.split("=")[0])):
        compose_cfg(override)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["cut_size=0"], "cut_size=0: must be a whole number from 1 to 1099511627776"),
        (["sample_rate=7999"], "sample_rate=7999: must be a whole number from 8000 to 192000"),
        (["fps=121"], "fps=121: must be a whole number from 1 to 120"),
        (["max_words=2"], "max_words=2: must be a whole number from 3 to 1000"),
        (["video.height=8194"], "video.height=8194: must be a whole number from 16 to 8192, or null"),
        (["video.width=101"], "video.width=101: must be even (H.264 yuv420p)"),
        (["video.crf=52"], "video.crf=52: must be a whole number from 0 to 51"),
        (["video.segment_frames=0"], "video.segment_frames=0: must be a whole number from 1 to 100000"),
        (["cache.verify=sometimes"], "cache.verify='sometimes': must be one of size, full"),
        (["report.reference_seconds=0"], "report.reference_seconds=0: must be a number of seconds above 0, or null"),
        (["stages.chunk.cut_size=-1"], "stages.chunk.cut_size=-1: must be a whole number from 1 to 1099511627776"),
        (["stages.animate.threads=0"], "stages.animate.threads=0: must be a whole number from 1 to 1024, or null"),
        (["stages.animate.segment_frames=0"], "stages.animate.segment_frames=0: must be a whole number from 1 to"),
        (["stages.contact.size=2"], "stages.contact.size=2: must be a whole number from 16 to 4096"),
        (["stages.report.window=0"], "stages.report.window=0.0: must be a number of seconds above 0"),
        (["stages.story.max_words=1"], "stages.story.max_words=1: must be a whole number from 3 to 1000"),
        (["models.animator.batch_size=0"], "models.animator.batch_size=0: must be a whole number from 1 to 4096"),
        (["models.tts.noise_w=-1"], "models.tts.noise_w=-1.0: must be a number of at least 0"),
        (["models/tts=dctts", "+models.data_dir=/d", "models.tts.max_frames=0"], "models.tts.max_frames=0: must"),
        (["models/motion=sda", "+models.data_dir=/d", "models.motion.window=0"], "models.motion.window=0: must"),
        (["layout=stage", "layout.columns=0"], "layout.columns=0: must be a whole number from 1 to 100, or null"),
        (["executor=ray", "executor.workers=0"], "executor.workers=0: must be a whole number from 1 to 100000"),
        (
            ["executor=ray", "executor.gpus_per_worker=-1"],
            "executor.gpus_per_worker=-1: must be a number of at least 0",
        ),
    ],
)
def test_a_value_out_of_range_is_refused_naming_key_and_range(overrides, message):
    with pytest.raises(UserError) as error:
        validate_config(compose_cfg(*overrides))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_an_interpolated_value_is_checked_once_where_the_user_sets_it():
    with pytest.raises(UserError, match=r"^cut_size=0: "):
        validate_config(compose_cfg("cut_size=0"))  # stages.chunk.cut_size is ${cut_size}: not named again
    validate_config(compose_cfg("stages.animate.threads=null", "report.reference_seconds=12.5"))  # null, a float


def test_a_stage_whose_class_is_swapped_may_take_keys_of_its_own():
    """Another ``_target_`` in a built-in stage's place: its own keys are its class's business, not the schema's."""
    validate_config(compose_cfg("stages.speech._target_=stage_plugins.MislaidSpeech", "+stages.speech.mislead=shuffle"))
    with pytest.raises(UserError, match="unknown config key 'stages.speech.mislead'"):
        validate_config(compose_cfg("+stages.speech.mislead=shuffle"))


def test_the_schemas_change_nothing_that_is_composed():
    """No schema adds, drops or converts a value: the composed config is the YAML's (the config hash and what
    reaches the stages are unchanged), key for key, in order."""
    cfg = compose_cfg("executor=ray")
    plain = OmegaConf.to_container(cfg, resolve=False)
    assert list(plain) == [
        *("story", "speakers", "models", "device", "layout", "executor"),
        "speakers_file",
        *("sample_rate", "fps", "cut_size", "overlap", "seed", "cache_dir", "cache", "max_words", "debug"),
        *("report", "video", "stages"),
    ]
    main = yaml.safe_load((CONF / "config.yaml").read_text())
    assert {k: plain[k] for k in main if k not in ("defaults", "hydra")} == {
        k: v for k, v in main.items() if k not in ("defaults", "hydra")
    }
    for group, option in [("executor", "ray"), ("models/tts", "piper"), ("layout", "single"), ("story", "chapter3")]:
        own = yaml.safe_load((CONF / group / f"{option}.yaml").read_text())
        own.pop("defaults")
        node = plain
        for part in group.split("/"):
            node = node[part]
        assert node == own, group
