"""How well the rendered mouths follow the speech, measured on what a viewer gets: the decoded video and the
final audio, never on what drove the mouths.

* **Opening**, per frame: the mean darkening of the speaker's mouth region
  against the still portrait, counted where the frame is dark (below 0.7 of the
  region's median brightness in the still): an open mouth shows its dark
  interior, while lips pressed over a smile's teeth darken the region only to
  the lips' own tone, which is not an opening.
* **Energy**, per frame: the RMS of ``export/combined.wav`` under that frame.
* **Phones**: each sentence of ``export/combined.wav`` force-aligned to its text
  by pocketsphinx (:func:`heard_phones`), so P/B/M and open-vowel frames are
  found in the audio itself.  The motion's own phones (``temp/phones/``) are
  not read: a mouth driven by shuffled or late phones must score low (the
  negative controls in ``tests/test_layout_lipsync.py``).
* **Per speaker**, each with its own "shut" threshold (a fifth of that
  speaker's 90th-percentile opening while speaking): P/B/M frames shut, open
  vowel frames open, the AUC between the two, the Pearson correlation of
  opening and energy, and the share of long-silence frames (pauses over 0.5 s)
  with the mouth shut.  The headline figures are the worst speaker's.
* Over the whole video: the lag (in frames) at which the opening-energy
  correlation peaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from deepstory.media import read_wav_span
from deepstory.motion.visemes import BILABIALS, OPEN_VOWELS
from deepstory.phones import Aligner, align
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


def phone_classes(phones: Sequence[tuple[str, int, int]], frames: int, sample_rate: int, fps: int):
    """Masks of the frames whose centre lies in a P/B/M phone, and in an open vowel."""
    centres = (2 * np.arange(frames) + 1) * sample_rate // (2 * fps)
    bilabial = np.zeros(frames, dtype=bool)
    vowel = np.zeros(frames, dtype=bool)
    for name, a, b in phones:
        if name in BILABIALS:
            bilabial |= (centres >= a) & (centres < b)
        elif name in OPEN_VOWELS:
            vowel |= (centres >= a) & (centres < b)
    return bilabial, vowel


def heard_phones(
    wav: Path, segments: Sequence[Segment], texts: Sequence[str], sample_rate: int, margin: float = 0.1
) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """Phones of the final audio (``export/combined.wav``), by forced alignment of each sentence to its text.

    This is the measurement's own reading of what was said and when, made from
    the audio a viewer hears: never from the phones that drove the mouths
    (``temp/phones/``), so a mouth driven by wrong or late phones scores low.
    Each sentence's speech is read with ``margin`` seconds of its surrounding
    pause.  Returns the phones on the global sample axis, and how many
    sentences could not be aligned (their frames are in neither class).
    """
    aligner = Aligner()
    found: list[tuple[str, int, int]] = []
    missed: list[tuple[int, int]] = []
    pad = int(margin * sample_rate)
    try:
        for seg in segments:
            if seg.speech == 0:
                continue
            first, last = max(seg.start, seg.speech_start - pad), min(seg.end, seg.speech_end + pad)
            phones = align(read_wav_span(wav, first, last), sample_rate, texts[seg.sentence], aligner)
            if phones is None:
                missed.append((seg.speech_start, seg.speech_end))
                continue
            found.extend(
                (p.name, first + round(p.start * sample_rate), first + round(p.end * sample_rate)) for p in phones
            )
    finally:
        aligner.close()
    return found, missed


def phone_score(
    opening: np.ndarray,
    energy: np.ndarray,
    silent: np.ndarray,
    bilabial: np.ndarray,
    vowel: np.ndarray,
    shut: float | None = None,
) -> dict:
    """How well one speaker's mouth follows the phones: P/B/M shut, open vowels open, and how well opening tells
    them apart.

    "Shut" is ``shut``, by default :func:`shut_threshold` of these frames (a
    fifth of the 90th percentile of the opening while speaking).  ``auc``: the chance that
    an open-vowel frame is more open than a P/B/M frame (1.0 = always; ties
    count half).
    """
    if not bilabial.any() or not vowel.any():
        return {"bilabial_frames": int(bilabial.sum()), "open_vowel_frames": int(vowel.sum())}
    if shut is None:
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


#: What each figure should reach (the lip-sync issues' goals); the summary and the report show them beside the
#: figures.  ``best_lag_frames`` is a bound on its size.
GOALS = {
    "bilabial_phones_closed": 0.98,
    "bilabials_shut": 0.95,
    "open_vowels_open": 0.95,
    "bilabial_vowel_auc": 0.97,
    "pearson": 0.5,
    "closed_in_long_silences": 0.95,
    "best_lag_frames": 1,
}
#: Figures of a speaker with fewer P/B/M or open-vowel frames than this are listed, not taken for the headline.
MIN_FRAMES = 10
PER_SPEAKER = (
    "bilabial_phones_closed",
    "bilabials_shut",
    "open_vowels_open",
    "bilabial_vowel_auc",
    "closed_in_long_silences",
    "pearson",
)


def missed_goals(figures: dict) -> list[str]:
    """The figures of ``figures`` that miss their goal."""
    missed = [k for k, goal in GOALS.items() if k in figures and k != "best_lag_frames" and figures[k] < goal]
    if "best_lag_frames" in figures and abs(figures["best_lag_frames"]) > GOALS["best_lag_frames"]:
        missed.append("best_lag_frames")
    return missed


def bilabials_closed(series: dict[str, np.ndarray], shut: dict[int, float], sample_rate: int, fps: int) -> dict:
    """Per speaker code: ``(closed, heard)``: how many of the P/B/M phones the audio has show at least one shut
    frame among the frames they overlap (a 40 ms phone may own no frame centre, yet the lips must meet)."""
    opening, speaker = series["opening"], series["speaker"]
    counts: dict[int, list[int]] = {}
    for name, (a, b) in zip(series.get("phone_names", []), series.get("phone_spans", np.zeros((0, 2)))):
        if str(name) not in BILABIALS:
            continue
        first, end = int(a) * fps // sample_rate, min(len(opening), -(-int(b) * fps // sample_rate))
        frames = [f for f in range(first, end) if speaker[f] >= 0]
        if not frames:
            continue
        code = int(speaker[frames[0]])
        seen = counts.setdefault(code, [0, 0])
        seen[0] += any(opening[f] <= shut[int(speaker[f])] for f in frames)
        seen[1] += 1
    return {code: tuple(c) for code, c in counts.items()}


def speaker_scores(
    series: dict[str, np.ndarray], names: Sequence[str], sample_rate: int = 22050, fps: int = 25
) -> dict[str, dict]:
    """Every figure per speaker, each with its own shut threshold (one wide mouth sets no one else's)."""
    out: dict[str, dict] = {}
    shut_of = {
        code: shut_threshold(*(series[k][series["speaker"] == code] for k in ("opening", "energy", "silent")))
        for code in range(len(names))
    }
    closed = bilabials_closed(series, shut_of, sample_rate, fps)
    for code, name in enumerate(names):
        mine = series["speaker"] == code
        if not mine.any():
            continue
        opening, energy, silent = series["opening"][mine], series["energy"][mine], series["silent"][mine]
        shut = shut_of[code]
        figures = phone_score(opening, energy, silent, series["bilabial"][mine], series["vowel"][mine], shut)
        if code in closed:
            figures["bilabial_phones_closed"] = round(closed[code][0] / closed[code][1], 4)
            figures["bilabial_phones"] = closed[code][1]
        if silent.any():
            figures["closed_in_long_silences"] = round(float((opening[silent] <= shut).mean()), 4)
        if len(opening) >= 3 and opening.std() > 0 and energy.std() > 0:
            figures["pearson"] = round(float(np.corrcoef(opening, energy)[0, 1]), 4)
        figures["frames"] = int(mine.sum())
        out[name] = figures
    return out


def headline(speakers: dict[str, dict]) -> dict:
    """The worst speaker's value of each per-speaker figure, and who that is (speakers with too few frames of a
    phone class are left out of the phone figures)."""
    worst: dict[str, Any] = {}
    who: dict[str, str] = {}
    for key in PER_SPEAKER:
        scored = {
            name: f[key]
            for name, f in speakers.items()
            if key in f
            and (key not in PHONE_FIGURES or min(f["bilabial_frames"], f["open_vowel_frames"]) >= MIN_FRAMES)
        }
        if scored:
            name = min(scored, key=lambda n: scored[n])
            worst[key], who[key] = scored[name], name
    return {**worst, "worst_speaker": who}


PHONE_FIGURES = ("bilabial_phones_closed", "bilabials_shut", "open_vowels_open", "bilabial_vowel_auc")


def anchor_box(box: tuple[slice, slice], mouth_width: float, height: int, width: int) -> tuple[slice, slice]:
    """Where the head's place is read, frame pixels: the face above the mouth's box (the nose, the cheeks), which
    the mouth's shapes never move (the upper lip lifts at most a tenth of the mouth's width)."""
    rows, cols = box
    top = max(0, int(round(rows.start - 1.0 * mouth_width)))
    bottom = max(top + 1, int(round(rows.start - 0.35 * mouth_width)))
    grow = int(round(0.3 * mouth_width))
    return slice(top, min(height, bottom)), slice(max(0, cols.start - grow), min(width, cols.stop + grow))


class Follower:
    """Finds how far the face in a frame has moved from ``still`` (a region of the still portrait), by phase
    correlation: the peak of the normalised cross-power spectrum's inverse.  The still's windowed spectrum is
    taken once, here; each frame's, per call."""

    def __init__(self, still: np.ndarray) -> None:
        self.shape = still.shape
        self.usable = min(still.shape) >= 8
        if self.usable:
            self.window = np.outer(np.hanning(still.shape[0]), np.hanning(still.shape[1]))
            self.still = np.conj(np.fft.rfft2((still - still.mean()) * self.window))

    def __call__(self, frame: np.ndarray, limit: float) -> tuple[int, int]:
        """``(dy, dx)``, whole pixels, for the same region of ``frame``; none where the peak is weak or further
        than ``limit`` pixels."""
        if not self.usable:
            return 0, 0
        cross = np.fft.rfft2((frame - frame.mean()) * self.window) * self.still
        surface = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=self.shape)
        dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
        dy = dy - self.shape[0] if dy > self.shape[0] // 2 else dy
        dx = dx - self.shape[1] if dx > self.shape[1] // 2 else dx
        if surface.max() < 0.1 or abs(dy) > limit or abs(dx) > limit:
            return 0, 0
        return int(dy), int(dx)


