"""Audio and video files: WAV in and out, and ffmpeg (imageio-ffmpeg's binary) via ffmpeg-python."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import ffmpeg
import numpy as np

from deepstory.errors import MediaError
from deepstory.files import atomic_path


def ffmpeg_exe() -> str:
    """imageio-ffmpeg's bundled binary (or ``IMAGEIO_FFMPEG_EXE``), checked to exist."""
    import os
    import shutil

    import imageio_ffmpeg

    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise MediaError(f"no ffmpeg binary: {exc} (pip install imageio-ffmpeg)") from None
    if not (os.path.isfile(exe) or shutil.which(exe)):
        raise MediaError(f"ffmpeg binary not found: {exe} (check IMAGEIO_FFMPEG_EXE)")
    return exe


# --------------------------------------------------------------------------------- WAV
def to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path: Path | str, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio as 16-bit PCM, atomically."""
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate))
        wav.writeframes(to_int16(audio).tobytes())
    return Path(path)


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Read a 16-bit mono WAV as float32 in [-1, 1)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return data.astype(np.float32) / 32767.0, wav.getframerate()


def read_wav_span(path: Path | str, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of a 16-bit mono WAV as float32 in [-1, 1) (only those are read)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        start = max(0, min(start, wav.getnframes()))
        wav.setpos(start)
        data = np.frombuffer(wav.readframes(max(0, stop - start)), dtype=np.int16)
        return data.astype(np.float32) / 32767.0


def wav_frames(path: Path | str) -> int:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes()


class WavWriter:
    """Streams mono 16-bit audio into a WAV, piece by piece; renamed into place on close."""

    def __init__(self, path: Path | str, sample_rate: int):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._wav = wave.open(str(self._tmp), "wb")  # noqa: SIM115  kept open while streaming; closed by close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(int(sample_rate))
        self.samples = 0

    def write(self, audio: np.ndarray) -> None:
        self._wav.writeframes(to_int16(audio).tobytes())
        self.samples += len(audio)

    def write_silence(self, samples: int) -> None:
        block = np.zeros(min(samples, 1 << 16), dtype=np.float32)
        left = samples
        while left > 0:
            self.write(block[:left])
            left -= len(block)

    def __enter__(self) -> "WavWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._wav.close()
        self._ctx.__exit__(exc_type, exc, tb)


# --------------------------------------------------------------------------------- ffmpeg
def _run(stream, what: str) -> None:
    args = stream.compile(cmd=ffmpeg_exe(), overwrite_output=True)
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed to {what}: {_tail(proc.stderr)}")


def _tail(stderr: bytes, lines: int = 3) -> str:
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"


class VideoWriter:
    """RGB frames in, H.264 (yuv420p) out, through an ffmpeg subprocess.

    ffmpeg encodes in its own process while the caller renders the next batch,
    so animation and encoding overlap on two cores.  Frames are converted to
    yuv420p here, before the pipe (OpenCV, BT.601 limited range as ffmpeg's
    default, chroma averaged over each 2x2 block): half the bytes through the
    pipe and no colour conversion in ffmpeg.  The file appears under its final
    name only after ffmpeg exits cleanly.
    """

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: int,
        crf: int = 20,
        preset: str = "veryfast",
        extra: dict | None = None,
    ):
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"video size {self.width}x{self.height}: yuv420p needs even, positive numbers")
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        stream = (
            ffmpeg.input(
                "pipe:", format="rawvideo", pix_fmt="yuv420p", s=f"{self.width}x{self.height}", framerate=int(fps)
            )
            .output(
                str(tmp),
                vcodec="libx264",
                pix_fmt="yuv420p",
                crf=int(crf),
                preset=preset,
                movflags="+faststart",
                **(extra or {}),
            )
            .global_args("-loglevel", "error", "-nostdin")
        )
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  ffmpeg's stderr for the writer's life; closed in __exit__
        self._proc = subprocess.Popen(
            stream.compile(cmd=ffmpeg_exe(), overwrite_output=True),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        assert self._proc.stdin is not None
        self._stdin = self._proc.stdin
        self._yuv = np.empty((self.height * 3 // 2, self.width), dtype=np.uint8)
        self.frames = 0

    def write(self, frames: np.ndarray) -> None:
        if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(
                f"expected uint8 frames of {self.height}x{self.width}x3, got {frames.dtype} {frames.shape}"
            )
        try:
            for frame in frames:
                cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420, dst=self._yuv)
                self._stdin.write(self._yuv.data)
        except BrokenPipeError:
            self._fail()
        self.frames += len(frames)

    def _fail(self) -> None:
        self._proc.wait()
        self._stderr.seek(0)
        raise MediaError(f"ffmpeg failed to encode {self.path.name}: {_tail(self._stderr.read())}")

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            with contextlib.suppress(BrokenPipeError):
                self._stdin.close()
            if exc_type is not None:
                self._proc.kill()
            self._proc.wait()
            if exc_type is None and self._proc.returncode != 0:
                try:
                    self._fail()
                except MediaError as err:
                    self._ctx.__exit__(MediaError, err, None)
                    raise
        finally:
            self._stderr.close()
        self._ctx.__exit__(exc_type, exc, tb)


def concat_and_mux(
    clips: Sequence[Path],
    audio: Path,
    out: Path,
    workdir: Path,
    audio_bitrate: str = "160k",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Join the clips without re-encoding and mux them with the audio (AAC) into ``out``."""
    listing = workdir / "concat.txt"
    lines = []
    for clip in clips:
        escaped = str(Path(clip).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    with atomic_path(listing) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    video_in = ffmpeg.input(str(listing), format="concat", safe=0)
    audio_in = ffmpeg.input(str(audio))
    # ffmpeg-python 0.2 writes a list value as one "['k=v', ...]" argument, so give each
    # pair its own option name; ffmpeg reads "-metadata:g:N k=v" as global metadata.
    meta = {f"metadata:g:{n}": f"{k}={v}" for n, (k, v) in enumerate((metadata or {}).items())}
    with atomic_path(out) as tmp:
        stream = ffmpeg.output(
            video_in["v"],
            audio_in["a"],
            str(tmp),
            vcodec="copy",
            acodec="aac",
            audio_bitrate=audio_bitrate,
            movflags="+faststart",
            **meta,
        ).global_args("-loglevel", "error", "-nostdin")
        _run(stream, f"mux {out.name}")
    return out


# --------------------------------------------------------------------------------- probing
@dataclass
class StreamInfo:
    kind: str  # "video" or "audio"
    codec: str
    details: str
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None


@dataclass
class MediaInfo:
    duration: float
    streams: list[StreamInfo] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def stream(self, kind: str) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == kind), None)


