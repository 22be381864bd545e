"""Small, deterministic signal helpers shared by the speech backends."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def resample(audio: np.ndarray, ratio: float, max_denominator: int = 512) -> np.ndarray:
    """Resample by ``ratio`` (output length ~= input length * ratio), polyphase, float32."""
    frac = Fraction(ratio).limit_denominator(max_denominator)
    if frac == 1 or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # 1-3 s to import: only when a voice's rate differs

    out = resample_poly(audio.astype(np.float64), frac.numerator, frac.denominator)
    return out.astype(np.float32)


def pitch_factor(semitones: float) -> float:
    return float(2.0 ** (semitones / 12.0))


def normalize_peak(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scale so the loudest sample is ``peak``; silence stays silence."""
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top < 1e-6:
        return np.zeros_like(audio, dtype=np.float32)
    return np.clip(audio * (peak / top), -1.0, 1.0).astype(np.float32)


def loud_span(audio: np.ndarray, threshold: float = 1e-3) -> tuple[int, int]:
    """``(first, end)``: the samples from the first to the last louder than ``threshold`` (``(0, 0)``: none)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1


def trim_silence(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop leading and trailing samples quieter than ``threshold`` (pauses are added by the timeline)."""
    first, end = loud_span(audio, threshold)
    return audio[first:end]
