"""How well the rendered mouths follow the speech, measured on the decoded video.

Per frame, the mouth opening is the mean darkening of the speaker's mouth
region against the still portrait, counted where the frame is dark (below
0.7 of the region's median brightness in the still): an open mouth shows its
dark interior, while lips pressed over a smile's teeth darken the region only
to the lips' own tone, which is not an opening; the
speech energy is the RMS of the audio under that frame.  The score is their
Pearson correlation over the whole video, the lag (in frames) at which the
correlation peaks, and the share of frames inside silences longer than 0.5 s
in which the mouth is shut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from deepstory.files import read_json, write_json
from deepstory.media import decode_frames
from deepstory.motion.visemes import BILABIALS, OPEN_VOWELS
from deepstory.run.context import RunContext
from deepstory.run.stage import Stage
from deepstory.speech.phones import Phones
from deepstory.timeline import Segment, frame_at, sample_at

MAX_LAG = 5


def mouth_box(mouth: tuple[float, float], mouth_width: float, width: int, height: int) -> tuple[slice, slice]:
    """Where an open mouth's interior appears (frame pixels)."""
    mx, my = mouth
    x0, x1 = int(round(mx - 0.3 * mouth_width)), int(round(mx + 0.3 * mouth_width)) + 1
    y0, y1 = int(round(my - 0.02 * mouth_width)), int(round(my + 0.4 * mouth_width)) + 1
    return slice(max(0, y0), min(height, y1)), slice(max(0, x0), min(width, x1))


def frame_energy(
    read: Callable[[int, int], np.ndarray], frames: int, sample_rate: int, fps: int, block: int = 250
) -> np.ndarray:
    """RMS of the audio under each frame, read ``block`` frames at a time (memory stays flat)."""
    out = np.zeros(frames)
    for first in range(0, frames, block):
        last = min(frames, first + block)
        origin = sample_at(first, sample_rate, fps)
        audio = read(origin, sample_at(last, sample_rate, fps)).astype(np.float64)
        for f in range(first, last):
            piece = audio[sample_at(f, sample_rate, fps) - origin : sample_at(f + 1, sample_rate, fps) - origin]
            out[f] = np.sqrt(np.mean(piece**2)) if len(piece) else 0.0
    return out


def silent_frames(segments: Sequence[Segment], frames: int, sample_rate: int, fps: int, longer_than: float = 0.5):
    """Frames lying inside pauses between speech longer than ``longer_than`` seconds (one frame of margin)."""
    mask = np.zeros(frames, dtype=bool)
    edges = [0] + [x for s in segments for x in (s.speech_start, s.speech_end)] + [segments[-1].end if segments else 0]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2]):
        if gap_end - gap_start > longer_than * sample_rate:
            a, b = frame_at(gap_start, sample_rate, fps) + 1, frame_at(gap_end, sample_rate, fps) - 1
            mask[max(0, a) : max(0, b)] = True
    return mask


def shut_threshold(opening: np.ndarray, energy: np.ndarray, silent: np.ndarray) -> float:
    """The opening at or below which the mouth counts as shut: a fifth of its 90th percentile while speaking."""
    if not len(opening):
        return 0.0
    speaking = opening[~silent & (energy > np.percentile(energy, 50))]
    return 0.2 * float(np.percentile(speaking, 90)) if speaking.size else 0.0


def score(opening: np.ndarray, energy: np.ndarray, silent: np.ndarray) -> dict:
    def pearson(a, b):
        if len(a) < 3 or a.std() == 0 or b.std() == 0:
            return 0.0
        return float(np.corrcoef(a, b)[0, 1])

    n = len(opening)
    lags = {
        lag: pearson(opening[max(0, lag) : n + min(0, lag)], energy[max(0, -lag) : n - max(0, lag)])
        for lag in range(-MAX_LAG, MAX_LAG + 1)
    }
    best = max(lags, key=lambda lag: lags[lag])
    closed_threshold = shut_threshold(opening, energy, silent)
    closed = float((opening[silent] <= closed_threshold).mean()) if silent.any() else 1.0
    return {
        "pearson": round(lags[0], 4),
        "best_lag_frames": int(best),
        "pearson_at_best_lag": round(lags[best], 4),
        "closed_in_long_silences": round(closed, 4),
        "long_silence_frames": int(silent.sum()),
    }


