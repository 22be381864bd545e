"""The interface every text-to-speech backend implements.

A backend turns one sentence of text into mono float32 samples at the run's
``sample_rate``.  Per-speaker settings arrive as a :class:`Voice`; the common
knobs (``pitch`` in semitones, ``rate`` as a speed factor) mean the same thing
for every backend, anything backend-specific travels in ``options``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Voice:
    """How one speaker sounds.  Built from ``speakers.<name>.voice`` in the config."""

    pitch: float = 0.0  # semitones relative to the backend's natural voice
    rate: float = 1.0  # speaking speed factor, 1.0 = natural, 1.2 = 20% faster
    options: Mapping[str, Any] = field(default_factory=dict)  # backend specific
    speaker: str = ""  # the configured speaker's name (per-speaker models pick their files by it)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, speaker: str = "") -> "Voice":
        cfg = dict(cfg or {})
        pitch = float(cfg.pop("pitch", 0.0))
        rate = float(cfg.pop("rate", 1.0))
        if not 0.25 <= rate <= 4.0:
            raise ValueError(f"voice rate {rate} is outside 0.25..4.0")
        if not -24.0 <= pitch <= 24.0:
            raise ValueError(f"voice pitch {pitch} semitones is outside -24..24")
        return cls(pitch=pitch, rate=rate, options=cfg, speaker=speaker)


class SpeechBackend(ABC):
    """Text to samples.  Instantiated once per render from ``models.tts``."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """Return mono float32 samples in [-1, 1] at ``self.sample_rate``.

        Must be deterministic: the same text and voice give the same samples.
        May return an empty array when the text has nothing speakable.
        """

    def close(self) -> None:
        """Release models and memory; called when the speech stage is done."""

    def identity(self) -> dict[str, Any]:
        """Everything that makes this backend's output what it is (for cache keys)."""
        return {"backend": type(self).__qualname__, "sample_rate": self.sample_rate}