def probe(path: Path | str) -> MediaInfo:
    """Stream codecs, sizes and duration, parsed from ``ffmpeg -i`` (no ffprobe is bundled)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    text = proc.stderr
    m = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", text)
    if not m:
        raise MediaError(f"cannot read {path}: {_tail(text.encode())}")
    info = MediaInfo(duration=int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]))
    in_header = False
    for line in text.splitlines():
        if line.startswith("Input #"):
            in_header = True
        elif "Duration:" in line:
            in_header = False
        elif in_header and (t := re.match(r"\s+(\w+)\s*: (.*)", line)):
            info.tags.setdefault(t[1].lower(), t[2].strip())
        s = re.search(r"Stream #\d+:\d+.*?: (Video|Audio): (\w+)(.*)", line)
        if s:
            st = StreamInfo(kind=s[1].lower(), codec=s[2], details=s[3])
            if f := re.search(r"([\d.]+) fps", line):
                st.fps = float(f[1])
            if d := re.search(r", (\d{2,5})x(\d{2,5})", line):
                st.width, st.height = int(d[1]), int(d[2])
            if r := re.search(r"(\d+) Hz", line):
                st.sample_rate = int(r[1])
            info.streams.append(st)
    return info


def decode_audio(path: Path | str, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream to mono float32 at ``sample_rate``."""
    stream = ffmpeg.input(str(path)).output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=int(sample_rate))
    stream = stream.global_args("-loglevel", "error", "-nostdin")
    proc = subprocess.run(stream.compile(cmd=ffmpeg_exe()), capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot decode audio of {path}: {_tail(proc.stderr)}")
    return np.frombuffer(proc.stdout, dtype=np.int16).astype(np.float32) / 32767.0


def decode_frames(
    path: Path | str,
    width: int,
    height: int,
    every: int = 1,
    gray: bool = False,
    crop: tuple[int, int, int, int] | None = None,
):
    """Yield decoded frames one at a time: RGB ``[H, W, 3]``, or luma ``[H, W]`` with ``gray``.

    ``crop``: only the box ``(x, y, w, h)`` of each frame (even x and y: the same pixels as cropping the
    whole decoded frame; less to convert and to pipe).
    """
    stream = ffmpeg.input(str(path))
    if crop is not None:
        x, y, width, height = crop
        if x % 2 or y % 2:
            raise ValueError(f"decode_frames: crop at ({x}, {y}): x and y must be even (chroma rows and columns)")
        stream = stream.filter("crop", width, height, x, y, exact=1)
    stream = stream.output("pipe:", format="rawvideo", pix_fmt="gray" if gray else "rgb24")
    stream = stream.global_args("-loglevel", "error", "-nostdin")
    proc = subprocess.Popen(stream.compile(cmd=ffmpeg_exe()), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    shape = (height, width) if gray else (height, width, 3)
    size = int(np.prod(shape))
    index = 0
    assert proc.stdout is not None
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            if index % every == 0:
                yield np.frombuffer(buf, dtype=np.uint8).reshape(shape)
            index += 1
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
