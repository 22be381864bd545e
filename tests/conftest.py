"""Shared fixtures: configs composed in-process, renders in-process, a tiny story rendered once per session.

Renders run in this process (``render_here``) through Hydra's compose API, as
lightning-hydra-template's tests do; ``run_cli`` starts ``run.py`` in a
subprocess only where the command line itself is under test (exit codes, one-line
errors, sweeps, signals).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import deepstory.config  # noqa: F401  (registers ${asset:...})
from deepstory.run.config import register_schemas

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
    register_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def stage_named(stages, name: str):
    """The stage called ``name`` (its key under ``stages:``) of built ``stages``."""
    found = [s for s in stages if s.name == name]
    assert found, f"no stage {name!r} among {[s.name for s in stages]}"
    return found[0]


def render_here(run_dir: Path, *overrides: str) -> Path:
    """Compose the config with ``overrides`` and render it into ``run_dir`` in this process."""
    from rich.console import Console

    from deepstory.run.render import render

    render(compose_cfg(*overrides), run_dir, Console(file=io.StringIO(), width=120))
    return run_dir


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


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
    return render_here(base / "run", *tiny_args(tiny_story, base / "cache"), "cut_size=30000")


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


GOLDEN = ROOT / "tests" / "data" / "golden_render.json"


def public_version(version: str) -> str:
    """``version`` without its local label (``2.13.0+cpu`` -> ``2.13.0``), normalised as pip compares it."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version).public
    except InvalidVersion:
        return version.split("+", 1)[0]


def changed_versions(recorded: dict[str, str], installed: dict[str, str | None]) -> dict[str, tuple[str, str | None]]:
    """``{library: (recorded, installed)}`` for each recorded library whose installed public version differs.

    A library that is not installed (``None``) differs; local labels such as ``+cpu`` are ignored.
    """
    return {
        lib: (want, installed.get(lib))
        for lib, want in recorded.items()
        if installed.get(lib) is None or public_version(str(installed[lib])) != public_version(want)
    }


def installed_versions(libraries) -> dict[str, str | None]:
    """The installed version of each of ``libraries`` (``None`` where it is not installed)."""
    import importlib.metadata

    found: dict[str, str | None] = {}
    for lib in libraries:
        try:
            found[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            found[lib] = None
    return found


def in_ci() -> bool:
    """``CI=true`` (or 1/yes) in the environment, as CI services set it: checks that would skip must fail."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_or_fail_in_ci(message: str) -> None:
    """Skip with ``message``; under ``CI=true``, fail with it instead (CI must not pass what it did not check)."""
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def golden_version_problem(recorded: dict[str, str], installed: dict[str, str | None]) -> str | None:
    """Why the golden digests cannot be checked with ``installed`` (naming each library and both versions), or None."""
    changed = changed_versions(recorded, installed)
    if not changed:
        return None
    listed = ", ".join(f"{lib} recorded {want}, installed {have or 'none'}" for lib, (want, have) in changed.items())
    return f"golden digests were recorded with other library versions (.ci/constraints.txt): {listed}"


def check_golden(name: str, video: Path) -> None:
    """The decoded frames and audio of ``video`` are the recorded reference render ``name`` (tests/data/golden_render.json).

    Skipped, saying why, where a library that shapes the bytes has another (public) version than the
    recording; under ``CI=true`` that is a failure (CI installs .ci/constraints.txt).
    """
    import json

    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    problem = golden_version_problem(golden["versions"], installed_versions(golden["versions"]))
    if problem:
        skip_or_fail_in_ci(problem)
    expected = golden["renders"][name]
    frames, audio, count = decoded_digest(video, expected["size"])
    if os.environ.get("DEEPSTORY_RECORD_GOLDEN") == "1":  # re-record after an intended change of the output
        expected.update(frames=count, audio_sha256=audio, frames_sha256=frames)
        GOLDEN.write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
        return
    assert count == expected["frames"]
    assert audio == expected["audio_sha256"], f"{name}: decoded audio differs from the recorded reference"
    assert frames == expected["frames_sha256"], f"{name}: decoded frames differ from the recorded reference"
