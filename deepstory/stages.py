"""The pipeline's stages: story -> speech -> chunks -> motion -> video segments -> export.

Each stage reads the files earlier stages wrote under the run dir and writes
its own.  Every output is fetched from the shared cache by a key that hashes
exactly what it depends on, and produced (atomically, under a lock) only when
missing, so a re-run, a resumed run or a sweep does each piece of work once.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from deepstory.cache import digest
from deepstory.chunking import chunk_segments
from deepstory.context import RunContext, SpeechFiles
from deepstory.executor import Job
from deepstory.layout import Tile
from deepstory.files import read_json, write_json, write_npy, write_text
from deepstory import lipsync
from deepstory.media import VideoWriter, WavWriter, concat_and_mux, decode_frames, wav_frames, write_wav
from deepstory.timeline import overlapping, sample_at, video_segments


class Stage(ABC):
    """One step of the pipeline; ``name`` keys its timing and cache counts in the summary."""

    name: str = "stage"

    @abstractmethod
    def run(self, ctx: RunContext) -> None: ...


class SpeechStage(Stage):
    """Each sentence in its speaker's voice -> ``temp/speech/sNNNNNN.wav``; then the timeline."""

    name = "speech"

    def __init__(self, tts: Any) -> None:
        self.tts = tts

    def run(self, ctx: RunContext) -> None:
        sentences = ctx.sentences()
        identity = self.tts.identity()
        lengths, keys = [], []
        for i in ctx.steps("Speaking sentences", len(sentences)):
            sentence = sentences[i]
            voice = ctx.voice(sentence.speaker)
            key = digest("speech", identity, sentence.text, voice.pitch, voice.rate, dict(voice.options))
            dest = ctx.speech_path(sentence.index)
            ctx.cache.get("speech", key, ".wav", dest=dest, produce=lambda tmp, s=sentence, v=voice: write_wav(
                tmp, self.tts.synthesize(s.text, v), ctx.sample_rate))
            lengths.append(wav_frames(dest))
            keys.append(key)
        self.tts.close()
        ctx.write_timeline(sentences, lengths, keys)


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
            parts = [(s.key, s.pad_before, s.pad_after) for s in segments[chunk.sentences[0]:chunk.sentences[-1] + 1]]
            key = digest("chunk-audio", ctx.sample_rate, parts)
            ctx.cache.get("chunk-audio", key, ".wav", dest=ctx.chunk_audio_path(chunk), produce=lambda tmp, c=chunk:
                          write_wav(tmp, reader.read(c.start, c.end), ctx.sample_rate))
        write_json(ctx.chunks_file, {"cut_size": self.cut_size, "chunks": [c.to_dict() for c in chunks]})


@dataclass
class MotionTask:
    """One chunk's motion track (or its listeners' tracks), picklable for remote workers."""

    speech: SpeechFiles
    speaker: str
    first_frame: int
    frames: int
    portraits: dict[str, Any]  # speaker -> Portrait, for backends that need one
    cast: tuple[str, ...] = ()  # non-empty: the listeners' idle tracks, stacked [frames, len(cast), C]

    def __call__(self, tmp: Path, motion: Any) -> None:
        extra = lambda who: {"portrait": self.portraits[who]} if who in self.portraits else {}  # noqa: E731
        if self.cast:
            track = np.stack([motion.idle(self.first_frame, self.frames, m, **extra(m)) for m in self.cast], 1)
        else:
            track = motion.track(self.speech.reader().read, self.first_frame, self.frames, self.speaker,
                                 **extra(self.speaker))
        write_npy(tmp, track)


