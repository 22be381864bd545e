"""The last stage: segments + speech -> ``export/combined.wav``, ``export/animated.mp4``, ``export/animated.srt``
(and the same subtitles as WebVTT, ``export/animated.vtt``, for browsers)."""

from __future__ import annotations

from pathlib import Path

from deepstory.animate.files import AnimateFiles
from deepstory.compose.files import ComposeFiles
from deepstory.files import read_json, write_json, write_text
from deepstory.kernel.context import RunContext
from deepstory.kernel.stage import Stage
from deepstory.media import WavWriter, concat_and_mux
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles


def srt_time(sample: int, sample_rate: int, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT); WebVTT writes the same with ``separator="."``."""
    ms = round(sample * 1000 / sample_rate)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def webvtt(cues: list[tuple[int, int, str]], sample_rate: int) -> str:
    """WebVTT of ``(first sample, end sample, text)`` cues: the SRT's cues with a dot in the times, the
    text escaped (``&``, ``<`` and ``>`` are markup there, and ``-->`` would break the cue) and no empty
    line inside a cue (it would end it)."""
    out = ["WEBVTT", ""]
    for n, (a, b, text) in enumerate(cues, start=1):
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        lines = [ln for ln in escaped.splitlines() if ln.strip()] or ["…"]
        out += [str(n), f"{srt_time(a, sample_rate, '.')} --> {srt_time(b, sample_rate, '.')}", *lines, ""]
    return "\n".join(out)


class ComposeStage(Stage[RunContext]):
    """The story's audio streamed to one wav, subtitles per sentence, the video segments concatenated and muxed.

    The mp4 carries the config hash (``comment``) and the story's name (``title``).
    """

    def __init__(self, audio_bitrate: str = "160k", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.audio_bitrate = audio_bitrate

    def run(self, ctx: RunContext) -> None:
        files, rate = ComposeFiles(ctx.run), ctx.media.sample_rate
        speech, story, animated = SpeechFiles(ctx.run), StoryFiles(ctx.run), AnimateFiles(ctx.run)
        segments, sentences = speech.segments(), story.sentences()
        reader = speech.reader(segments)
        advance = ctx.progress.bar("Composing", 3)
        with WavWriter(files.audio, rate) as wav:
            for seg in segments:  # one sentence at a time: memory stays flat
                wav.write(reader.read(seg.start, seg.end))
        advance(1)
        cues = []
        for seg in segments:
            s = sentences[seg.sentence]
            cues.append((seg.speech_start, seg.speech_end, f"{s.character or s.speaker}: {s.text}"))
        write_text(
            files.subtitles,
            "\n".join(
                f"{n}\n{srt_time(a, rate)} --> {srt_time(b, rate)}\n{text}\n" for n, (a, b, text) in enumerate(cues, 1)
            ),
        )
        write_text(files.web_subtitles, webvtt(cues, rate))
        advance(1)
        video = read_json(animated.clips_file)["segments"]
        clips = [animated.clip(j) for j in range(len(video))]
        audio = [(s.key, s.pad_before, s.pad_after) for s in segments]
        title = Path(read_json(story.story)["source"]).stem
        metadata = {"comment": f"deepstory config {ctx.config_hash}", "title": title}
        out = self.output(files.video, [v["key"] for v in video], audio, rate, self.audio_bitrate, metadata)
        self.make(
            ctx,
            out,
            lambda tmp: concat_and_mux(
                clips, files.audio, tmp, ctx.run.temp, audio_bitrate=self.audio_bitrate, metadata=metadata
            ),
        )
        write_json(files.video_key, {"key": out.key})
        advance(1)
