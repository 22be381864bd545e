"""What every stage is handed: one :class:`RunContext`, built complete before the first stage runs.

* :class:`RunFiles` — where each named file of the run lives, and loaders that
  read back what earlier stages wrote (stages talk only through these files);
* :class:`Media` — the run's constants: sample rate, frame rate, frame size, device;
* :class:`Cast` — the configured speakers: voices, portraits, faces;
* the layout, the executor and the cache, built from the config;
* :class:`Progress` — progress bars, warnings and per-stage figures for the report.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bars
from rich.text import Text

from deepstory.cache import Cache, digest, file_digest
from deepstory.executor import Executor
from deepstory.files import read_json, write_json
from deepstory.layout import Layout
from deepstory.media import read_wav
from deepstory.portrait import Face, Portrait, speaker_images, speaker_portrait
from deepstory.speech.base import Voice
from deepstory.speech.phones import Phones
from deepstory.story.parse import Sentence
from deepstory.timeline import Chunk, Segment, SegmentReader, frame_at


@dataclass(frozen=True)
class SpeechFiles:
    """The story's speech on disk: a picklable recipe for a :class:`SegmentReader` (remote workers too)."""

    segments: tuple[Segment, ...]
    folder: Path

    def path(self, sentence: int) -> Path:
        return self.folder / f"s{sentence:06d}.wav"

    def phones_path(self, sentence: int) -> Path:
        return self.folder.parent / "phones" / f"s{sentence:06d}.json"

    def reader(self) -> SegmentReader:
        return SegmentReader(self.segments, lambda i: read_wav(self.path(i))[0])

    def phones(self, start: int, stop: int, sample_rate: int) -> Phones:
        """Phones heard in global samples ``[start, stop)``, and the speech spans that have none (not aligned)."""
        found: list[tuple[str, int, int]] = []
        unaligned: list[tuple[int, int]] = []
        for seg in self.segments:
            if seg.speech_end <= start or seg.speech_start >= stop or seg.speech == 0:
                continue
            path = self.phones_path(seg.sentence)
            listed = read_json(path).get("phones") if path.is_file() else None
            if listed is None:
                unaligned.append((seg.speech_start, seg.speech_end))
                continue
            for name, a, b in listed:
                found.append(
                    (name, seg.speech_start + round(a * sample_rate), seg.speech_start + round(b * sample_rate))
                )
        return Phones(found, unaligned)