def follow(still: np.ndarray, frame: np.ndarray, limit: float) -> tuple[int, int]:
    """``(dy, dx)``, whole pixels: how far the face in ``frame`` has moved from ``still`` (the same region of
    each); see :class:`Follower`."""
    return Follower(still)(frame, limit)


def measure(frames_gray, pose_at: dict, boxes: dict, stills: dict, anchors: dict | None = None) -> np.ndarray:
    """Per-frame mouth opening from decoded grayscale frames; ``pose_at[frame]`` keys the speaker's box and still.

    With ``anchors`` (per pose: the region above the mouth, :func:`anchor_box`, and the most pixels the head
    may have moved), each frame's box follows the head: it is read where the face around it has moved to
    (:class:`Follower`), so a head that drifts or nods does not carry the lips' own shadow into a fixed box."""
    # Per pose, once: its still's mouth region, the brightness below which a pixel counts as dark, its mean.
    regions = {pose: stills[pose][boxes[pose]] for pose in boxes}
    dark = {pose: 0.7 * float(np.median(still)) for pose, still in regions.items()}
    scale = {pose: max(1.0, float(still.mean())) for pose, still in regions.items()}
    followers = {pose: (Follower(stills[pose][area]), area, limit) for pose, (area, limit) in (anchors or {}).items()}
    out = []
    for i, frame in enumerate(frames_gray):
        pose = pose_at.get(i)
        if pose is None:
            out.append(0.0)
            continue
        still = regions[pose]
        rows, cols = boxes[pose]
        if pose in followers:
            follower, area, limit = followers[pose]
            dy, dx = follower(frame[area], limit)
            dy = min(max(dy, -rows.start), frame.shape[0] - rows.stop)  # the moved box stays in the frame
            dx = min(max(dx, -cols.start), frame.shape[1] - cols.stop)
            rows, cols = slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx, cols.stop + dx)
        now = frame[rows, cols].astype(np.float32)
        darker = np.clip(still - now, 0, None) * (now < dark[pose])
        out.append(float(darker.mean()) / scale[pose])
    return np.array(out)


