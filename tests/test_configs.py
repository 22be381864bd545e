"""Every option of every config group composes and its objects instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from deepstory.animate.base import Animator
from deepstory.config import instantiate
from deepstory.executor import Executor
from deepstory.kernel.stage import Stage
from deepstory.layout import Layout
from deepstory.motion.base import MotionBackend
from deepstory.run.checks import missing_keys
from deepstory.run.render import build_stages
from deepstory.speech import SpeechBackend

from conftest import CONF, compose_cfg


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
    assert isinstance(stages[1].tts, SpeechBackend) and isinstance(stages[3].motion, MotionBackend)
    assert stages[0].quick and not any(s.quick for s in stages[1:])


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