class MotionStage(Stage):
    """Each chunk's speech -> its motion track ``temp/motion/cNNNNN.npy`` (the "base")."""

    name = "motion"

    def __init__(self, motion: Any) -> None:
        self.motion = motion

    def run(self, ctx: RunContext) -> None:
        segments, chunks = ctx.segments(), ctx.chunks()
        speech = ctx.speech_files(segments)
        context = int(getattr(self.motion, "context", 0))
        cast = tuple(ctx.layout.cast if ctx.layout is not None else [])
        portraits = lambda who: {m: ctx.portrait(m, ctx.tile_size(m)) for m in who} if self.needs_portrait else {}  # noqa: E731
        jobs = []
        for chunk in chunks:
            lo = sample_at(chunk.first_frame - context, ctx.sample_rate, ctx.fps)
            hi = sample_at(chunk.first_frame + chunk.frames + context + 1, ctx.sample_rate, ctx.fps)
            heard = [(s.start, s.pad_before, s.speech, s.key) for s in overlapping(segments, lo, hi)]
            key = digest("motion", ctx.identity["motion"], chunk.speaker, chunk.first_frame, chunk.frames, heard)
            if self.needs_portrait:  # e.g. SDA: the base is made from the speaker's face
                key = digest(key, ctx.portrait_key(chunk.speaker, ctx.tile_size(chunk.speaker)))
            jobs.append(Job("motion", key, ".npy", ctx.motion_path(chunk), MotionTask(
                speech, chunk.speaker, chunk.first_frame, chunk.frames, portraits([chunk.speaker]))))
            if cast:  # the listeners on stage: blinks, drift and breathing, mouths shut
                key = digest("motion-cast", ctx.identity["motion"], cast, chunk.first_frame, chunk.frames,
                             [ctx.portrait_key(m, ctx.tile_size(m)) for m in cast] if self.needs_portrait else [])
                jobs.append(Job("motion", key, ".npy", ctx.cast_motion_path(chunk), MotionTask(
                    speech, chunk.speaker, chunk.first_frame, chunk.frames, portraits(cast), cast)))
        ctx.executor.run(ctx.cache, jobs, self.motion, ctx.backend_configs.get("motion"),
                         ctx.bar("Motion tracks", len(jobs)))
        close = getattr(self.motion, "close", None)
        if callable(close):  # e.g. SDA: its networks leave the device now
            close()

    @property
    def needs_portrait(self) -> bool:
        return bool(getattr(self.motion, "needs_portrait", False))


class AnimateStage(Stage):
    """Portraits x motion tracks -> ``temp/animated/vNNNNN.mp4``, streamed batch by batch.

    Video is encoded in segments of ``segment_frames`` on a fixed grid of global
    frames (each a closed GOP), not per chunk: a segment may span chunks and
    speakers.  The encoder therefore sees identical input whatever ``cut_size``
    is, and ``cut_size`` never changes the decoded picture.
    """

    name = "animate"

    def __init__(self, animator: Any, crf: int = 20, preset: str = "veryfast", segment_frames: int = 250) -> None:
        self.animator = animator
        self.crf, self.preset, self.segment_frames = int(crf), preset, int(segment_frames)

    def run(self, ctx: RunContext) -> None:
        chunks = [c for c in ctx.chunks() if c.frames > 0]
        total = chunks[-1].first_frame + chunks[-1].frames if chunks else 0
        grid = video_segments(total, self.segment_frames)
        width, height = ctx.size
        layout = ctx.layout
        encoder = {"crf": self.crf, "preset": self.preset, "g": self.segment_frames, "size": [width, height],
                   "fps": ctx.fps}
        images = ctx.image_runs()
        jobs = []
        for j, (start, stop) in enumerate(grid):
            pieces = self._pieces(ctx, chunks, images, start, stop)
            portraits, fingerprint = {}, []
            for pose, rows in pieces:
                shown = {}
                for m, t in layout.tiles(pose[0], width, height).items():
                    which = (m, (t.width, t.height), pose[1] if m == pose[0] else 0)
                    portraits[which] = ctx.portrait(*which)
                    shown[m] = (ctx.portrait_key(*which), hashlib.sha256(rows[m].tobytes()).hexdigest())
                fingerprint.append((pose, shown, len(rows[pose[0]])))
            key = digest("clip", ctx.identity["animator"], layout.identity(), str(ctx.device), encoder, fingerprint)
            task = SegmentTask(pieces, portraits, layout, width, height, ctx.fps, self.crf, self.preset,
                               self.segment_frames, stop - start)
            jobs.append(Job("clip", key, ".mp4", ctx.clip_path(j), task, weight=stop - start))
        ctx.executor.run(ctx.cache, jobs, self.animator, ctx.backend_configs.get("animator"),
                         ctx.bar("Animating frames", total))
        close = getattr(self.animator, "close", None)
        if callable(close):  # e.g. FOMM: its networks leave the device now
            close()
        write_json(ctx.segments_file, {"segment_frames": self.segment_frames,
                                       "segments": [{"frames": list(g), "key": job.key} for g, job in zip(grid, jobs)]})
        ctx.stats.setdefault(self.name, {})["frames"] = total

    @staticmethod
    def _pieces(ctx: RunContext, chunks, images: list[tuple[int, int, int]], start: int,
                stop: int) -> list[tuple[tuple[str, int], dict[str, np.ndarray]]]:
        """Runs of frames ``[start, stop)`` with one speaker and image: each on-screen character's motion rows.

        Runs are cut where the speaker or its image changes, never where a
        chunk ends, so the pieces (and the picture) are the same whatever the
        chunking.
        """
        pieces: list[tuple[tuple[str, int], dict[str, np.ndarray]]] = []
        cast = ctx.layout.cast
        for chunk in overlapping(chunks, start, stop, first=lambda c: c.first_frame,
                                 end=lambda c: c.first_frame + c.frames):
            track = np.load(ctx.motion_path(chunk), mmap_mode="r")
            listeners = np.load(ctx.cast_motion_path(chunk), mmap_mode="r") if cast else None
            for image, a, b in images:
                lo = max(start, chunk.first_frame, a) - chunk.first_frame
                hi = min(stop, chunk.first_frame + chunk.frames, b) - chunk.first_frame
                if lo >= hi:
                    continue
                rows = {m: np.array(listeners[lo:hi, i]) for i, m in enumerate(cast)} if cast else {}
                rows[chunk.speaker] = np.array(track[lo:hi])
                pose = (chunk.speaker, image)
                if pieces and pieces[-1][0] == pose:
                    pieces[-1] = (pose, {m: np.concatenate([pieces[-1][1][m], r]) for m, r in rows.items()})
                else:
                    pieces.append((pose, rows))
        return pieces