#: Names the layout of ``temp/lipsync_series.npz`` in its cache key.
SERIES_VERSION = "series-3"  # 2: phone classes from the final audio's alignment; speakers per frame; 3: the box
# follows the head

#: Names what ``export/lipsync.json`` holds in its cache key (2: P/B/M phones with a shut frame).
SCORE_VERSION = "score-2"

#: How the phone figures are measured, as written into ``export/lipsync.json``.
METHOD = (
    "P/B/M and open-vowel frames from a forced alignment (pocketsphinx) of export/combined.wav to the story text; "
    "mouth opening read from the decoded video in a box that follows the head; shut = at most a fifth of the speaker's 90th-percentile opening "
    "while speaking; headline = the worst speaker"
)


def aligner_version() -> str:
    """The aligner's version: it decides the phone classes, so it enters the series' cache key."""
    import importlib.metadata

    return "pocketsphinx-" + importlib.metadata.version("pocketsphinx")


def save_series(dest: Path, **series: Any) -> None:
    """The per-frame series behind the score (``temp/lipsync_series.npz``, read by the report)."""
    with open(dest, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez_compressed(f, **series)


def load_series(path: Path) -> dict[str, np.ndarray]:
    """Per frame: ``opening``, ``energy`` (floats), ``silent``, ``bilabial``, ``vowel`` (bools), ``speaker`` (an
    index into ``speakers``, -1 for none); and the measured phones: ``phone_names``, ``phone_spans`` (global
    samples), ``unaligned`` (speech spans of the sentences the aligner could not place)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