@dataclass(frozen=True)
class RunFiles:
    """The named files of one run dir, and loaders for the ones earlier stages wrote."""

    root: Path

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def export(self) -> Path:
        return self.root / "export"

    # -- written by the stages, in order ----------------------------------------------------
    @property
    def story(self) -> Path:
        return self.temp / "story.json"

    def speech(self, sentence: int) -> Path:
        return SpeechFiles((), self.temp / "speech").path(sentence)

    def phones(self, sentence: int) -> Path:
        """The sentence's phone timings (``{"phones": [[name, start s, end s], ...]}``, or ``null`` if not aligned)."""
        return SpeechFiles((), self.temp / "speech").phones_path(sentence)

    @property
    def voices(self) -> Path:
        """Who spoke each character: ``{name: {"voice": engine and voice in words, **voice settings}}``."""
        return self.temp / "voices.json"

    @property
    def timeline(self) -> Path:
        return self.temp / "timeline.json"

    @property
    def chunks_file(self) -> Path:
        return self.temp / "chunks.json"

    def chunk_audio(self, chunk: Chunk) -> Path:
        return self.temp / "chunks" / f"{chunk.name}.wav"

    def motion(self, chunk: Chunk) -> Path:
        return self.temp / "motion" / f"{chunk.name}.npy"

    def cast_motion(self, chunk: Chunk) -> Path:
        return self.temp / "motion" / f"{chunk.name}.cast.npy"

    @property
    def motion_format(self) -> Path:
        return self.temp / "motion" / "track.json"

    def clip(self, segment: int) -> Path:
        return self.temp / "animated" / f"v{segment:05d}.mp4"

    @property
    def clips_file(self) -> Path:
        return self.temp / "animated" / "segments.json"

    @property
    def video(self) -> Path:
        return self.export / "animated.mp4"

    @property
    def audio(self) -> Path:
        return self.export / "combined.wav"

    @property
    def subtitles(self) -> Path:
        return self.export / "animated.srt"

    @property
    def web_subtitles(self) -> Path:
        """The subtitles as WebVTT, for browsers (the report's ``<track>``)."""
        return self.export / "animated.vtt"

    @property
    def video_key(self) -> Path:
        return self.temp / "export.json"

    @property
    def lipsync(self) -> Path:
        return self.export / "lipsync.json"

    @property
    def lipsync_series(self) -> Path:
        """Per frame: mouth opening, speech energy, long-silence and phone-class masks (``.npz``)."""
        return self.temp / "lipsync_series.npz"

    @property
    def manifest(self) -> Path:
        return self.export / "manifest.json"

    @property
    def report(self) -> Path:
        return self.export / "report.html"

    # -- loaders ----------------------------------------------------------------------------
    def sentences(self) -> list[Sentence]:
        return [Sentence(**s) for s in read_json(self.story)["sentences"]]

    def speakers(self) -> list[str]:
        """The configured speakers who speak, in order of first appearance."""
        return list(dict.fromkeys(s.speaker for s in self.sentences()))

    def segments(self) -> list[Segment]:
        return [Segment(**s) for s in read_json(self.timeline)["segments"]]

    def chunks(self) -> list[Chunk]:
        return [Chunk.from_dict(c) for c in read_json(self.chunks_file)["chunks"]]

    def speech_files(self, segments: list[Segment] | None = None) -> SpeechFiles:
        return SpeechFiles(
            tuple(segments if segments is not None else self.segments()), (self.temp / "speech").resolve()
        )

    def reader(self, segments: list[Segment] | None = None) -> SegmentReader:
        return self.speech_files(segments).reader()


@dataclass(frozen=True)
class Media:
    """The run's media constants (the top-level config values) and the resolved device."""

    sample_rate: int
    fps: int
    width: int
    height: int
    background: tuple[int, int, int]
    device: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def frame_at(self, sample: int) -> int:
        return frame_at(sample, self.sample_rate, self.fps)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "Media":
        return cls(
            int(cfg.sample_rate),
            int(cfg.fps),
            int(cfg.video.width),
            int(cfg.video.height),
            tuple(int(v) for v in cfg.video.get("background", (255, 255, 255))),  # type: ignore[arg-type]
            str(cfg.device.name),
        )


FACE_FINDER = "locate-2"  # names the face finder (deepstory.portrait.detect) in the keys of found faces
#: The format of a found face's file (``{"speaker", "image", "face"}``), in its cache key: a face file of
#: another format (the bare landmarks of ``faces-1``) is never read as this one.
FACE_FILE = "faces-2"


