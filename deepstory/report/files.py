"""The report stage's file, ``export/report.html``; and :class:`Inputs`, every file a report reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from deepstory.chunk.files import ChunkFiles
from deepstory.compose.files import ComposeFiles
from deepstory.kernel.context import RunDir
from deepstory.lipsync.files import LipSyncFiles
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles
from deepstory.story.parse import Sentence
from deepstory.timeline import Chunk, Segment


@dataclass(frozen=True)
class ReportFiles:
    run: RunDir

    @property
    def report(self) -> Path:
        return self.run.export / "report.html"


@dataclass(frozen=True)
class Inputs:
    """Every file the reports (the page, the manifest, the summary) read, each from the room of the stage that
    writes it (:meth:`of`)."""

    root: Path
    export: Path
    manifest: Path
    story: Path
    timeline: Path
    voices: Path
    chunks_file: Path
    video: Path
    audio: Path
    subtitles: Path
    web_subtitles: Path
    lipsync: Path
    lipsync_series: Path
    report: Path
    sentences: Callable[[], list[Sentence]]
    segments: Callable[[], list[Segment]]
    chunks: Callable[[], list[Chunk]]
    speech: Callable[[int], Path]

    @classmethod
    def of(cls, run: RunDir) -> Inputs:
        story, speech, chunk = StoryFiles(run), SpeechFiles(run), ChunkFiles(run)
        export, sync = ComposeFiles(run), LipSyncFiles(run)
        return cls(
            root=run.root, export=run.export, manifest=run.manifest, story=story.story, timeline=speech.timeline,
            voices=speech.voices, chunks_file=chunk.chunks_file, video=export.video, audio=export.audio,
            subtitles=export.subtitles, web_subtitles=export.web_subtitles, lipsync=sync.lipsync,
            lipsync_series=sync.lipsync_series, report=ReportFiles(run).report, sentences=story.sentences, segments=speech.segments,
            chunks=chunk.chunks, speech=speech.speech,
        )  # fmt: skip
