"""The lip-sync stage: measures the finished video into ``export/lipsync.json`` (the score, :mod:`.score`) and
``temp/lipsync_series.npz`` (per frame, read by the report), both cached with the video."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from deepstory.chunk.files import ChunkFiles
from deepstory.compose.files import ComposeFiles
from deepstory.files import read_json, write_json
from deepstory.kernel.stage import Stage
from deepstory.lipsync.files import LipSyncFiles
from deepstory.lipsync.score import (
    GOALS,
    METHOD,
    SCORE_VERSION,
    SERIES_VERSION,
    aligner_version,
    anchor_box,
    frame_energy,
    headline,
    heard_phones,
    load_series,
    measure,
    missed_goals,
    mouth_box,
    phone_classes,
    save_series,
    score,
    silent_frames,
    speaker_scores,
)
from deepstory.media import decode_frames, read_wav_span
from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles
from deepstory.staging import image_runs, on_stage
from deepstory.story.files import StoryFiles


class LipSyncStage(Stage[SceneContext]):
    """Measures the finished video: ``temp/lipsync_series.npz`` (per frame) and ``export/lipsync.json`` (the
    score above), both cached with the video."""

    def run(self, ctx: SceneContext) -> None:
        files, media = LipSyncFiles(ctx.run), ctx.media
        export, story = ComposeFiles(ctx.run), StoryFiles(ctx.run)
        segments, chunks = SpeechFiles(ctx.run).segments(), [c for c in ChunkFiles(ctx.run).chunks() if c.frames > 0]
        width, height = media.size
        cast = on_stage(ctx)
        total = chunks[-1].first_frame + chunks[-1].frames if chunks else 0
        pose_at: dict[int, tuple[str, int]] = {}
        runs = image_runs(ctx)
        for chunk in chunks:
            for image, a, b in runs:
                for f in range(max(a, chunk.first_frame), min(b, chunk.first_frame + chunk.frames)):
                    pose_at[f] = (chunk.speaker, image)
        boxes, stills, anchors = {}, {}, {}
        luma = np.array([0.299, 0.587, 0.114], np.float32)
        for speaker, image in sorted(set(pose_at.values())):
            still = ctx.layout.canvas(width, height)
            tiles = ctx.layout.tiles(cast, speaker, width, height)
            for m, t in tiles.items():
                picture = ctx.cast.portrait(m, (t.width, t.height), image if m == speaker else 0).image
                still[t.y : t.y + t.height, t.x : t.x + t.width] = picture
            t = tiles[speaker]
            face = ctx.cast.portrait(speaker, (t.width, t.height), image).face
            boxes[(speaker, image)] = mouth_box(
                (face.mouth[0] + t.x, face.mouth[1] + t.y), face.mouth_width, width, height
            )
            stills[(speaker, image)] = still.astype(np.float32) @ luma
            box = boxes[(speaker, image)]
            # The head may move the mouth this far (drift and nod: deepstory.motion): the box follows it.
            limit = max(2.0, 0.25 * face.mouth_width)
            anchors[(speaker, image)] = (anchor_box(box, face.mouth_width, height, width), limit)
        # Only the boxes around every measured mouth and the faces above them are decoded into the pipe, with room
        # for the head to move (even corners: the same pixels).
        spans = [(b, int(np.ceil(anchors[p][1]))) for p, b in boxes.items()] + [(a, 0) for a, _ in anchors.values()]
        x0 = max(0, min(b[1].start - r for b, r in spans)) // 2 * 2 if spans else 0
        y0 = max(0, min(b[0].start - r for b, r in spans)) // 2 * 2 if spans else 0
        x1 = min(width, max(b[1].stop + r for b, r in spans)) if spans else width
        y1 = min(height, max(b[0].stop + r for b, r in spans)) if spans else height

        def here(b: tuple[slice, slice]) -> tuple[slice, slice]:
            return slice(b[0].start - y0, b[0].stop - y0), slice(b[1].start - x0, b[1].stop - x0)

        local = {p: here(b) for p, b in boxes.items()}
        local_anchors = {p: (here(a), limit) for p, (a, limit) in anchors.items()}
        near = {p: still[y0:y1, x0:x1] for p, still in stills.items()}
        video_key = read_json(export.video_key)["key"]
        measured_boxes = sorted([list(p), [[b.start, b.stop] for b in boxes[p]]] for p in boxes)
        series = self.output(files.lipsync_series, video_key, measured_boxes, SERIES_VERSION, aligner_version())
        out = self.output(files.lipsync, video_key, measured_boxes, SCORE_VERSION)
        advance = ctx.progress.bar("Measuring lip sync", 2)

        on_screen = {speaker for speaker, _ in pose_at.values()}
        speakers = [name for name in story.speakers() if name in on_screen]  # in order of first line
        code = {name: i for i, name in enumerate(speakers)}

        def measure_series(tmp: Path) -> None:
            frames = decode_frames(export.video, width, height, gray=True, crop=(x0, y0, x1 - x0, y1 - y0))
            opening = measure(frames, pose_at, local, near, local_anchors)[:total]
            energy = frame_energy(partial(read_wav_span, export.audio), total, media.sample_rate, media.fps)
            silent = silent_frames(segments, total, media.sample_rate, media.fps)
            texts = [s.text for s in story.sentences()]
            heard, missed = heard_phones(export.audio, segments, texts, media.sample_rate)
            bilabial, vowel = phone_classes(heard, total, media.sample_rate, media.fps)
            speaker = np.full(total, -1, dtype=np.int16)
            for f, (name, _) in pose_at.items():
                if f < total:
                    speaker[f] = code[name]
            save_series(
                tmp,
                opening=opening,
                energy=energy,
                silent=silent,
                bilabial=bilabial,
                vowel=vowel,
                speaker=speaker,
                speakers=np.array(speakers, dtype=str),
                phone_names=np.array([p[0] for p in heard], dtype=str),
                phone_spans=np.array([p[1:] for p in heard], dtype=np.int64).reshape(-1, 2),
                unaligned=np.array(missed, dtype=np.int64).reshape(-1, 2),
            )

        def produce(tmp: Path) -> None:
            s = load_series(files.lipsync_series)
            overall = score(s["opening"], s["energy"], s["silent"])
            per_speaker = speaker_scores(s, [str(n) for n in s["speakers"]], media.sample_rate, media.fps)
            figures = {
                "method": METHOD,
                "pearson_overall": overall["pearson"],
                **overall,  # pearson and closed_in_long_silences of the whole video, where no speaker has its own
                **headline(per_speaker),
                "bilabial_frames": int(s["bilabial"].sum()),
                "open_vowel_frames": int(s["vowel"].sum()),
                "unaligned_sentences": len(s["unaligned"]),
                "speakers": per_speaker,
                "goals": GOALS,
            }
            figures["missed_goals"] = missed_goals(figures)
            write_json(tmp, figures)

        self.make(ctx, series, measure_series)
        advance(1)
        self.make(ctx, out, produce)
        advance(1)