class Cast:
    """The configured speakers: each one's voice, and its portraits fitted to any size with the face found.

    Faces are found once per image; portraits are fitted once per size.  With a
    ``cache`` and a ``folder``, a found face is kept in the cache (kind
    ``faces``, keyed by the speaker, the image's bytes and the configured landmarks) and
    placed at ``folder/pKK-<image>.json`` (see :meth:`face_file`), so a re-run finds no face again.
    Speaker names never become paths: the file is named by the speaker's place in the
    speakers config, and the name is inside it.
    """

    def __init__(
        self,
        speakers: DictConfig,
        background: tuple[int, int, int],
        face_margin: float | None = None,
        cache: Cache | None = None,
        folder: Path | None = None,
    ) -> None:
        self.config = speakers
        self.background = background
        self.face_margin = face_margin  # the layout's: keep faces whole in small tiles
        self.cache, self.folder = cache, folder
        self._portraits: dict[tuple, Portrait] = {}
        self._keys: dict[tuple, str] = {}
        self._faces: dict[tuple, Face] = {}

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.config.keys()]

    def face_file(self, speaker: str, image: int) -> str:
        """The name of the file of the speaker's ``image``-th face: ``pKK-<image>.json``, ``KK`` the speaker's
        place in the speakers config (from 00), never the name itself (any text, ``../x`` or ``/abs`` too)."""
        return f"p{self.names.index(speaker):02d}-{int(image)}.json"

    def images(self, speaker: str) -> list[str]:
        return speaker_images(self.config[speaker])

    def voice(self, speaker: str) -> Voice:
        return Voice.from_config(self.config[speaker].get("voice"), speaker)

    def face(self, speaker: str, image: int = 0) -> Face:
        """The speaker's face landmarks in source-image pixels: configured values over detected ones."""
        if (speaker, image) not in self._faces:
            self.portrait(speaker, (64, 64), image)
        return self._faces[(speaker, image)]

    def portrait(self, speaker: str, size: tuple[int, int], image: int = 0) -> Portrait:
        """The speaker's ``image``-th portrait fitted to ``size``."""
        which = (speaker, tuple(size), image)
        if which not in self._portraits:
            if (speaker, image) not in self._faces:
                self._found_face(speaker, image)
            face, portrait = speaker_portrait(
                self.config[speaker],
                f"speakers.{speaker}",
                *size,
                index=image,
                background=self.background,
                face=self._faces.get((speaker, image)),
                face_margin=self.face_margin,
            )
            self._faces[(speaker, image)] = face
            self._portraits[which] = portrait
        return self._portraits[which]

    def _found_face(self, speaker: str, image: int) -> None:
        """The face of the speaker's ``image``-th image from the cache, found and kept there if missing."""
        if self.cache is None or self.folder is None:
            return
        path = self.images(speaker)[image]
        if not Path(path).is_file():
            return  # speaker_portrait names the missing image
        spec = OmegaConf.to_container(self.config[speaker], resolve=True)
        assert isinstance(spec, dict)
        out = Cache.output(
            "faces",
            self.folder / self.face_file(speaker, image),
            FACE_FINDER,
            FACE_FILE,
            file_digest(path),
            spec.get("face"),
            image,
            speaker,  # the name is inside the file: speakers sharing an image have a file each
        )

        def find(tmp: Path) -> None:
            face = speaker_portrait(
                self.config[speaker], f"speakers.{speaker}", 64, 64, index=image, background=self.background
            )[0]
            write_json(tmp, {"speaker": speaker, "image": image, "face": vars(face)})

        self.cache.get(out, find)
        self._faces[(speaker, image)] = Face.from_config(read_json(out.dest)["face"], f"{out.dest}")

    def portrait_key(self, speaker: str, size: tuple[int, int], image: int = 0) -> str:
        """Hash of everything that makes this speaker's fitted portrait."""
        which = (speaker, tuple(size), image)
        if which not in self._keys:
            spec = OmegaConf.to_container(self.config[speaker], resolve=True)
            assert isinstance(spec, dict)
            crop, mouths = spec.get("crop"), spec.get("mouths")
            self._keys[which] = digest(
                file_digest(self.images(speaker)[image]),
                vars(self.face(speaker, image)),
                crop,
                image,
                list(size),
                *([] if self.face_margin is None else [self.face_margin]),  # single layout: keys as before
                *([] if not mouths else [{k: file_digest(str(v)) for k, v in sorted(mouths.items())}]),
            )
        return self._keys[which]


class RateColumn(ProgressColumn):
    """Items per second of a bar (frames per second on the frame bars)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


RENDER = "Render (frames, all stages)"


@dataclass
class Advance:
    """``advance(n)`` moves a progress bar on (and raises ``KeyboardInterrupt`` if Ctrl-C came)."""

    progress: Progress
    task: Any  # the bar's rich task id; None without live bars
    frames: bool = False  # its units are the story's frames: the whole render's row moves on with it

    def __call__(self, n: int = 1) -> None:
        self.progress.check()
        bars = self.progress.bars
        if bars is not None and self.task is not None:
            bars.advance(self.task, n)
            if self.frames and self.progress.overall is not None:
                bars.advance(self.progress.overall, n)

    def total(self, total: int) -> None:
        """The bar's total, once known (or a better estimate)."""
        if self.progress.bars is not None and self.task is not None:
            self.progress.bars.update(self.task, total=total)


