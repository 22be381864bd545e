"""What every stage is handed: where the run's files live and the run-time objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from deepstory.cache import Cache, digest, file_digest
from deepstory.files import read_json, write_json
from deepstory.media import read_wav
from deepstory.face import speaker_portrait
from deepstory.portrait import Face, Portrait
from deepstory.speech import Voice
from deepstory.story import Sentence
from deepstory.timeline import Chunk, Segment, SegmentReader, build_segments


@dataclass
class RunContext:
    """Paths, media constants, speakers and progress for one render.

    Stages communicate only through files under ``run_dir``; the loaders here
    read those files back (``sentences``, ``segments``, ``chunks``).
    """

    run_dir: Path
    cfg: DictConfig
    device: torch.device
    console: Console
    progress: Progress | None = None
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache: Cache | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # backend settings that shape outputs
    metadata: dict[str, str] = field(default_factory=dict)  # written into the mp4
    layout: Any = None  # deepstory.layout.SingleLayout or StageLayout, with its cast set
    _portraits: dict[tuple, Portrait] = field(default_factory=dict)
    _portrait_keys: dict[tuple, str] = field(default_factory=dict)
    _faces: dict[str, Face] = field(default_factory=dict)

    # -- paths ---------------------------------------------------------------------------
    @property
    def temp(self) -> Path:
        return self.run_dir / "temp"

    @property
    def export(self) -> Path:
        return self.run_dir / "export"

    def speech_path(self, sentence: int) -> Path:
        return self.temp / "speech" / f"s{sentence:06d}.wav"

    def chunk_audio_path(self, chunk: Chunk) -> Path:
        return self.temp / "chunks" / f"{chunk.name}.wav"

    def motion_path(self, chunk: Chunk) -> Path:
        return self.temp / "motion" / f"{chunk.name}.npy"

    def cast_motion_path(self, chunk: Chunk) -> Path:
        return self.temp / "motion" / f"{chunk.name}.cast.npy"

    def clip_path(self, segment: int) -> Path:
        return self.temp / "animated" / f"v{segment:05d}.mp4"

    @property
    def segments_file(self) -> Path:
        return self.temp / "animated" / "segments.json"

    @property
    def story_file(self) -> Path:
        return self.temp / "story.json"

    @property
    def timeline_file(self) -> Path:
        return self.temp / "timeline.json"

    @property
    def chunks_file(self) -> Path:
        return self.temp / "chunks.json"

    # -- media constants -------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.cfg.sample_rate)

    @property
    def fps(self) -> int:
        return int(self.cfg.fps)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.cfg.video.width), int(self.cfg.video.height)

    # -- what earlier stages wrote ------------------------------------------------------------
    def sentences(self) -> list[Sentence]:
        return [Sentence(**s) for s in read_json(self.story_file)["sentences"]]

    def segments(self) -> list[Segment]:
        return [Segment(**s) for s in read_json(self.timeline_file)["segments"]]

    def chunks(self) -> list[Chunk]:
        return [Chunk.from_dict(c) for c in read_json(self.chunks_file)["chunks"]]

    def write_timeline(self, sentences: list[Sentence], lengths: list[int], keys: list[str]) -> None:
        segments = build_segments(sentences, lengths, self.sample_rate, keys)
        write_json(self.timeline_file, {"sample_rate": self.sample_rate, "segments": [vars(s) for s in segments]})

    def speakers_in_story(self) -> list[str]:
        return list(dict.fromkeys(s.speaker for s in self.sentences()))

    def reader(self, segments: list[Segment] | None = None) -> SegmentReader:
        return SegmentReader(segments if segments is not None else self.segments(),
                             lambda i: read_wav(self.speech_path(i))[0])

    # -- speakers -----------------------------------------------------------------------------
    def voice(self, speaker: str) -> Voice:
        return Voice.from_config(self.cfg.speakers[speaker].get("voice"))

    def face(self, speaker: str) -> Face:
        """The speaker's face landmarks in source-image pixels: configured values over detected ones."""
        self._load_portrait(speaker, self.size)
        return self._faces[speaker]

    def portrait_key(self, speaker: str, size: tuple[int, int] | None = None) -> str:
        """Hash of everything that makes this speaker's fitted portrait."""
        size = tuple(size or self.size)
        if (speaker, size) not in self._portrait_keys:
            spec = self.cfg.speakers[speaker]
            self._portrait_keys[(speaker, size)] = digest(
                file_digest(spec.image), vars(self.face(speaker)),
                OmegaConf.to_container(spec, resolve=True).get("crop"), size)
        return self._portrait_keys[(speaker, size)]

    def portrait(self, speaker: str, size: tuple[int, int] | None = None) -> Portrait:
        """The speaker's portrait fitted to ``size`` (default: the video size)."""
        size = tuple(size or self.size)
        self._load_portrait(speaker, size)
        return self._portraits[(speaker, size)]

    def _load_portrait(self, speaker: str, size: tuple[int, int]) -> None:
        if (speaker, size) in self._portraits:
            return
        face, portrait = speaker_portrait(self.cfg.speakers[speaker], f"speakers.{speaker}", *size)
        self._faces.setdefault(speaker, face)
        self._portraits[(speaker, size)] = portrait

    # -- progress -------------------------------------------------------------------------------
    def bar(self, description: str, total: int) -> Callable[[int], None]:
        """A progress bar; returns ``advance(n)``."""
        if self.progress is None:
            return lambda n=1: None
        task = self.progress.add_task(description, total=total)
        return lambda n=1: self.progress.advance(task, n)

    def steps(self, description: str, total: int) -> Iterator[int]:
        """``range(total)`` with a progress bar."""
        advance = self.bar(description, total)
        for i in range(total):
            yield i
            advance(1)


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
