"""Motion from the speech envelope: mouth from loudness, blinks and head drift from a seeded schedule.

Makes :data:`~deepstory.track.FACE` tracks:

* ``open`` from the speech-band (300-3500 Hz) level, so nasal murmur and
  closures (m, b, p) keep the mouth shut;
* ``blink`` at seeded random times;
* ``dx``, ``dy``, ``roll``: slow seeded drift plus breathing;
* ``nod`` following the speech's loudness rises;
* ``width`` from the spectral centroid of the speech band (a narrow mouth is
  a little rounded: ``round``); ``bite`` and ``press`` stay 0 (loudness
  cannot tell them; :mod:`deepstory.motion.visemes` can).

Every value is a function of the *global* frame index and the story's audio
around that frame, never of where a chunk starts: rendering with any
``cut_size`` gives the same track.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepstory.motion.base import AudioReader, MotionBackend, PhoneReader, stable_seed
from deepstory.portrait import Portrait
from deepstory.track import FACE, MOUTH


def speech_band(read: AudioReader, points: np.ndarray, sample_rate: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Level (dBFS) and spectral centroid (Hz) of the speech band, 300-3500 Hz, in an ``n``-sample Hann window
    centred on each of ``points`` (global samples, ascending).

    The band leaves out the low murmur of nasals (m, n) and plosive closures
    (b, p): the level drops when the lips close.
    """
    start = int(points[0]) - n // 2
    audio = read(start, int(points[-1]) + n // 2 + 1).astype(np.float64)
    index = (points - start - n // 2)[:, None] + np.arange(n)[None, :]
    window = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(audio[index] * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    band = (freqs >= 300) & (freqs <= 3500)
    power = spectrum[:, band].sum(axis=1) * 2.0 / (n * (window**2).sum())
    centroid = (spectrum[:, band] * freqs[band]).sum(axis=1) / np.maximum(spectrum[:, band].sum(axis=1), 1e-20)
    return 10 * np.log10(np.maximum(power, 1e-12)), centroid


class EnvelopeMotion(MotionBackend):
    """Mouth from loudness, blinks and head drift from a seeded schedule.

    ``floor_db``/``ceil_db``: RMS levels (dBFS) mapped to a shut and a fully
    open mouth; below ``floor_db`` the mouth is shut, so noise does not
    chatter.  ``smooth`` frames of symmetric smoothing on each side.
    """

    format = FACE
    context = 4  # frames of audio read on each side of a chunk

    def __init__(
        self,
        sample_rate: int,
        fps: int,
        seed: int = 0,
        floor_db: float = -42.0,
        ceil_db: float = -14.0,
        smooth: int = 1,
        blink_interval: float = 3.5,
        blink_duration: float = 0.18,
        head_motion: float = 1.0,
    ) -> None:
        if ceil_db <= floor_db:
            raise ValueError(f"motion ceil_db ({ceil_db}) must be above floor_db ({floor_db})")
        self.sample_rate, self.fps, self.seed = int(sample_rate), int(fps), int(seed)
        self.floor_db, self.ceil_db = float(floor_db), float(ceil_db)
        self.smooth = int(smooth)
        self.blink_interval, self.blink_duration = float(blink_interval), float(blink_duration)
        self.head_motion = float(head_motion)

    # -- mouth ---------------------------------------------------------------------------
    n_fft = 1024  # analysis window around each frame's centre (46 ms at 22050 Hz)

    def _spectrum(self, read: AudioReader, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Per frame ``lo..hi-1``: speech-band level (dBFS) and spectral centroid (Hz), :func:`speech_band`."""
        sr, fps = self.sample_rate, self.fps
        centres = np.array([(2 * f + 1) * sr // (2 * fps) for f in range(lo, hi)], dtype=np.int64)
        return speech_band(read, centres, sr, self.n_fft)

    def _smooth(self, values: np.ndarray) -> np.ndarray:
        if self.smooth <= 0:
            return values
        kernel = np.hanning(2 * self.smooth + 3)[1:-1]
        return np.convolve(values, kernel / kernel.sum(), mode="same")

    def _mouth(self, db: np.ndarray) -> np.ndarray:
        level = self._smooth(np.clip((db - self.floor_db) / (self.ceil_db - self.floor_db), 0.0, 1.0))
        level[db < self.floor_db] = 0.0  # silence is shut, whatever the neighbours
        return level

    def _width(self, centroid: np.ndarray, mouth: np.ndarray) -> np.ndarray:
        """-1 rounded (o, u: low centroid) .. +1 spread (i, e: high centroid); 0 when shut."""
        shape = np.clip(np.log2(np.maximum(centroid, 1.0) / 700.0), -1.0, 1.0)  # one octave either side of 700 Hz
        return self._smooth(shape * (mouth > 0.05))

    # -- life ------------------------------------------------------------------------------
    def _blinks(self, frames: np.ndarray, speaker: str) -> np.ndarray:
        rng = np.random.default_rng(stable_seed(self.seed, "blink", speaker))
        t_end = (frames[-1] + 1) / self.fps if frames.size else 0.0
        times = []
        t = rng.uniform(0.5, self.blink_interval)
        while t < t_end + 1:
            times.append(t)
            t += self.blink_duration + rng.gamma(4.0, self.blink_interval / 4.0)
        now = (frames + 0.5) / self.fps
        blink = np.zeros(frames.shape, dtype=np.float64)
        half = self.blink_duration / 2
        for t in times:
            if t + half < now[0] or t - half > now[-1]:
                continue
            blink = np.maximum(blink, np.clip(1 - np.abs(now - t) / half, 0, 1))
        return np.clip(blink * 1.4, 0, 1)

    def _drift(self, frames: np.ndarray, speaker: str, name: str, amplitude: float) -> np.ndarray:
        rng = np.random.default_rng(stable_seed(self.seed, name, speaker))
        periods = rng.uniform(2.5, 9.0, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=3)
        weights = rng.uniform(0.5, 1.0, size=3)
        t = frames / self.fps
        wave = sum(w * np.sin(2 * np.pi * t / p + ph) for w, p, ph in zip(weights, periods, phases))
        return amplitude * self.head_motion * wave / weights.sum()

    def _mouth_shape(self, read: AudioReader, lo: int, hi: int, phones: PhoneReader | None) -> np.ndarray:
        """The :data:`~deepstory.track.MOUTH` channels of frames ``lo..hi-1``, the shape and the tongue, ``[frames, 7]``.

        From the speech band's level (opening) and centroid (width; a narrow
        mouth is a little rounded too); loudness alone cannot tell a bite or a
        press, so those stay 0.
        """
        db, centroid = self._spectrum(read, lo, hi)
        mouth = self._mouth(db)
        width = self._width(centroid, mouth)
        out = np.zeros((len(mouth), len(MOUTH) + 2))
        out[:, 0], out[:, 1], out[:, 2] = mouth, width, 0.5 * np.clip(-width, 0, 1)
        # The shape and the tongue stay 0: no phone is known.
        return out

    def track(
        self,
        read: AudioReader,
        first_frame: int,
        frames: int,
        speaker: str,
        portrait: Portrait | None = None,
        phones: PhoneReader | None = None,
    ) -> np.ndarray:
        """The motion of global frames ``[first_frame, first_frame + frames)`` for ``speaker``."""
        lo, hi = first_frame - self.context, first_frame + frames + self.context
        shape = self._mouth_shape(read, lo, hi, phones)
        mouth = shape[:, 0]
        rise = np.clip(np.diff(mouth, prepend=mouth[0]), 0, None)
        nod = np.convolve(rise, np.hanning(7) / np.hanning(7).sum(), mode="same")
        inner = slice(self.context, self.context + frames)
        own = np.arange(first_frame, first_frame + frames)
        breath = 0.004 * self.head_motion * np.sin(2 * np.pi * 0.25 * own / self.fps)
        out = FACE.empty(frames)
        out[:, FACE.index("blink")] = self._blinks(own, speaker)
        out[:, FACE.index("dx")] = self._drift(own, speaker, "dx", 0.012)
        out[:, FACE.index("dy")] = self._drift(own, speaker, "dy", 0.008) + breath
        out[:, FACE.index("roll")] = self._drift(own, speaker, "roll", 1.5)
        out[:, FACE.index("nod")] = np.clip(nod[inner] * 3.0, 0, 1)
        out[:, [FACE.index(c) for c in (*MOUTH, "shape", "tongue")]] = shape[inner]
        return out

    def idle(self, first_frame: int, frames: int, speaker: str, portrait: Portrait | None = None) -> np.ndarray:
        """A listener's track: blinks, drift and breathing, mouth shut."""
        return self.track(lambda a, b: np.zeros(b - a, dtype=np.float32), first_frame, frames, speaker)

    def identity(self) -> dict[str, Any]:
        return {
            "backend": type(self).__qualname__,
            "sample_rate": self.sample_rate,
            "fps": self.fps,
            "seed": self.seed,
            "floor_db": self.floor_db,
            "ceil_db": self.ceil_db,
            "smooth": self.smooth,
            "blink_interval": self.blink_interval,
            "blink_duration": self.blink_duration,
            "head_motion": self.head_motion,
            "version": 2,  # 2: the tongue channel (0 here)
        }
