"""The pipeline's stages: story -> speech -> chunks -> motion -> clips -> video.

Each stage reads the files earlier stages wrote under the run dir and writes
its own, atomically.  Backends (speech, motion, animator) are handed in by the
pipeline, built from the ``models`` config group.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from deepstory.chunking import chunk_segments
from deepstory.context import RunContext
from deepstory.files import write_json, write_npy, write_text
from deepstory.media import VideoWriter, WavWriter, concat_and_mux, wav_frames, write_wav
from deepstory.timeline import build_segments


class Stage(ABC):
    """One step of the pipeline; ``name`` keys its timing in the summary."""

    name: str = "stage"

    @abstractmethod
    def run(self, ctx: RunContext) -> None: ...


class SpeechStage(Stage):
    """Each sentence in its speaker's voice -> ``temp/speech/sNNNNNN.wav``; the timeline."""

    name = "speech"

    def __init__(self, tts: Any) -> None:
        self.tts = tts

    def run(self, ctx: RunContext) -> None:
        sentences = ctx.sentences()
        lengths = []
        for i in ctx.steps("Speaking sentences", len(sentences)):
            sentence = sentences[i]
            audio = self.tts.synthesize(sentence.text, ctx.voice(sentence.speaker))
            path = write_wav(ctx.speech_path(sentence.index), audio, ctx.sample_rate)
            lengths.append(wav_frames(path))
        segments = build_segments(sentences, lengths, ctx.sample_rate)
        write_json(ctx.timeline_file, {"sample_rate": ctx.sample_rate,
                                       "segments": [vars(s) for s in segments]})


class ChunkStage(Stage):
    """The seed's chunking rule -> ``temp/chunks.json`` and ``temp/chunks/cNNNNN.wav``."""

    name = "chunk"

    def __init__(self, cut_size: int) -> None:
        self.cut_size = cut_size

    def run(self, ctx: RunContext) -> None:
        segments = ctx.segments()
        chunks = chunk_segments(segments, self.cut_size, ctx.sample_rate, ctx.fps)
        reader = ctx.reader(segments)
        for i in ctx.steps("Cutting chunks", len(chunks)):
            chunk = chunks[i]
            write_wav(ctx.chunk_audio_path(chunk), reader.read(chunk.start, chunk.end), ctx.sample_rate)
        write_json(ctx.chunks_file, {"cut_size": self.cut_size, "chunks": [c.to_dict() for c in chunks]})


class MotionStage(Stage):
    """Each chunk's speech -> its motion track ``temp/motion/cNNNNN.npy`` (the "base")."""

    name = "motion"

    def __init__(self, motion: Any) -> None:
        self.motion = motion

    def run(self, ctx: RunContext) -> None:
        chunks = ctx.chunks()
        reader = ctx.reader()
        for i in ctx.steps("Motion tracks", len(chunks)):
            chunk = chunks[i]
            track = self.motion.track(reader.read, chunk.first_frame, chunk.frames, chunk.speaker)
            write_npy(ctx.motion_path(chunk), track)


class AnimateStage(Stage):
    """Portrait x motion track -> ``temp/animated/cNNNNN.mp4``, streamed batch by batch."""

    name = "animate"

    def __init__(self, animator: Any, crf: int = 20, preset: str = "veryfast") -> None:
        self.animator = animator
        self.crf, self.preset = int(crf), preset

    def run(self, ctx: RunContext) -> None:
        chunks = [c for c in ctx.chunks() if c.frames > 0]
        width, height = ctx.size
        frames_total = sum(c.frames for c in chunks)
        advance = ctx.bar("Animating frames", frames_total)
        for i in ctx.steps("Animating chunks", len(chunks)):
            chunk = chunks[i]
            track = np.load(ctx.motion_path(chunk))
            prepared = self.animator.prepare(ctx.portrait(chunk.speaker))
            with VideoWriter(ctx.clip_path(chunk), width, height, ctx.fps, self.crf, self.preset) as writer:
                for batch in self.animator.frames(prepared, track):
                    writer.write(batch)
                    advance(len(batch))
            if writer.frames != chunk.frames:
                raise RuntimeError(f"chunk {chunk.name}: animator gave {writer.frames} frames, expected {chunk.frames}")
        ctx.stats[self.name] = {"frames": frames_total}


def _srt_time(sample: int, sample_rate: int) -> str:
    ms = round(sample * 1000 / sample_rate)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


class ComposeStage(Stage):
    """Clips + speech -> ``export/combined.wav``, ``export/animated.mp4``, ``export/animated.srt``."""

    name = "compose"

    def __init__(self, audio_bitrate: str = "160k") -> None:
        self.audio_bitrate = audio_bitrate

    def run(self, ctx: RunContext) -> None:
        segments, chunks, sentences = ctx.segments(), ctx.chunks(), ctx.sentences()
        reader = ctx.reader(segments)
        advance = ctx.bar("Composing", 3)
        with WavWriter(ctx.export / "combined.wav", ctx.sample_rate) as wav:
            for seg in segments:  # one sentence at a time: memory stays flat
                wav.write(reader.read(seg.start, seg.end))
        advance(1)
        cues = []
        for n, seg in enumerate(segments, start=1):
            s = sentences[seg.sentence]
            who = s.character or s.speaker
            cues.append(f"{n}\n{_srt_time(seg.speech_start, ctx.sample_rate)} --> "
                        f"{_srt_time(seg.speech_end, ctx.sample_rate)}\n{who}: {s.text}\n")
        write_text(ctx.export / "animated.srt", "\n".join(cues))
        advance(1)
        clips = [ctx.clip_path(c) for c in chunks if c.frames > 0]
        concat_and_mux(clips, ctx.export / "combined.wav", ctx.export / "animated.mp4", ctx.temp,
                       audio_bitrate=self.audio_bitrate, metadata=ctx.metadata)
        advance(1)
