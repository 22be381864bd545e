"""WAV and video files, checked by reading back what was written."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from deepstory.files import atomic_path, read_json, write_bytes, write_json, write_npy
from deepstory.media import (
    MediaError,
    VideoWriter,
    WavWriter,
    concat_and_mux,
    decode_audio,
    decode_frames,
    probe,
    read_wav,
    wav_frames,
    write_wav,
)

SR = 22050
W, H, FPS = 64, 48, 25


class Boom(Exception):
    pass


def _noise(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(-0.9, 0.9, n)).astype(np.float32)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------------- WAV
def test_write_read_wav_round_trip(tmp_path: Path) -> None:
    audio = _noise(12345, 1)
    audio[:4] = [1.0, -1.0, 0.0, 0.5]
    path = write_wav(tmp_path / "a.wav", audio, SR)
    back, rate = read_wav(path)
    assert rate == SR
    assert back.dtype == np.float32 and back.shape == audio.shape
    assert np.max(np.abs(back - audio)) <= 0.5 / 32767 + 1e-7
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SR)
    assert wav_frames(path) == 12345
    assert _names(tmp_path) == ["a.wav"]


def test_write_wav_clips_out_of_range(tmp_path: Path) -> None:
    back, _ = read_wav(write_wav(tmp_path / "c.wav", np.array([2.0, -2.0, 0.25], np.float32), 16000))
    assert back[0] == pytest.approx(1.0)
    assert back[1] == pytest.approx(-32768 / 32767)
    assert back[2] == pytest.approx(0.25, abs=1 / 32767)


def test_read_wav_rejects_stereo(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(SR)
        wav.writeframes(np.zeros(20, np.int16).tobytes())
    with pytest.raises(ValueError):
        read_wav(path)


def test_wav_writer_in_pieces_equals_one_shot(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    pieces: list[np.ndarray] = []
    with WavWriter(tmp_path / "pieces.wav", SR) as writer:
        for k in range(40):
            if k % 5 == 2:
                n = int(rng.integers(0, 3000)) if k != 7 else 70000  # more than one silence block
                writer.write_silence(n)
                pieces.append(np.zeros(n, np.float32))
            else:
                piece = _noise(int(rng.integers(0, 2000)), k)
                writer.write(piece)
                pieces.append(piece)
        writer.write_silence(0)
        writer.write(np.zeros(0, np.float32))
        assert not (tmp_path / "pieces.wav").exists()  # not in place before close
    whole = np.concatenate(pieces)
    assert writer.samples == len(whole)
    write_wav(tmp_path / "whole.wav", whole, SR)

    a, rate_a = read_wav(tmp_path / "pieces.wav")
    b, rate_b = read_wav(tmp_path / "whole.wav")
    assert rate_a == rate_b == SR
    assert np.array_equal(a, b)
    assert (tmp_path / "pieces.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
    assert _names(tmp_path) == ["pieces.wav", "whole.wav"]


def test_wav_writer_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom), WavWriter(tmp_path / "x.wav", SR) as writer:
        writer.write(_noise(1000, 2))
        raise Boom
    assert _names(tmp_path) == []


# ------------------------------------------------------------------------- atomic files
def test_atomic_path_exception_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "out.json"
    with pytest.raises(Boom), atomic_path(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.endswith(".json") and tmp != final
        tmp.write_text("partial")
        raise Boom
    assert not final.exists()
    assert _names(final.parent) == []


def test_atomic_path_exception_keeps_old_file(tmp_path: Path) -> None:
    final = write_bytes(tmp_path / "out.bin", b"old")
    with pytest.raises(Boom), atomic_path(final) as tmp:
        tmp.write_bytes(b"new but incomplete")
        raise Boom
    assert final.read_bytes() == b"old"
    assert _names(tmp_path) == ["out.bin"]


def test_atomic_path_success_replaces(tmp_path: Path) -> None:
    final = write_bytes(tmp_path / "out.bin", b"old")
    write_bytes(final, b"new")
    assert final.read_bytes() == b"new"
    write_json(tmp_path / "d.json", {"a": [1, 2], "b": "é"})
    assert read_json(tmp_path / "d.json") == {"a": [1, 2], "b": "é"}
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_npy(tmp_path / "a.npy", arr)
    assert np.array_equal(np.load(tmp_path / "a.npy"), arr)
    assert _names(tmp_path) == ["a.npy", "d.json", "out.bin"]


def test_write_wav_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Exception):
        write_wav(tmp_path / "bad.wav", np.array(["not", "audio"]), SR)
    assert _names(tmp_path) == []


# ------------------------------------------------------------------------- video
def _frames(count: int, offset: int = 0) -> np.ndarray:
    """Flat frames whose grey level encodes the frame index."""
    levels = 20 + 15 * ((np.arange(count) + offset) % 14)
    return np.broadcast_to(levels[:, None, None, None], (count, H, W, 3)).astype(np.uint8)


def _write_clip(path: Path, count: int, offset: int = 0) -> Path:
    frames = _frames(count, offset)
    with VideoWriter(path, W, H, FPS) as writer:
        writer.write(frames[:5])
        writer.write(frames[5:])
        assert not path.exists()
    assert writer.frames == count
    return path


def test_video_writer_exact_frames(tmp_path: Path) -> None:
    path = _write_clip(tmp_path / "clip.mp4", 13)
    info = probe(path)
    video = info.stream("video")
    assert video is not None and info.stream("audio") is None
    assert video.codec == "h264"
    assert "yuv420p" in video.details
    assert (video.width, video.height) == (W, H)
    assert video.fps == pytest.approx(FPS)
    assert info.duration == pytest.approx(13 / FPS, abs=0.05)

    decoded = list(decode_frames(path, W, H))
    assert len(decoded) == 13
    expected = _frames(13)
    for got, want in zip(decoded, expected):
        assert got.shape == (H, W, 3)
        assert abs(float(got.mean()) - float(want.mean())) < 3  # flat frames survive in order
    assert len(list(decode_frames(path, W, H, every=4))) == 4  # frames 0, 4, 8, 12
    assert _names(tmp_path) == ["clip.mp4"]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, H, W + 2, 3), np.uint8),
        np.zeros((2, W, H, 3), np.uint8),
        np.zeros((2, H, W, 4), np.uint8),
        np.zeros((2, H, W, 3), np.float32),
        np.zeros((H, W, 3), np.uint8),  # one frame without the batch axis
    ],
)
def test_video_writer_rejects_wrong_frames(tmp_path: Path, bad: np.ndarray) -> None:
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError), VideoWriter(path, W, H, FPS) as writer:
        writer.write(_frames(3))
        writer.write(bad)
    assert _names(tmp_path) == []


def test_video_writer_ffmpeg_failure_is_media_error(tmp_path: Path) -> None:
    # x264 has no such preset: ffmpeg exits with an error, which names the file.
    with (
        pytest.raises(MediaError, match="bad.mp4"),
        VideoWriter(tmp_path / "bad.mp4", W, H, FPS, preset="no-such-preset") as writer,
    ):
        writer.write(_frames(3))
    assert _names(tmp_path) == []


def test_video_writer_odd_size_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # yuv420p halves the chroma in both directions: an odd size has no frame layout at all.
    with pytest.raises(ValueError, match="63x47"):
        VideoWriter(tmp_path / "odd.mp4", 63, 47, FPS)
    assert _names(tmp_path) == []


def test_video_writer_pipes_yuv420p_with_ffmpeg_colours(tmp_path: Path) -> None:
    # Frames become yuv420p before the pipe: decoded back, a flat colour comes out as it went in
    # (BT.601 limited range, as ffmpeg's own conversion; crf 0 is lossless).
    flat = np.broadcast_to(np.array([200, 40, 90], np.uint8), (4, H, W, 3)).copy()
    with VideoWriter(tmp_path / "flat.mp4", W, H, FPS, crf=0) as writer:
        writer.write(flat)
    for frame in decode_frames(tmp_path / "flat.mp4", W, H):
        assert np.abs(frame.astype(int) - flat[0]).max() <= 3
    assert _names(tmp_path) == ["flat.mp4"]


def test_decode_frames_crop_is_the_same_pixels(tmp_path: Path) -> None:
    path = _write_clip(tmp_path / "clip.mp4", 6)
    whole = list(decode_frames(path, W, H, gray=True))
    part = list(decode_frames(path, W, H, gray=True, crop=(10, 6, 21, 17)))
    assert len(part) == len(whole) == 6
    assert all(np.array_equal(p, w[6:23, 10:31]) for p, w in zip(part, whole))
    with pytest.raises(ValueError, match="even"):
        next(decode_frames(path, W, H, crop=(3, 4, 10, 10)))


def test_concat_and_mux(tmp_path: Path) -> None:
    a = _write_clip(tmp_path / "a.mp4", 13)
    b = _write_clip(tmp_path / "b.mp4", 12, offset=13)
    seconds = 25 / FPS
    t = np.arange(int(seconds * SR)) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wav = write_wav(tmp_path / "story.wav", tone, SR)
    work = tmp_path / "work"
    work.mkdir()
    out = concat_and_mux(
        [a, b],
        wav,
        tmp_path / "out" / "story.mp4",
        work,
        metadata={"title": "Test story", "artist": "Deep Story", "comment": "x=1, y=2"},
    )

    assert out.exists()
    info = probe(out)
    video, audio = info.stream("video"), info.stream("audio")
    assert video is not None and video.codec == "h264" and (video.width, video.height) == (W, H)
    assert audio is not None and audio.codec == "aac" and audio.sample_rate == SR
    assert info.duration == pytest.approx(seconds, abs=0.1)
    assert info.tags.get("title") == "Test story"
    assert info.tags.get("artist") == "Deep Story"
    assert info.tags.get("comment") == "x=1, y=2"

    frames = list(decode_frames(out, W, H))
    assert len(frames) == 25
    expected = _frames(25)
    assert all(abs(float(g.mean()) - float(w.mean())) < 3 for g, w in zip(frames, expected))

    back = decode_audio(out, SR)
    assert abs(len(back) - len(tone)) < 0.05 * SR
    rms = float(np.sqrt(np.mean(back**2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert _names(out.parent) == ["story.mp4"]


def test_concat_and_mux_without_metadata(tmp_path: Path) -> None:
    a = _write_clip(tmp_path / "a.mp4", 5)
    wav = write_wav(tmp_path / "s.wav", np.zeros(int(5 / FPS * SR), np.float32), SR)
    out = concat_and_mux([a], wav, tmp_path / "o.mp4", tmp_path)
    info = probe(out)
    assert "title" not in info.tags
    assert info.stream("video").codec == "h264" and info.stream("audio").codec == "aac"


def test_concat_and_mux_failure_leaves_nothing(tmp_path: Path) -> None:
    a = _write_clip(tmp_path / "a.mp4", 5)
    work = tmp_path / "work"
    work.mkdir()
    out_dir = tmp_path / "out"
    with pytest.raises(MediaError):
        concat_and_mux([a], tmp_path / "missing.wav", out_dir / "story.mp4", work)
    assert _names(out_dir) == []


def test_decode_audio_of_wav_resamples(tmp_path: Path) -> None:
    tone = (0.4 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    wav = write_wav(tmp_path / "t.wav", tone, SR)
    same = decode_audio(wav, SR)
    assert np.max(np.abs(same - tone)) <= 1.0 / 32767 + 1e-6
    half = decode_audio(wav, 11025)
    assert abs(len(half) - 11025) <= 2


def test_probe_missing_file_is_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        probe(tmp_path / "nope.mp4")