@dataclass
class SegmentTask:
    """Animate and encode one video segment; picklable, so a remote worker can do it."""

    pieces: list[tuple[tuple[str, int], dict[str, np.ndarray]]]
    portraits: dict[tuple, Any]  # (character, (w, h), image) -> Portrait
    layout: Any
    width: int
    height: int
    fps: int
    crf: int
    preset: str
    segment_frames: int
    frames: int

    def __call__(self, tmp: Path, animator: Any) -> None:
        prepared: dict[tuple, Any] = {}
        with VideoWriter(tmp, self.width, self.height, self.fps, self.crf, self.preset,
                         extra={"g": self.segment_frames}) as writer:
            for pose, rows in self.pieces:
                for batch in self._frames(animator, prepared, pose, rows):
                    writer.write(batch)
        if writer.frames != self.frames:
            raise RuntimeError(f"animator gave {writer.frames} frames, expected {self.frames}")

    def _frames(self, animator: Any, prepared: dict, pose: tuple[str, int],
                rows: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """Full frames for one piece: every on-screen character animated and placed by the layout."""
        speaker, image = pose
        tiles = self.layout.tiles(speaker, self.width, self.height)

        def ready(m: str, t: Tile) -> Any:
            which = (m, (t.width, t.height), image if m == speaker else 0)
            if which not in prepared:
                prepared[which] = animator.prepare(self.portraits[which])
            return prepared[which]

        if list(tiles.values()) == [Tile(0, 0, self.width, self.height)]:
            yield from animator.frames(ready(speaker, tiles[speaker]), rows[speaker])
            return
        canvas = self.layout.canvas(self.width, self.height)
        streams = {m: animator.frames(ready(m, t), rows[m]) for m, t in tiles.items()}
        for batches in zip(*streams.values()):
            frames = np.repeat(canvas[None], len(batches[0]), axis=0)
            for (m, t), batch in zip(tiles.items(), batches):
                frames[:, t.y:t.y + t.height, t.x:t.x + t.width] = batch
            self.layout.decorate(frames, speaker, self.width, self.height)
            yield frames


def _srt_time(sample: int, sample_rate: int) -> str:
    ms = round(sample * 1000 / sample_rate)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


class ComposeStage(Stage):
    """Segments + speech -> ``export/combined.wav``, ``export/animated.mp4``, ``export/animated.srt``."""

    name = "compose"

    def __init__(self, audio_bitrate: str = "160k") -> None:
        self.audio_bitrate = audio_bitrate

    def run(self, ctx: RunContext) -> None:
        segments, sentences = ctx.segments(), ctx.sentences()
        reader = ctx.reader(segments)
        advance = ctx.bar("Composing", 3)
        with WavWriter(ctx.export / "combined.wav", ctx.sample_rate) as wav:
            for seg in segments:  # one sentence at a time: memory stays flat
                wav.write(reader.read(seg.start, seg.end))
        advance(1)
        cues = []
        for n, seg in enumerate(segments, start=1):
            s = sentences[seg.sentence]
            cues.append(f"{n}\n{_srt_time(seg.speech_start, ctx.sample_rate)} --> "
                        f"{_srt_time(seg.speech_end, ctx.sample_rate)}\n{s.character or s.speaker}: {s.text}\n")
        write_text(ctx.export / "animated.srt", "\n".join(cues))
        advance(1)
        video = read_json(ctx.segments_file)["segments"]
        clips = [ctx.clip_path(j) for j in range(len(video))]
        clip_keys = [v["key"] for v in video]
        audio = [(s.key, s.pad_before, s.pad_after) for s in segments]
        key = digest("export", clip_keys, audio, ctx.sample_rate, self.audio_bitrate, ctx.metadata)
        ctx.cache.get("export", key, ".mp4", dest=ctx.export / "animated.mp4", produce=lambda tmp: concat_and_mux(
            clips, ctx.export / "combined.wav", tmp, ctx.temp, audio_bitrate=self.audio_bitrate,
            metadata=ctx.metadata))
        write_json(ctx.temp / "export.json", {"key": key})
        advance(1)


class LipSyncStage(Stage):
    """Measures the finished video: ``export/lipsync.json`` (see :mod:`deepstory.lipsync`)."""

    name = "lipsync"

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)

    def run(self, ctx: RunContext) -> None:
        if not self.enabled:
            return
        segments, chunks = ctx.segments(), [c for c in ctx.chunks() if c.frames > 0]
        width, height = ctx.size
        total = chunks[-1].first_frame + chunks[-1].frames if chunks else 0
        pose_at: dict[int, tuple[str, int]] = {}
        runs = ctx.image_runs()
        for chunk in chunks:
            for image, a, b in runs:
                for f in range(max(a, chunk.first_frame), min(b, chunk.first_frame + chunk.frames)):
                    pose_at[f] = (chunk.speaker, image)
        boxes, stills = {}, {}
        luma = np.array([0.299, 0.587, 0.114], np.float32)
        for speaker, image in sorted(set(pose_at.values())):
            still = ctx.layout.canvas(width, height)
            for m, t in ctx.layout.tiles(speaker, width, height).items():
                picture = ctx.portrait(m, (t.width, t.height), image if m == speaker else 0).image
                still[t.y:t.y + t.height, t.x:t.x + t.width] = picture
            t = ctx.layout.tiles(speaker, width, height)[speaker]
            face = ctx.portrait(speaker, (t.width, t.height), image).face
            boxes[(speaker, image)] = lipsync.mouth_box((face.mouth[0] + t.x, face.mouth[1] + t.y), face.mouth_width,
                                                        width, height)
            stills[(speaker, image)] = still.astype(np.float32) @ luma
        export_key = read_json(ctx.temp / "export.json")["key"]
        key = digest("lipsync", export_key, sorted([list(p), [[b.start, b.stop] for b in boxes[p]]] for p in boxes))
        advance = ctx.bar("Measuring lip sync", 1)

        def produce(tmp: Path) -> None:
            frames = decode_frames(ctx.export / "animated.mp4", width, height, gray=True)
            opening = lipsync.measure(frames, pose_at, boxes, stills)[:total]
            energy = lipsync.frame_energy(ctx.reader(segments).read, total, ctx.sample_rate, ctx.fps)
            silent = lipsync.silent_frames(segments, total, ctx.sample_rate, ctx.fps)
            write_json(tmp, lipsync.score(opening, energy, silent))

        ctx.cache.get("lipsync", key, ".json", produce, dest=ctx.export / "lipsync.json")
        advance(1)