@dataclass
class Progress:
    """Progress bars while stages run; warnings and per-stage figures kept for the manifest and summary."""

    console: Console
    bars: Bars | None = None
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupted: threading.Event = field(default_factory=threading.Event)
    overall: Any = None  # the whole render's row (frames made of the story's, estimated until spoken)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Ctrl-C (SIGINT) stops the render even when Python swallows its ``KeyboardInterrupt``.

        Python runs a signal handler at the next bytecode, which may be inside a
        weakref callback or a finalizer, whose exceptions are printed and
        ignored (seen: ``importlib``'s module-lock callback during a lazy
        import). The handler therefore also latches the signal, and
        :meth:`check` (called by every progress step and between stages)
        raises it again.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def latch(signum: int, frame: Any) -> None:
            self.interrupted.set()
            raise KeyboardInterrupt

        def unraisable(info: Any) -> None:  # the lost raise is latched: no traceback for it
            if not issubclass(info.exc_type, KeyboardInterrupt):
                hook(info)

        previous, hook = signal.signal(signal.SIGINT, latch), sys.unraisablehook
        sys.unraisablehook = unraisable
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            sys.unraisablehook = hook

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C came, even if its first raise was lost."""
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def warn(self, message: str) -> None:
        """A problem that does not stop the render: shown, and kept for the manifest."""
        self.warnings.append(message)
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def bar(self, description: str, total: int | None, frames: bool = False) -> Advance:
        """A progress bar (``total`` None: not known yet, see :meth:`Advance.total`); returns ``advance(n)``.

        ``frames``: it counts the story's frames, and the whole render's row counts them too.
        """
        bars = self.bars
        task = bars.add_task(description, total=total) if bars is not None else None
        return Advance(self, task, frames)

    def expect_frames(self, frames: float) -> None:
        """The story's length in frames, or an estimate while it is being spoken: the whole render's total."""
        if self.bars is not None and self.overall is not None:
            self.bars.update(self.overall, total=max(1, int(frames)))

    def steps(self, description: str, total: int) -> Iterator[int]:
        """``range(total)`` with a progress bar."""
        advance = self.bar(description, total)
        for i in range(total):
            yield i
            advance(1)

    def note(self, stage: str, **figures: Any) -> None:
        """Figures of a stage for the manifest (``frames=...``)."""
        self.stats.setdefault(stage, {}).update(figures)

    def live(self, overall: bool = True) -> Bars:
        """Live progress bars; ``overall``: with the whole render's row (not for the reporting stages)."""
        self.bars = Bars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        # Elapsed, frames per second and time left for the whole render: its frames are the story's
        # (estimated from the sentences spoken so far until all are), made by the animate stage.
        self.overall = self.bars.add_task(RENDER, total=None) if overall else None
        return self.bars


@dataclass(frozen=True)
class RunContext:
    """Everything fixed for one render, handed to every stage."""

    cfg: DictConfig  # the composed config, for provenance only: stages get their settings as arguments
    config_hash: str  # names the config that made this render (written into the mp4)
    files: RunFiles
    media: Media
    cast: Cast
    layout: Layout
    executor: Executor
    cache: Cache
    progress: Progress

    # -- derived from the story --------------------------------------------------------------
    def on_stage(self) -> list[str]:
        """Who the layout keeps on screen (empty: only the speaker)."""
        return self.layout.on_stage(self.files.speakers())

    def tile_size(self, speaker: str, on_stage: list[str]) -> tuple[int, int]:
        """The size the speaker's portrait is shown at (the frame, or its tile on stage)."""
        tile = self.layout.tiles(on_stage, speaker, *self.media.size).get(speaker)
        return (tile.width, tile.height) if tile is not None else self.media.size

    def image_runs(self, segments: Sequence[Segment] | None = None) -> list[tuple[int, int, int]]:
        """``(image index, first frame, end frame)`` for every sentence of ``segments`` (default: the timeline's)."""
        sentences = self.files.sentences()
        return [
            (sentences[seg.sentence].image, self.media.frame_at(seg.start), self.media.frame_at(seg.end))
            for seg in (self.files.segments() if segments is None else segments)
        ]
