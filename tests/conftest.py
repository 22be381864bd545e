"""Shared fixtures: composed configs and a tiny two-speaker story rendered once per session."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import deepstory.config  # noqa: F401  (registers ${asset:...})

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"

TINY_STORY = """\
Eileen: Hello Chelsea! I am home from space, and I brought you a present.
The cat looked up... and said nothing at all.
Eileen: Do you like it? It is a tiny rocket made of cardboard.
It was quiet for a long moment.
Eileen: Well, I think it is wonderful. Goodnight!
"""


def compose_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_story(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("story") / "tiny.txt"
    path.write_text(TINY_STORY, encoding="utf-8")
    return path


TINY_SIZE = 160


@pytest.fixture(scope="session")
def tiny_render(tmp_path_factory, tiny_story) -> Path:
    """One real render of the tiny story at a small cut_size (several chunks)."""
    run_dir = tmp_path_factory.mktemp("render") / "run"
    proc = run_cli(f"story.text_path={tiny_story}", "cut_size=30000", f"video.width={TINY_SIZE}",
                   f"video.height={TINY_SIZE}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir
