"""Stages one at a time on tmp_path, and a stage added through config alone."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from rich.console import Console

from deepstory.animate.stage import AnimateStage
from deepstory.chunk.files import ChunkFiles
from deepstory.chunk.stage import ChunkStage
from deepstory.errors import UserError
from deepstory.files import write_json
from deepstory.kernel.stage import Stage
from deepstory.media import read_wav, write_wav
from deepstory.motion.envelope import EnvelopeMotion
from deepstory.motion.files import MotionFiles
from deepstory.motion.stage import MotionStage
from deepstory.run.checks import validate_config
from deepstory.run.render import build_context, build_stages
from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles
from deepstory.story.stage import StoryStage
from deepstory.timeline import build_segments
from deepstory.track import FACE

from conftest import compose_cfg, render_here, stage_named

STORY = "Eileen: Hello there. I am home!\nThe cat looked up.\n\nEileen: Goodnight.\n"
SR, FPS = 22050, 25


@pytest.fixture
def story_file(tmp_path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text(STORY, encoding="utf-8")
    return path


def _context(tmp_path: Path, *overrides: str) -> SceneContext:
    cfg = compose_cfg(f"cache_dir={tmp_path / 'cache'}", "video.width=64", "video.height=64", *overrides)
    return build_context(cfg, tmp_path / "run", Console(file=io.StringIO()))


def _run(ctx: SceneContext, stage: Stage, name: str) -> Stage:
    """One stage on its own, named as the runner would name it."""
    stage.name = name
    stage.run(ctx)
    return stage


def _story(ctx: SceneContext, story_file: Path) -> None:
    _run(ctx, StoryStage(str(story_file)), "story")


def _spoken(tmp_path: Path, story_file: Path) -> SceneContext:
    """A run dir with the story parsed and spoken (by a tone per sentence): ready for the chunk stage."""
    ctx = _context(tmp_path)
    _story(ctx, story_file)
    _fake_speech(ctx)
    return ctx


def _fake_speech(ctx: SceneContext) -> None:
    """What the speech stage would write, without a voice: a tone per sentence, then the timeline."""
    sentences = StoryFiles(ctx.run).sentences()
    lengths = []
    for s in sentences:
        n = 2000 + 1000 * s.index
        write_wav(SpeechFiles(ctx.run).speech(s.index), 0.5 * np.sin(np.arange(n) * 2 * np.pi * 700 / SR), SR)
        lengths.append(n)
    segments = build_segments(sentences, lengths, SR, [f"k{i}" for i in range(len(sentences))])
    write_json(SpeechFiles(ctx.run).timeline, {"sample_rate": SR, "segments": [vars(s) for s in segments]})


def test_story_stage_alone(tmp_path, story_file):
    ctx = _context(tmp_path)
    _story(ctx, story_file)
    story = json.loads(StoryFiles(ctx.run).story.read_text())
    assert [s["speaker"] for s in story["sentences"]] == ["Eileen", "Eileen", "Narrator", "Eileen"]
    assert story["sentences"][1]["text"] == "I am home!" and story["sentences"][1]["pause_before"] == 0.0
    assert StoryFiles(ctx.run).speakers() == ["Eileen", "Narrator"]


def test_chunk_stage_alone_cuts_and_writes_each_chunks_audio(tmp_path, story_file):
    ctx = _spoken(tmp_path, story_file)
    _run(ctx, ChunkStage(cut_size=100), "chunk")
    chunks = ChunkFiles(ctx.run).chunks()
    assert json.loads(ChunkFiles(ctx.run).chunks_file.read_text())["cut_size"] == 100  # what the summary reports
    assert [c.sentences for c in chunks] == [(0,), (1,), (2,), (3,)]  # every sentence exceeds 100 samples
    reader = SpeechFiles(ctx.run).reader()
    for chunk in chunks:
        audio, rate = read_wav(ChunkFiles(ctx.run).chunk_audio(chunk))
        assert rate == SR and len(audio) == chunk.samples
        np.testing.assert_allclose(audio, reader.read(chunk.start, chunk.end), atol=1 / 32767)
    assert ctx.cache.summary()["chunk"] == {"hits": 0, "misses": 4}


@pytest.mark.parametrize("bad", ["0", "-5", "2.5", "true"])
@pytest.mark.parametrize("key", ["cut_size", "stages.chunk.cut_size"])
def test_a_bad_cut_size_is_refused_where_it_is_set(key, bad):
    """The schema's range (deepstory/chunk/config.py): a whole number, checked once, at the key the user set."""
    with pytest.raises((UserError, ConfigCompositionException), match=rf"{re.escape(key)}={bad}"):
        validate_config(compose_cfg(f"{key}={bad}"))


