"""Configured names never become paths: a cast of hostile names renders, and every file stays in the run dir or cache.

The speakers file is a real Hydra config group option (found through ``hydra.searchpath``), as a user's own
``conf/speakers/<mine>.yaml`` would be; the story names every speaker in ``Name: text`` lines, and the
narrator (the default speaker) has a 300-character name.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from deepstory.run.render import render

from conftest import ROOT, compose_cfg, tiny_args

IMAGE = ROOT / "deepstory" / "assets" / "portraits" / "astronaut.png"
LONG = "N" * 300  # longer than any file name may be (255 bytes)
HOSTILE = ["../x", "/abs", "a/b", "..", "nu\x00l", "\u202eevil", "Eve", "eve", "../../../escaped"]
NAMES = [*HOSTILE, LONG]


def _tree(root: Path, skip: tuple[Path, ...] = ()) -> set[str]:
    """Every path under ``root`` (files and folders), relative; ``skip``: folders not looked into."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            found.add(str((here / name).relative_to(root)))
    return found


def test_hostile_speaker_names_stay_inside_the_file_and_out_of_every_path(tmp_path):
    conf = tmp_path / "conf"
    (conf / "speakers").mkdir(parents=True)
    (conf / "speakers" / "hostile.yaml").write_text(
        yaml.safe_dump({name: {"image": str(IMAGE)} for name in NAMES}, allow_unicode=True), encoding="utf-8"
    )
    story = tmp_path / "story.txt"
    story.write_text("It was quiet.\n" + "".join(f"{name}: Hello there.\n" for name in HOSTILE), encoding="utf-8")
    # Deep enough that ../../../escaped from temp/faces/ would still land inside tmp_path.
    work = tmp_path / "deep" / "er"
    run_dir, cache = work / "run", work / "cache"
    watched = {
        tmp_path.parent: _tree(tmp_path.parent),
        ROOT: _tree(ROOT, skip=(ROOT / ".git",)),
        Path("/"): set(os.listdir("/")),
    }

    cfg = compose_cfg(
        *tiny_args(story, cache),
        f"hydra.searchpath=[file://{conf}]",
        "speakers=hostile",
        f"story.default_speaker={LONG}",
    )
    render(cfg, run_dir, Console(file=io.StringIO(), width=120))

    # Nothing appeared anywhere but in the run dir and the cache.
    inside = (tmp_path / "deep" / "er" / "run", tmp_path / "deep" / "er" / "cache")
    new_here = {
        p
        for p in _tree(tmp_path.parent) - watched[tmp_path.parent]
        if not any((tmp_path.parent / p).is_relative_to(d) for d in inside)
        and p not in {str(d.relative_to(tmp_path.parent)) for d in (tmp_path / "deep", work, *inside)}
    }
    assert not new_here, f"written outside the run dir and the cache: {sorted(new_here)}"
    assert _tree(ROOT, skip=(ROOT / ".git",)) == watched[ROOT], "written into the repository"
    assert set(os.listdir("/")) == watched[Path("/")], "written into /"

    # Every speaker spoke, the two that differ only in case as two speakers.
    sentences = json.loads((run_dir / "temp" / "story.json").read_text(encoding="utf-8"))["sentences"]
    assert {s["speaker"] for s in sentences} == set(NAMES)
    assert set(json.loads((run_dir / "temp" / "voices.json").read_text(encoding="utf-8"))) == set(NAMES)

    # One face file per speaker, under a name the renderer made, with the speaker's name inside.
    faces = sorted((run_dir / "temp" / "faces").iterdir())
    assert all(re.fullmatch(r"p\d{2}-\d+\.json", f.name) for f in faces), [f.name for f in faces]
    inside_faces = {json.loads(f.read_text(encoding="utf-8"))["speaker"]: f.name for f in faces}
    assert set(inside_faces) == set(NAMES) and len(faces) == len(NAMES)
    assert inside_faces["Eve"] != inside_faces["eve"]

    # No file of the run or the cache is named from a speaker.
    for root in inside:
        for rel in _tree(root):
            assert not any(name in rel for name in NAMES if len(name) > 2), (root, rel)
            assert "\u202e" not in rel and "\x00" not in rel
    assert (run_dir / "export" / "animated.mp4").stat().st_size > 0


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", "nul\0name", "back\\slash"])
def test_dctts_voice_folder_is_never_a_name_that_is_a_path(tmp_path, name):
    """DC-TTS picks a speaker's folder by name when none is configured: a name that is a path is refused."""
    from deepstory.errors import UserError
    from deepstory.speech.base import Voice
    from deepstory.speech.dctts import DCTTSSpeech

    engine = DCTTSSpeech(sample_rate=22050, data_dir=tmp_path)
    with pytest.raises(UserError, match="voice.dctts"):
        engine.voice_folder(Voice(character=name))
    assert engine.voice_folder(Voice(character="Eileen"))[0] == tmp_path / "dctts" / "Eileen"
    assert engine.voice_folder(Voice(character=name, options={"dctts": "eileen"}))[0] == tmp_path / "dctts" / "eileen"
