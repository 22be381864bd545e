"""The neural networks as pipeline backends (``models=deepstory``): DC-TTS speech, SDA + FOMM keypoint motion,
the FOMM animator; then a real render through the CLI.

A fake data folder in the original published layout is built once per
session, with seeded random weights (tests/neural_golden.py) in the original
file formats; random weights make noise, which is all these tests need.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from deepstory.animate.fomm import FOMMAnimator
from deepstory.config import instantiate
from deepstory.errors import DeepstoryError
from deepstory.media import decode_audio, decode_frames, probe
from deepstory.motion.sda import SDAMotion, sda_identity_frame
from deepstory.neural.checkpoint import CheckpointError
from deepstory.neural.keypoints import (
    KP_JACOBIANS,
    KP_VALUES,
    TRACK_WIDTH,
    face_square,
    pack_keypoints,
    unpack_keypoints,
)
from deepstory.portrait import speaker_portrait
from deepstory.run.checks import validate_config
from deepstory.speech import Voice
from deepstory.speech.dctts import DCTTSSpeech

from conftest import compose_cfg, render_here, run_cli
from neural_golden import mean_face, write_deepstory_data

SIZE = 256
STORY = "Eileen: Hello there\nThe cat sat\n"  # no final punctuation: no pause after (fewer frames to animate)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """``dctts/{Eileen,Narrator}/``, ``sda/grid.dat``, ``fom/vox-cpk.pth.tar`` (+ ``vox-256.yaml``), ~1 GB."""
    return write_deepstory_data(tmp_path_factory.mktemp("deepstory_data"), ["Eileen", "Narrator"])


@pytest.fixture(scope="module")
def portraits() -> dict:
    cfg = compose_cfg()
    return {name: speaker_portrait(cfg.speakers[name], name, SIZE, SIZE)[1] for name in ("Eileen", "Narrator")}


def _speech(t: np.ndarray) -> np.ndarray:
    """Bursts of a 180 Hz buzz with harmonics, silent between: something for SDA to hear."""
    buzz = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 8))
    return (0.3 * buzz * (np.sin(2 * np.pi * 2.0 * t) > 0)).astype(np.float32)


def _read(start: int, stop: int) -> np.ndarray:
    return _speech(np.arange(start, stop) / 22050)


# ----------------------------------------------------------------------------------- config


def test_preset_composes_and_instantiates(tmp_path):
    cfg = compose_cfg("models=deepstory", f"models.data_dir={tmp_path}")
    validate_config(cfg)
    tts = instantiate(cfg.models.tts, "models.tts")
    motion = instantiate(cfg.models.motion, "models.motion")
    animator = instantiate(cfg.models.animator, "models.animator", device=torch.device("cpu"))
    assert isinstance(tts, DCTTSSpeech) and tts.data_dir == tmp_path and tts.sample_rate == 22050
    assert isinstance(motion, SDAMotion) and motion.needs_portrait and motion.context == 0
    assert motion.checkpoint == tmp_path / "sda" / "grid.dat"
    assert motion.fomm_checkpoint == tmp_path / "fom" / "vox-cpk.pth.tar" == animator.checkpoint
    assert isinstance(animator, FOMMAnimator) and animator.batch_size >= 1
    with pytest.raises(CheckpointError, match=r"models\.motion\.checkpoint: checkpoint not found: .*grid\.dat"):
        motion.identity()  # nothing there: the pipeline asks for identities before any work


def test_missing_data_dir_is_one_line_naming_the_key():
    with pytest.raises(DeepstoryError) as err:
        validate_config(compose_cfg("models=deepstory"))
    assert str(err.value).startswith("models.data_dir: missing value") and "\n" not in str(err.value)


def test_sda_needs_25_fps(tmp_path):
    cfg = compose_cfg("models=deepstory", f"models.data_dir={tmp_path}", "fps=30")
    with pytest.raises(DeepstoryError, match=r"fps=30: .*25 frames per second"):
        instantiate(cfg.models.motion, "models.motion")


def test_track_layout_round_trip():
    kp = {"value": torch.randn(3, 10, 2), "jacobian": torch.randn(3, 10, 2, 2)}
    rows = pack_keypoints(kp)
    assert rows.shape == (3, TRACK_WIDTH) == (3, 60)
    assert torch.equal(rows[:, KP_VALUES][:, 4:6], kp["value"][:, 2])
    assert torch.equal(rows[:, KP_JACOBIANS][:, 8:12], kp["jacobian"][:, 2].reshape(3, 4))
    back = unpack_keypoints(rows)
    assert all(torch.equal(back[k], kp[k]) for k in kp)


def test_face_crops(portraits):
    for portrait in portraits.values():
        x0, y0, x1, y1 = face_square(portrait)
        assert x1 - x0 == y1 - y0 > 0 and x0 >= 0 and y0 >= 0 and x1 <= SIZE and y1 <= SIZE
        fx0, fy0, fx1, fy1 = portrait.face.box
        assert x0 <= max(fx0, 0) + 1 and y0 <= max(fy0, 0) + 1 and x1 >= min(fx1, SIZE) - 1
        frame = sda_identity_frame(portrait, None)
        assert frame.shape == (3, 128, 96) and frame.min() >= -1 and frame.max() <= 1
    # Aligned by the mean face: the portrait's mouth lands where the mean face's lips are.
    portrait = portraits["Narrator"]
    mean = mean_face()
    frame = sda_identity_frame(portrait, mean)
    assert frame.std() > 0.05
    assert torch.allclose(
        sda_identity_frame(portrait, np.linspace(0, 1, 136).reshape(68, 2)), sda_identity_frame(portrait, None)
    )  # an unusable mean face: the built-in points


# ----------------------------------------------------------------------------------- speech


@pytest.fixture(scope="module")
def tts(data_dir):
    speech = DCTTSSpeech(22050, data_dir, max_frames=8)
    yield speech
    speech.close()


def test_dctts_speech(tts, data_dir):
    identity = tts.identity()
    assert identity["data_dir"] == str(data_dir) and len(identity["files_sha256"]) == 64
    eileen = tts.synthesize("Hello there.", Voice(character="Eileen"))
    assert eileen.dtype == np.float32 and 0 < len(eileen) <= 275 * (4 * 9 - 1)  # at most max_frames + 1 mel frames
    assert abs(float(np.abs(eileen).max()) - 0.9) < 1e-5
    np.testing.assert_array_equal(eileen, tts.synthesize("Hello there.", Voice(rate=1.2, character="Eileen")))
    # Narrator's folder holds the same weights; `voice.dctts` picks any folder.
    np.testing.assert_array_equal(eileen, tts.synthesize("Hello there.", Voice(character="Narrator")))
    np.testing.assert_array_equal(
        eileen, tts.synthesize("Hello there.", Voice(options={"dctts": "Eileen"}, character="Chelsea"))
    )
    assert len(tts._voices) == 2  # loaded once per folder
    assert tts.synthesize("...", Voice(character="Eileen")).size == 0
    slow = DCTTSSpeech(16000, data_dir, max_frames=8)
    slow._voices = tts._voices  # same models, another output rate
    assert abs(len(slow.synthesize("Hello there.", Voice(character="Eileen"))) - len(eileen) * 16000 / 22050) < 300


def test_dctts_missing_voice_names_folder_and_key(tts, data_dir):
    with pytest.raises(CheckpointError) as err:
        tts.synthesize("Hi.", Voice(character="Chelsea"))
    message = str(err.value)
    assert "\n" not in message and str(data_dir / "dctts" / "Chelsea") in message
    assert "models.data_dir" in message and "speakers.Chelsea.voice.dctts" in message
    with pytest.raises(CheckpointError, match=r"speakers\.Chelsea\.voice\.dctts: .*nobody"):
        tts.synthesize("Hi.", Voice(options={"dctts": "nobody"}, character="Chelsea"))
    with pytest.raises(CheckpointError, match=r"models\.data_dir: DC-TTS voices folder not found"):
        DCTTSSpeech(22050, data_dir / "absent").identity()


# ----------------------------------------------------------------------------------- motion


@pytest.fixture(scope="module")
def motion(data_dir):
    sda = SDAMotion(
        data_dir / "sda" / "grid.dat", data_dir / "fom" / "vox-cpk.pth.tar", 22050, 25, seed=0, window=64, kp_batch=16
    )
    yield sda
    sda.close()


@pytest.fixture(scope="module")
def track(motion, portraits):
    return motion.track(_read, 50, 12, "Eileen", portrait=portraits["Eileen"])


def test_sda_track(motion, track, portraits, data_dir):
    assert track.shape == (12, TRACK_WIDTH) and track.dtype == np.float32 and np.isfinite(track).all()
    assert np.abs(track[:, KP_VALUES]).max() < 3 and np.ptp(track, axis=0).max() > 1e-4  # it moves
    idle = motion.idle(50, 5, "Eileen", portrait=portraits["Eileen"])
    assert idle.shape == (5, TRACK_WIDTH) and (idle == idle[0]).all()
    # Relative to the chunk's first base frame: frame 0 is the portrait's own keypoints.
    np.testing.assert_allclose(track[0, KP_VALUES], idle[0, KP_VALUES], atol=1e-6)
    np.testing.assert_allclose(track[0, KP_JACOBIANS], idle[0, KP_JACOBIANS], atol=1e-4)
    # Deterministic, and the same whatever the generation window (bounded memory).
    small = SDAMotion(
        data_dir / "sda" / "grid.dat", data_dir / "fom" / "vox-cpk.pth.tar", 22050, 25, seed=0, window=5, kp_batch=3
    )
    small._sda, small._kp_detector = motion._sda, motion._kp_detector
    np.testing.assert_allclose(small.track(_read, 50, 12, "Eileen", portrait=portraits["Eileen"]), track, atol=2e-4)
    # SDA's noise is seeded by the chunk's start (documented): another start, another base.
    assert not np.allclose(motion.track(_read, 51, 12, "Eileen", portrait=portraits["Eileen"])[1:], track[1:])
    assert motion.track(_read, 50, 0, "Eileen", portrait=portraits["Eileen"]).shape == (0, TRACK_WIDTH)


# ----------------------------------------------------------------------------------- animator


@pytest.fixture(scope="module")
def animator(data_dir):
    fomm_animator = FOMMAnimator("cpu", batch_size=2, checkpoint=data_dir / "fom" / "vox-cpk.pth.tar")
    yield fomm_animator
    fomm_animator.close()


def test_fomm_generation_reuses_the_source_encoding(animator, portraits):
    prepared = animator.prepare(portraits["Narrator"])
    kp_driving = unpack_keypoints(torch.from_numpy(prepared.still_row[None] + np.float32(0.01)))
    with torch.inference_mode():
        ours = animator._generate(prepared, kp_driving)
        reference = animator._generator(prepared.source, kp_driving=kp_driving, kp_source=prepared.kp_source)[
            "prediction"
        ]
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_fomm_frames(animator, track, portraits):
    portrait = portraits["Eileen"]
    prepared = animator.prepare(portrait)
    rows = np.concatenate([track[5:8], np.repeat(prepared.still_row[None], 2, axis=0)])
    batches = list(animator.frames(prepared, rows))
    assert [b.shape for b in batches] == [(2, SIZE, SIZE, 3), (2, SIZE, SIZE, 3), (1, SIZE, SIZE, 3)]
    assert all(b.dtype == np.uint8 for b in batches)
    frames = np.concatenate(batches)
    x0, y0, x1, y1 = prepared.box
    outside = np.ones((SIZE, SIZE), dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert (frames[:, outside] == portrait.image[outside]).all()  # only the face square is ever touched
    assert np.abs(frames[:3, y0:y1, x0:x1].astype(int) - portrait.image[y0:y1, x0:x1]).mean() > 1
    assert (frames[4] == portrait.image).all()  # a batch of "no motion" rows is the still portrait
    with pytest.raises(ValueError, match="models.motion=sda"):
        next(animator.frames(prepared, np.zeros((3, 7), np.float32)))


# ----------------------------------------------------------------------------------- the CLI


def _cli_args(data_dir: Path, story: Path, base: Path) -> list[str]:
    return [
        "models=deepstory",
        f"models.data_dir={data_dir}",
        f"story.text_path={story}",
        f"video.width={SIZE}",
        f"video.height={SIZE}",
        f"cache_dir={base / 'cache'}",
        f"hydra.run.dir={base / 'run'}",
        "models.tts.max_frames=4",
        "models.animator.batch_size=4",
    ]


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("neural_story") / "tiny.txt"
    path.write_text(STORY, encoding="utf-8")
    return path


@pytest.mark.slow
def test_render_with_the_networks(data_dir, story, tmp_path):
    run_dir = render_here(tmp_path / "run", *(a for a in _cli_args(data_dir, story, tmp_path) if "hydra." not in a))
    video = run_dir / "export" / "animated.mp4"
    info = probe(video)
    v, a = info.stream("video"), info.stream("audio")
    assert v.codec == "h264" and "yuv420p" in v.details and v.fps == 25
    assert (v.width, v.height) == (SIZE, SIZE) and a.codec == "aac"
    segments = json.loads((run_dir / "temp" / "timeline.json").read_text())["segments"]
    assert [s["speaker"] for s in segments] == ["Eileen", "Narrator"]
    seconds = (
        segments[-1]["start"] + segments[-1]["pad_before"] + segments[-1]["speech"] + segments[-1]["pad_after"]
    ) / 22050
    frames = list(decode_frames(video, SIZE, SIZE))
    audio = decode_audio(video, 22050)
    frame = 1 / 25
    assert abs(len(frames) / 25 - seconds) <= frame
    assert abs(len(audio) / 22050 - seconds) <= frame
    assert abs(len(frames) / 25 - len(audio) / 22050) <= frame
    assert np.sqrt(np.mean(audio**2)) > 0.02  # random voices make loud noise
    chunks = json.loads((run_dir / "temp" / "chunks.json").read_text())["chunks"]
    for c in chunks:
        track = np.load(run_dir / "temp" / "motion" / f"c{c['index']:05d}.npy")
        assert track.shape == (c["frames"], TRACK_WIDTH) and track.dtype == np.float32
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    models = manifest["inputs"]["models"]
    assert models["tts"]["backend"] == "DCTTSSpeech" and models["tts"]["max_frames"] == 4
    assert len(models["motion"]["files_sha256"]) == 64 and len(models["animator"]["files_sha256"]) == 64
    # The face moves: frames differ from one another inside the face square, not outside it.
    stack = np.stack(frames).astype(np.float32)
    assert stack.std(axis=0).max() > 5


@pytest.mark.slow
def test_missing_checkpoint_is_one_line_exit_2(data_dir, story, tmp_path):
    partial = tmp_path / "data"
    shutil.copytree(data_dir, partial, ignore=shutil.ignore_patterns("grid.dat"), copy_function=os.link)
    proc = run_cli(*_cli_args(partial, story, tmp_path))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "models.motion.checkpoint" in errors[0] and str(partial / "sda" / "grid.dat") in errors[0]
    assert not (tmp_path / "run" / "temp" / "speech").exists()  # found before any synthesis


@pytest.mark.slow
def test_missing_data_dir_is_one_line_exit_2(story, tmp_path):
    proc = run_cli(
        "models=deepstory",
        f"story.text_path={story}",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "models.data_dir" in errors[0], proc.stderr[-3000:]
