"""Measurements on real audio, shared by the speech tests."""

from __future__ import annotations

import math

import numpy as np


def estimate_f0(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Median fundamental frequency (Hz) over the voiced frames of ``x``.

    40 ms frames every 20 ms; a frame counts when it is reasonably loud and its
    normalised autocorrelation peaks above 0.7 somewhere in the fmin..fmax lag range.
    The first lag reaching 90% of that peak is taken (then walked up to its local
    maximum), which avoids picking a multiple of the true period.
    """
    x = np.asarray(x, dtype=np.float64)
    frame = int(0.04 * sr)
    hop = frame // 2
    lo, hi = int(sr / fmax), int(math.ceil(sr / fmin))
    count = (len(x) - frame - hi) // hop
    assert count > 0, "signal too short for F0 estimation"
    idx = np.arange(count)[:, None] * hop + np.arange(frame + hi)[None, :]
    seg = x[idx]
    ref = seg[:, :frame]
    ref_energy = np.einsum("ij,ij->i", ref, ref)
    loud = np.sqrt(ref_energy / frame) >= 0.3 * np.sqrt(np.mean(x**2))
    cumulative = np.concatenate([np.zeros((count, 1)), np.cumsum(seg**2, axis=1)], axis=1)
    lags = np.arange(lo, hi + 1)
    ncc = np.empty((count, len(lags)))
    for k, lag in enumerate(lags):
        shifted_energy = cumulative[:, lag + frame] - cumulative[:, lag]
        ncc[:, k] = np.einsum("ij,ij->i", ref, seg[:, lag : lag + frame]) / np.sqrt(ref_energy * shifted_energy + 1e-20)
    estimates = []
    for i in np.flatnonzero(loud):
        r = ncc[i]
        peak = r.max()
        if peak < 0.7:
            continue
        j = int(np.flatnonzero(r >= 0.9 * peak)[0])
        while j + 1 < len(r) and r[j + 1] > r[j]:
            j += 1
        estimates.append(sr / lags[j])
    assert len(estimates) >= 10, f"only {len(estimates)} voiced frames found"
    return float(np.median(estimates))


def recognize(audio: np.ndarray, sample_rate: int) -> str:
    """English words heard by pocketsphinx's bundled recognizer (audio resampled to 16 kHz)."""
    from pocketsphinx import Decoder

    from deepstory.dsp import resample

    pcm = (np.clip(resample(audio, 16000 / sample_rate), -1, 1) * 32767).astype(np.int16)
    decoder = Decoder(samprate=16000, logfn="/dev/null")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr if decoder.hyp() else ""


def world_f0(x: np.ndarray, sr: int) -> float:
    """Median F0 (Hz) of the voiced frames, by WORLD's DIO + StoneMask (no octave errors on clean speech)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld

    audio = np.asarray(x, dtype=np.float64)
    f0, times = pyworld.dio(audio, sr, f0_floor=60.0, f0_ceil=700.0)
    f0 = pyworld.stonemask(audio, f0, times, sr)
    voiced = f0[f0 > 0]
    assert voiced.size >= 10, "too few voiced frames"
    return float(np.median(voiced))


def spectral_centroid(x: np.ndarray, sr: int, lo: float = 300.0, hi: float = 5000.0) -> float:
    """Power-weighted mean frequency (Hz) of ``x`` between ``lo`` and ``hi``."""
    spectrum = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
    band = (freqs >= lo) & (freqs <= hi)
    return float((spectrum[band] * freqs[band]).sum() / spectrum[band].sum())


def word_error_rate(reference: str, heard: str) -> float:
    """Word-level edit distance over the reference's length (lower case, letters and apostrophes only)."""
    import re

    ref = re.sub(r"[^a-z' ]", " ", reference.lower()).split()
    hyp = re.sub(r"[^a-z' ]", " ", heard.lower()).split()
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for k in range(1, len(hyp) + 1):
            diagonal, row[k] = row[k], min(row[k] + 1, row[k - 1] + 1, diagonal + (ref[i - 1] != hyp[k - 1]))
    return row[len(hyp)] / max(1, len(ref))
