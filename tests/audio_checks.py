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

    from deepstory.speech.dsp import resample

    pcm = (np.clip(resample(audio, 16000 / sample_rate), -1, 1) * 32767).astype(np.int16)
    decoder = Decoder(samprate=16000, logfn="/dev/null")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr if decoder.hyp() else ""
