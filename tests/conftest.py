"""Shared fixtures: composed configs and a tiny two-speaker story rendered once per session."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import deepstory.config  # noqa: F401  (registers ${asset:...})

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class FakeSentence:
    """Just what the timeline needs of a sentence."""

    index: int
    speaker: str
    pause_before: float = 0.0
    pause_after: float = 0.0
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
    base = tmp_path_factory.mktemp("render")
    run_dir = base / "run"
    proc = run_cli(*tiny_args(tiny_story, base / "cache"), "cut_size=30000", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def tiny_args(story: Path, cache: Path, size: int = TINY_SIZE) -> list[str]:
    """Overrides of a small, fast render of ``story`` with its own cache."""
    return [f"story.text_path={story}", f"video.width={size}", f"video.height={size}", f"cache_dir={cache}"]


def decoded_digest(video: Path, size: int = TINY_SIZE) -> tuple[str, str, int]:
    """Hashes of the decoded frames and audio of ``video``, and its frame count."""
    import hashlib

    from deepstory.media import decode_audio, decode_frames

    frames, count = hashlib.sha256(), 0
    for frame in decode_frames(video, size, size):
        frames.update(frame.tobytes())
        count += 1
    audio = hashlib.sha256(decode_audio(video, 22050).tobytes()).hexdigest()
    return frames.hexdigest(), audio, count
