"""Portraits x motion tracks -> ``temp/animated/vNNNNN.mp4``, streamed batch by batch into the encoder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from deepstory.animate.base import Animator
from deepstory.animate.files import AnimateFiles
from deepstory.chunk.files import ChunkFiles
from deepstory.chunk.stage import CHUNKS
from deepstory.errors import UserError
from deepstory.executor import Job
from deepstory.files import read_json, write_json
from deepstory.kernel.stage import Follow, Frontier, Stage
from deepstory.layout import Layout, Tile
from deepstory.media import VideoWriter
from deepstory.motion.files import MotionFiles
from deepstory.motion.stage import MOVED
from deepstory.portrait import Portrait
from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles
from deepstory.speech.stage import SEGMENTS
from deepstory.staging import image_runs, on_stage
from deepstory.threads import compute_threads
from deepstory.timeline import Chunk, Segment, overlapping, video_segments

# A run of frames with one speaker and image: ((speaker, image), {character on screen: its motion rows}).
Piece = tuple[tuple[str, int], dict[str, np.ndarray]]
#: The frontier name of the video segments encoded so far, on the fixed grid (``(first, end)`` frames).
CLIPS = "clips"


class AnimateStage(Stage[SceneContext]):
    """Every frame of the story with ``animator`` (``models.animator``), encoded in segments through the executor.

    Video is encoded in segments of ``segment_frames`` on a fixed grid of global
    frames (each a closed GOP), not per chunk: a segment may span chunks and
    speakers.  The encoder therefore sees identical input whatever ``cut_size``
    is, and ``cut_size`` never changes the decoded picture.

    ``threads``: torch's threads while a segment is animated (the encoder works
    beside it on the other cores; ``deepstory.threads``), ``null`` to leave
    them as they are.
    """

    def __init__(
        self,
        animator: Animator,
        crf: int = 20,
        preset: str = "veryfast",
        segment_frames: int = 250,
        threads: int | None = 1,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.animator = animator
        self.crf, self.preset, self.segment_frames = int(crf), preset, int(segment_frames)
        self.threads = None if threads is None else int(threads)

    def check(self, ctx: SceneContext) -> None:
        super().check(ctx)
        try:
            on_stage(ctx)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    follows = True
    reads = (SEGMENTS, CHUNKS, MOVED)
    publishes = (CLIPS,)

    def run(self, ctx: SceneContext) -> None:
        follow = self.start(ctx)  # checks the track format first
        chunks = ChunkFiles(ctx.run).chunks()
        finished = Frontier(done=True).publish(SEGMENTS, SpeechFiles(ctx.run).segments())
        follow(finished.publish(CHUNKS, chunks).publish(MOVED, chunks))

    def start(self, ctx: SceneContext) -> Follow:
        """Check the motion stage's track format against the animator, then animate and encode every segment of
        the grid whose frames all have their motion."""
        made = read_json(MotionFiles(ctx.run).motion_format)["format"]
        accepts = self.animator.accepts.name
        if made != accepts:
            raise UserError(
                f"models.animator ({type(self.animator).__name__}) takes {accepts} motion tracks, but "
                f"models.motion made {made} tracks: choose a matching pair (see conf/models/)"
            )
        advance = ctx.progress.bar("Animating frames", None, frames=True)
        clips: list[str] = []  # cache keys of the segments made so far, in grid order

        def follow(upstream: Frontier) -> Frontier:
            moved = [c for c in upstream.get(MOVED) if c.frames > 0]
            ready = moved[-1].first_frame + moved[-1].frames if moved else 0
            done = upstream.done and len(upstream.get(MOVED)) == len(upstream.get(CHUNKS))
            # The grid is fixed from frame 0: a full segment is final once its frames are; the last, shorter
            # one only when the story is.
            grid = [
                (a, b) for a, b in video_segments(ready, self.segment_frames) if done or b - a == self.segment_frames
            ]
            if grid[len(clips) :]:
                jobs = self._jobs(ctx, moved, list(upstream.get(SEGMENTS)), grid, len(clips))
                ctx.executor.run(ctx.cache, jobs, self.animator, advance)
                clips.extend(job.out.key for job in jobs)
            if done:
                advance.total(ready)
                write_json(
                    AnimateFiles(ctx.run).clips_file,
                    {
                        "segment_frames": self.segment_frames,
                        "segments": [{"frames": list(g), "key": key} for g, key in zip(grid, clips)],
                    },
                )
                ctx.progress.note(self.name, frames=ready)
            return upstream.publish(CLIPS, grid[: len(clips)], done=done)

        return follow

    def _jobs(
        self, ctx: SceneContext, chunks: list[Chunk], segments: list[Segment], grid: list[tuple[int, int]], first: int
    ) -> list[Job]:
        """Jobs for the segments ``grid[first:]``."""
        width, height = ctx.media.size
        layout, cast = ctx.layout, on_stage(ctx)
        encoder = {
            "crf": self.crf,
            "preset": self.preset,
            "g": self.segment_frames,
            "size": [width, height],
            "fps": ctx.media.fps,
        }
        identity = self.animator.identity()
        images = image_runs(ctx, segments)
        jobs = []
        for j in range(first, len(grid)):
            start, stop = grid[j]
            pieces = self._pieces(ctx, chunks, cast, images, start, stop)
            portraits: dict[tuple, Portrait] = {}
            fingerprint = []
            for pose, rows in pieces:
                shown = {}
                for m, t in layout.tiles(cast, pose[0], width, height).items():
                    which = (m, (t.width, t.height), pose[1] if m == pose[0] else 0)
                    portraits[which] = ctx.cast.portrait(*which)
                    shown[m] = (ctx.cast.portrait_key(*which), hashlib.sha256(rows[m].tobytes()).hexdigest())
                fingerprint.append((pose, shown, len(rows[pose[0]])))
            out = self.output(AnimateFiles(ctx.run).clip(j), identity, layout.identity(), cast, encoder, fingerprint)
            task = SegmentTask(
                pieces,
                portraits,
                layout,
                cast,
                width,
                height,
                ctx.media.fps,
                self.crf,
                self.preset,
                self.segment_frames,
                stop - start,
                self.threads,
            )
            jobs.append(Job(out, task, weight=stop - start))
        return jobs

    def close(self) -> None:
        self.animator.close()

    def identity(self) -> dict[str, Any]:
        return {"animator": self.animator.identity()}

    @staticmethod
    def _pieces(
        ctx: SceneContext,
        chunks: list[Chunk],
        cast: list[str],
        images: list[tuple[int, int, int]],
        start: int,
        stop: int,
    ) -> list[Piece]:
        """Runs of frames ``[start, stop)`` with one speaker and image: each on-screen character's motion rows.

        Runs are cut where the speaker or its image changes, never where a
        chunk ends, so the pieces (and the picture) are the same whatever the
        chunking.
        """
        pieces: list[Piece] = []
        for chunk in overlapping(
            chunks, start, stop, first=lambda c: c.first_frame, end=lambda c: c.first_frame + c.frames
        ):
            track = np.load(MotionFiles(ctx.run).motion(chunk), mmap_mode="r")
            listeners = np.load(MotionFiles(ctx.run).cast_motion(chunk), mmap_mode="r") if cast else None
            for image, a, b in images:
                lo = max(start, chunk.first_frame, a) - chunk.first_frame
                hi = min(stop, chunk.first_frame + chunk.frames, b) - chunk.first_frame
                if lo >= hi:
                    continue
                rows = {m: np.array(listeners[lo:hi, i]) for i, m in enumerate(cast)} if listeners is not None else {}
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

    pieces: list[Piece]
    portraits: dict[tuple, Portrait]  # (character, (w, h), image) -> Portrait
    layout: Layout
    cast: Sequence[str]
    width: int
    height: int
    fps: int
    crf: int
    preset: str
    segment_frames: int
    frames: int
    threads: int | None = 1

    def __call__(self, tmp: Path, animator: Animator) -> None:
        prepared: dict[tuple, Any] = {}
        with (
            compute_threads(self.threads),
            VideoWriter(
                tmp, self.width, self.height, self.fps, self.crf, self.preset, extra={"g": self.segment_frames}
            ) as writer,
        ):
            for pose, rows in self.pieces:
                for batch in self._frames(animator, prepared, pose, rows):
                    writer.write(batch)
        if writer.frames != self.frames:
            raise RuntimeError(f"animator gave {writer.frames} frames, expected {self.frames}")

    def _frames(
        self, animator: Animator, prepared: dict, pose: tuple[str, int], rows: dict[str, np.ndarray]
    ) -> Iterator[np.ndarray]:
        """Full frames for one piece: every on-screen character animated and placed by the layout."""
        speaker, image = pose
        tiles = self.layout.tiles(self.cast, speaker, self.width, self.height)

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
            for (_, t), batch in zip(tiles.items(), batches):
                frames[:, t.y : t.y + t.height, t.x : t.x + t.width] = batch
            self.layout.decorate(frames, self.cast, speaker, self.width, self.height)
            yield frames
