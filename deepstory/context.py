"""What every stage is handed: where the run's files live and the run-time objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from deepstory.cache import Cache, digest, file_digest
from deepstory.files import read_json, write_json
from deepstory.media import read_wav
from deepstory.face import speaker_images, speaker_portrait
from deepstory.portrait import Face, Portrait
from deepstory.speech import Voice
from deepstory.story import Sentence
from deepstory.timeline import Chunk, Segment, SegmentReader, build_segments, frame_at


@dataclass(frozen=True)
class SpeechFiles:
    """The story's speech on disk: a picklable recipe for a :class:`SegmentReader` (remote workers too)."""

    segments: tuple[Segment, ...]
    folder: Path

    def path(self, sentence: int) -> Path:
        return self.folder / f"s{sentence:06d}.wav"

    def reader(self) -> SegmentReader:
        return SegmentReader(self.segments, lambda i: read_wav(self.path(i))[0])


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
    warnings: list[str] = field(default_factory=list)
    layout: Any = None  # deepstory.layout.SingleLayout or StageLayout, with its cast set
    executor: Any = None  # deepstory.executor.LocalExecutor or RayExecutor
    backend_configs: dict[str, Any] = field(default_factory=dict)  # how remote workers build the backends
    _portraits: dict[tuple, Portrait] = field(default_factory=dict)
    _portrait_keys: dict[tuple, str] = field(default_factory=dict)
    _faces: dict[tuple, Face] = field(default_factory=dict)

    # -- paths ---------------------------------------------------------------------------
    @property
    def temp(self) -> Path:
        return self.run_dir / "temp"

    @property
    def export(self) -> Path:
        return self.run_dir / "export"

    def speech_path(self, sentence: int) -> Path:
        return SpeechFiles((), self.temp / "speech").path(sentence)

    def speech_files(self, segments: list[Segment] | None = None) -> SpeechFiles:
        return SpeechFiles(tuple(segments if segments is not None else self.segments()),
                           (self.temp / "speech").resolve())

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

    def image_runs(self) -> list[tuple[int, int, int]]:
        """``(image index, first frame, end frame)`` for every sentence: which picture shows when."""
        sentences = self.sentences()
        return [(sentences[seg.sentence].image, frame_at(seg.start, self.sample_rate, self.fps),
                 frame_at(seg.end, self.sample_rate, self.fps)) for seg in self.segments()]

    def speakers_in_story(self) -> list[str]:
        return list(dict.fromkeys(s.speaker for s in self.sentences()))

    def reader(self, segments: list[Segment] | None = None) -> SegmentReader:
        return self.speech_files(segments).reader()

    # -- speakers -----------------------------------------------------------------------------
    def voice(self, speaker: str) -> Voice:
        return Voice.from_config(self.cfg.speakers[speaker].get("voice"), speaker)

    def face(self, speaker: str, image: int = 0) -> Face:
        """The speaker's face landmarks in source-image pixels: configured values over detected ones."""
        self._load_portrait(speaker, self.size, image)
        return self._faces[(speaker, image)]

    def tile_size(self, speaker: str) -> tuple[int, int]:
        """The size the speaker's portrait is shown at (the frame, or its tile on stage)."""
        tile = self.layout.tiles(speaker, *self.size)[speaker] if self.layout is not None else None
        return (tile.width, tile.height) if tile is not None else self.size

    def portrait_key(self, speaker: str, size: tuple[int, int] | None = None, image: int = 0) -> str:
        """Hash of everything that makes this speaker's fitted portrait."""
        size = tuple(size or self.size)
        if (speaker, size, image) not in self._portrait_keys:
            spec = self.cfg.speakers[speaker]
            crop = OmegaConf.to_container(spec, resolve=True).get("crop")
            self._portrait_keys[(speaker, size, image)] = digest(
                file_digest(speaker_images(spec)[image]), vars(self.face(speaker, image)), crop, image, size)
        return self._portrait_keys[(speaker, size, image)]

    def portrait(self, speaker: str, size: tuple[int, int] | None = None, image: int = 0) -> Portrait:
        """The speaker's ``image``-th portrait fitted to ``size`` (default: the video size)."""
        size = tuple(size or self.size)
        self._load_portrait(speaker, size, image)
        return self._portraits[(speaker, size, image)]

    def _load_portrait(self, speaker: str, size: tuple[int, int], image: int) -> None:
        if (speaker, size, image) in self._portraits:
            return
        face, portrait = speaker_portrait(self.cfg.speakers[speaker], f"speakers.{speaker}", *size, index=image,
                                          background=tuple(self.cfg.video.get("background", (255, 255, 255))),
                                          face=self._faces.get((speaker, image)))  # detected once per image
        self._faces[(speaker, image)] = face
        self._portraits[(speaker, size, image)] = portrait

    # -- progress -------------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """A problem that does not stop the render: shown, and kept for the manifest."""
        self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

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
