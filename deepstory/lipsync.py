"""How well the rendered mouths follow the speech, measured on the decoded video.

Per frame, the mouth opening is the mean darkening of the speaker's mouth
region against the still portrait (an open mouth shows its dark interior); the
speech energy is the RMS of the audio under that frame.  The score is their
Pearson correlation over the whole video, the lag (in frames) at which the
correlation peaks, and the share of frames inside silences longer than 0.5 s
in which the mouth is shut.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from deepstory.timeline import Segment, frame_at, sample_at

MAX_LAG = 5


def mouth_box(mouth: tuple[float, float], mouth_width: float, width: int, height: int) -> tuple[slice, slice]:
    """Where an open mouth's interior appears (frame pixels)."""
    mx, my = mouth
    x0, x1 = int(round(mx - 0.3 * mouth_width)), int(round(mx + 0.3 * mouth_width)) + 1
    y0, y1 = int(round(my - 0.02 * mouth_width)), int(round(my + 0.4 * mouth_width)) + 1
    return slice(max(0, y0), min(height, y1)), slice(max(0, x0), min(width, x1))


def frame_energy(read: Callable[[int, int], np.ndarray], frames: int, sample_rate: int, fps: int,
                 block: int = 250) -> np.ndarray:
    """RMS of the audio under each frame, read ``block`` frames at a time (memory stays flat)."""
    out = np.zeros(frames)
    for first in range(0, frames, block):
        last = min(frames, first + block)
        origin = sample_at(first, sample_rate, fps)
        audio = read(origin, sample_at(last, sample_rate, fps)).astype(np.float64)
        for f in range(first, last):
            piece = audio[sample_at(f, sample_rate, fps) - origin:sample_at(f + 1, sample_rate, fps) - origin]
            out[f] = np.sqrt(np.mean(piece ** 2)) if len(piece) else 0.0
    return out


def silent_frames(segments: Sequence[Segment], frames: int, sample_rate: int, fps: int, longer_than: float = 0.5):
    """Frames lying inside pauses between speech longer than ``longer_than`` seconds (one frame of margin)."""
    mask = np.zeros(frames, dtype=bool)
    edges = [0] + [x for s in segments for x in (s.speech_start, s.speech_end)] + [segments[-1].end if segments else 0]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2]):
        if gap_end - gap_start > longer_than * sample_rate:
            a, b = frame_at(gap_start, sample_rate, fps) + 1, frame_at(gap_end, sample_rate, fps) - 1
            mask[max(0, a):max(0, b)] = True
    return mask


def score(opening: np.ndarray, energy: np.ndarray, silent: np.ndarray) -> dict:
    def pearson(a, b):
        if len(a) < 3 or a.std() == 0 or b.std() == 0:
            return 0.0
        return float(np.corrcoef(a, b)[0, 1])

    n = len(opening)
    lags = {lag: pearson(opening[max(0, lag):n + min(0, lag)], energy[max(0, -lag):n - max(0, lag)])
            for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(lags, key=lags.get)
    speaking = opening[~silent & (energy > np.percentile(energy, 50))] if n else opening
    closed_threshold = 0.2 * float(np.percentile(speaking, 90)) if speaking.size else 0.0
    closed = float((opening[silent] <= closed_threshold).mean()) if silent.any() else 1.0
    return {"pearson": round(lags[0], 4), "best_lag_frames": int(best), "pearson_at_best_lag": round(lags[best], 4),
            "closed_in_long_silences": round(closed, 4), "long_silence_frames": int(silent.sum())}


def measure(frames_gray, pose_at: dict, boxes: dict, stills: dict) -> np.ndarray:
    """Per-frame mouth opening from decoded grayscale frames; ``pose_at[frame]`` keys the speaker's box and still."""
    out = []
    for i, frame in enumerate(frames_gray):
        pose = pose_at.get(i)
        if pose is None:
            out.append(0.0)
            continue
        ys, xs = boxes[pose]
        still = stills[pose][ys, xs]
        darker = np.clip(still - frame[ys, xs].astype(np.float32), 0, None)
        out.append(float(darker.mean()) / max(1.0, float(still.mean())))
    return np.array(out)