def phone_classes(phones: Phones, frames: int, sample_rate: int, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the frames whose centre lies in a P/B/M phone, and in an open vowel."""
    centres = (2 * np.arange(frames) + 1) * sample_rate // (2 * fps)
    bilabial = np.zeros(frames, dtype=bool)
    vowel = np.zeros(frames, dtype=bool)
    for name, a, b in phones.phones:
        if name in BILABIALS:
            bilabial |= (centres >= a) & (centres < b)
        elif name in OPEN_VOWELS:
            vowel |= (centres >= a) & (centres < b)
    return bilabial, vowel


def phone_score(
    opening: np.ndarray, energy: np.ndarray, silent: np.ndarray, bilabial: np.ndarray, vowel: np.ndarray
) -> dict:
    """How well mouths follow the phones: P/B/M shut, open vowels open, and how well opening tells them apart.

    "Shut" is :func:`shut_threshold`, as in :func:`score` (a fifth of the 90th percentile of
    the opening while speaking).  ``auc``: the chance that an open-vowel frame
    is more open than a P/B/M frame (1.0 = always; ties count half).
    """
    if not bilabial.any() or not vowel.any():
        return {}
    shut = shut_threshold(opening, energy, silent)
    closed, wide = opening[bilabial], opening[vowel]
    greater = (wide[:, None] > closed[None, :]).mean() + 0.5 * (wide[:, None] == closed[None, :]).mean()
    return {
        "bilabials_shut": round(float((closed <= shut).mean()), 4),
        "open_vowels_open": round(float((wide > shut).mean()), 4),
        "bilabial_vowel_auc": round(float(greater), 4),
        "bilabial_frames": int(bilabial.sum()),
        "open_vowel_frames": int(vowel.sum()),
    }


def measure(frames_gray, pose_at: dict, boxes: dict, stills: dict) -> np.ndarray:
    """Per-frame mouth opening from decoded grayscale frames; ``pose_at[frame]`` keys the speaker's box and still."""
    # Per pose, once: its still's mouth region, the brightness below which a pixel counts as dark, its mean.
    regions = {pose: stills[pose][boxes[pose]] for pose in boxes}
    dark = {pose: 0.7 * float(np.median(still)) for pose, still in regions.items()}
    scale = {pose: max(1.0, float(still.mean())) for pose, still in regions.items()}
    out = []
    for i, frame in enumerate(frames_gray):
        pose = pose_at.get(i)
        if pose is None:
            out.append(0.0)
            continue
        still = regions[pose]
        now = frame[boxes[pose]].astype(np.float32)
        darker = np.clip(still - now, 0, None) * (now < dark[pose])
        out.append(float(darker.mean()) / scale[pose])
    return np.array(out)


class LipSyncStage(Stage):
    """Measures the finished video: ``temp/lipsync_series.npz`` (per frame) and ``export/lipsync.json`` (the
    score above), both cached with the video."""

    def run(self, ctx: RunContext) -> None:
        files, media = ctx.files, ctx.media
        segments, chunks = files.segments(), [c for c in files.chunks() if c.frames > 0]
        width, height = media.size
        cast = ctx.on_stage()
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
        # Only the box around every measured mouth is decoded into the pipe (even corners: the same pixels).
        x0 = min(b[1].start for b in boxes.values()) // 2 * 2 if boxes else 0
        y0 = min(b[0].start for b in boxes.values()) // 2 * 2 if boxes else 0
        x1 = max(b[1].stop for b in boxes.values()) if boxes else width
        y1 = max(b[0].stop for b in boxes.values()) if boxes else height
        local = {
            p: (slice(b[0].start - y0, b[0].stop - y0), slice(b[1].start - x0, b[1].stop - x0))
            for p, b in boxes.items()
        }
        near = {p: still[y0:y1, x0:x1] for p, still in stills.items()}
        video_key = read_json(files.video_key)["key"]
        measured_boxes = sorted([list(p), [[b.start, b.stop] for b in boxes[p]]] for p in boxes)
        series = self.output(files.lipsync_series, video_key, measured_boxes, SERIES_VERSION)
        out = self.output(files.lipsync, video_key, measured_boxes)
        advance = ctx.progress.bar("Measuring lip sync", 2)

        def measure_series(tmp: Path) -> None:
            frames = decode_frames(files.video, width, height, gray=True, crop=(x0, y0, x1 - x0, y1 - y0))
            opening = measure(frames, pose_at, local, near)[:total]
            energy = frame_energy(files.reader(segments).read, total, media.sample_rate, media.fps)
            silent = silent_frames(segments, total, media.sample_rate, media.fps)
            heard = files.speech_files(segments).phones(0, segments[-1].end if segments else 0, media.sample_rate)
            bilabial, vowel = phone_classes(heard, total, media.sample_rate, media.fps)
            save_series(tmp, opening=opening, energy=energy, silent=silent, bilabial=bilabial, vowel=vowel)

        def produce(tmp: Path) -> None:
            s = load_series(files.lipsync_series)
            opening, energy, silent = s["opening"], s["energy"], s["silent"]
            write_json(
                tmp,
                {**score(opening, energy, silent), **phone_score(opening, energy, silent, s["bilabial"], s["vowel"])},
            )

        self.make(ctx, series, measure_series)
        advance(1)
        self.make(ctx, out, produce)
        advance(1)


#: Names the layout of ``temp/lipsync_series.npz`` in its cache key.
SERIES_VERSION = "series-1"


def save_series(
    dest: Path, opening: np.ndarray, energy: np.ndarray, silent: np.ndarray, bilabial: np.ndarray, vowel: np.ndarray
) -> None:
    """The per-frame series behind the score (``temp/lipsync_series.npz``, read by the report)."""
    with open(dest, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez_compressed(f, opening=opening, energy=energy, silent=silent, bilabial=bilabial, vowel=vowel)


def load_series(path: Path) -> dict[str, np.ndarray]:
    """``opening``, ``energy`` (floats) and ``silent``, ``bilabial``, ``vowel`` (bools), one value per frame."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