def test_stages_chunk_cut_size_on_the_command_line_is_checked():
    with pytest.raises(UserError, match=r"^stages\.chunk\.cut_size=0: must be a whole number from 1 to 1099511627776$"):
        validate_config(compose_cfg("stages.chunk.cut_size=0"))


def test_motion_stage_alone_writes_tracks_in_the_declared_format(tmp_path, story_file):
    ctx = _spoken(tmp_path, story_file)
    _run(ctx, ChunkStage(cut_size=800000), "chunk")
    stage = _run(ctx, MotionStage(EnvelopeMotion(SR, FPS)), "motion")
    assert json.loads(MotionFiles(ctx.run).motion_format.read_text())["format"] == FACE.name
    for chunk in ChunkFiles(ctx.run).chunks():
        track = np.load(MotionFiles(ctx.run).motion(chunk))
        assert track.shape == (chunk.frames, FACE.width) and track.dtype == np.float32
        assert track[:, FACE.index("open")].max() > 0.3  # the tone opens the mouth
    assert stage.identity()["motion"]["backend"] == "EnvelopeMotion"


def test_animate_stage_refuses_tracks_its_animator_cannot_read(tmp_path, story_file):
    ctx = _context(tmp_path)
    _story(ctx, story_file)
    write_json(MotionFiles(ctx.run).motion_format, {"format": "fomm-keypoints"})
    stage = stage_named(build_stages(ctx.cfg), "animate")
    assert isinstance(stage, AnimateStage)
    with pytest.raises(UserError, match=r"takes face motion tracks, but models.motion made fomm-keypoints"):
        stage.run(ctx)


def test_a_stage_added_through_config_alone_runs_last(tmp_path, story_file):
    """One class (tests/stage_plugins.py) and one config entry; here every built-in stage but the story is off."""
    off = [
        f"stages.{s}.enabled=false" for s in ("speech", "chunk", "motion", "animate", "compose", "contact", "lipsync")
    ]
    run_dir = render_here(
        tmp_path / "run",
        f"story.text_path={story_file}",
        f"cache_dir={tmp_path / 'cache'}",
        *off,
        "+stages.words={_target_: stage_plugins.WordCountStage, filename: words.json}",
    )
    made = json.loads((run_dir / "export" / "words.json").read_text())
    assert made["words"] == {"Eileen": 6, "Narrator": 4}
    assert made["stages_before"] == ["story"]  # it ran after the story, in config order
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    assert list(manifest["stages"])[:2] == ["story", "words"]


def test_contact_sheet_shows_every_speaker_in_every_mouth_shape(tmp_path, story_file):
    from deepstory.animate.warp import WarpAnimator
    from deepstory.contact.stage import LABEL, ORDER, ContactStage, contact_sheet

    ctx = _context(tmp_path)
    _story(ctx, story_file)
    _run(ctx, ContactStage(WarpAnimator(), size=96), "contact")
    sheet = contact_sheet(ctx.run.export / "contact.png").astype(int)
    assert sheet.shape == ((96 + LABEL) * 2, 96 * len(ORDER), 3)  # Eileen and the narrator, 9 shapes each
    for row, speaker in enumerate(StoryFiles(ctx.run).speakers()):
        face = ctx.cast.portrait(speaker, (96, 96)).face
        (mx, my), mw = face.mouth, face.mouth_width
        top = row * (96 + LABEL)
        mouths = {
            shape: sheet[top + int(my - 0.3 * mw) : top + int(my + 0.8 * mw),
                         c * 96 + int(mx - 0.6 * mw) : c * 96 + int(mx + 0.6 * mw)]
            for c, shape in enumerate(ORDER)
        }  # fmt: skip
        wide_open = np.abs(mouths["D"] - mouths["X"]).mean()
        # D opens; A stays shut (a press hides a smile's teeth: it changes the mouth too, but less)
        assert wide_open > 2 * np.abs(mouths["A"] - mouths["X"]).mean() + 1, speaker
