"""The speech stage's files: each sentence's speech and phone timings, who spoke whom, the timeline; and
:class:`SpeechSource`, the picklable recipe that reads any span of the story's speech from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.files import read_json
from deepstory.kernel.context import RunDir
from deepstory.media import read_wav
from deepstory.phones import Phones
from deepstory.timeline import Segment, SegmentReader


@dataclass(frozen=True)
class SpeechSource:
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
class SpeechFiles:
    run: RunDir

    @property
    def folder(self) -> Path:
        return self.run.temp / "speech"

    def speech(self, sentence: int) -> Path:
        return SpeechSource((), self.folder).path(sentence)

    def phones(self, sentence: int) -> Path:
        """The sentence's phone timings (``{"phones": [[name, start s, end s], ...]}``, or ``null`` if not aligned)."""
        return SpeechSource((), self.folder).phones_path(sentence)

    @property
    def voices(self) -> Path:
        """Who spoke each character: ``{name: {"voice": engine and voice in words, **voice settings}}``."""
        return self.run.temp / "voices.json"

    @property
    def timeline(self) -> Path:
        return self.run.temp / "timeline.json"

    def segments(self) -> list[Segment]:
        return [Segment(**s) for s in read_json(self.timeline)["segments"]]

    def source(self, segments: list[Segment] | None = None) -> SpeechSource:
        """The speech of ``segments`` (default: the timeline's), as a recipe that travels to other processes."""
        return SpeechSource(tuple(segments if segments is not None else self.segments()), self.folder.resolve())

    def reader(self, segments: list[Segment] | None = None) -> SegmentReader:
        return self.source(segments).reader()
