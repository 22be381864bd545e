"""The interface every text-to-speech engine implements, and :class:`Voice`: how one character sounds.

An engine turns one sentence into mono float32 samples at the run's
``sample_rate``.  A character's settings arrive as a :class:`Voice`; the
common knobs mean the same for every engine:

* ``pitch`` in semitones and ``formant`` (the vocal tract's size: > 1 smaller,
  < 1 bigger), shaped with the WORLD vocoder where the engine has no control
  of its own (``deepstory.speech.shaping``);
* ``rate``, a speed factor, through the engine's own length control;
* ``model`` and ``speaker``: the engine's voice file and, in a multi-speaker
  voice, which speaker (a number or a name).

Anything engine-specific (eSpeak's ``variant``) travels in ``options``.

An engine that knows when it speaks each sound (a Piper voice, through its
frame counts per phoneme; eSpeak NG, through its phoneme events) also gives a
sentence's phone timings (:meth:`SpeechBackend.phones`);
for every other engine the speech stage finds them by forced alignment of the
samples with the text (``deepstory.phones``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Hashable, Mapping

import numpy as np

from deepstory.phones import Phone

FORMANT_RANGE = (0.5, 2.0)
VOICE_KEYS = ("engine", "model", "speaker", "pitch", "formant", "rate")


@dataclass(frozen=True)
class Voice:
    """How one character sounds.  Built from ``speakers.<name>.voice`` in the config."""

    pitch: float = 0.0  # semitones relative to the voice's own pitch
    rate: float = 1.0  # speaking speed factor, 1.0 = natural, 1.2 = 20% faster
    formant: float = 1.0  # vocal-tract size factor: 1.0 = natural, 1.15 = formants 15% higher (smaller)
    engine: str | None = None  # an engine of models.engines; None: models.tts
    model: str | None = None  # the engine's voice file (a Piper .onnx); None: the engine's own
    speaker: int | str | None = None  # a speaker of a multi-speaker voice: its number or its name
    options: Mapping[str, Any] = field(default_factory=dict)  # engine specific
    character: str = ""  # the configured character's name (per-character engines pick their files by it)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, character: str = "") -> Voice:
        """A voice from its config node; a ``ValueError`` names the bad value."""
        cfg = dict(cfg or {})
        pitch = float(cfg.pop("pitch", 0.0) or 0.0)
        rate = float(cfg.pop("rate", 1.0) or 1.0)
        formant = float(cfg.pop("formant", 1.0) or 1.0)
        if not 0.25 <= rate <= 4.0:
            raise ValueError(f"voice rate {rate} is outside 0.25..4.0")
        if not -24.0 <= pitch <= 24.0:
            raise ValueError(f"voice pitch {pitch} semitones is outside -24..24")
        if not FORMANT_RANGE[0] <= formant <= FORMANT_RANGE[1]:
            raise ValueError(f"voice formant {formant} is outside {FORMANT_RANGE[0]}..{FORMANT_RANGE[1]}")
        engine = cfg.pop("engine", None)
        model = cfg.pop("model", None)
        speaker = cfg.pop("speaker", None)
        if isinstance(speaker, bool) or (speaker is not None and not isinstance(speaker, (int, str))):
            raise ValueError(f"voice speaker {speaker!r} must be a number or a name")
        return cls(
            pitch=pitch,
            rate=rate,
            formant=formant,
            engine=str(engine) if engine else None,
            model=str(model) if model else None,
            speaker=speaker,
            options=cfg,
            character=character,
        )

    def settings(self) -> dict[str, Any]:
        """Everything about this voice that shapes its sound, for cache keys (the character's name is not)."""
        return {
            "pitch": self.pitch,
            "rate": self.rate,
            "formant": self.formant,
            "engine": self.engine,
            "model": self.model,
            "speaker": self.speaker,
            "options": dict(self.options),
        }


class SpeechBackend(ABC):
    """Text to samples: a speech engine.  Built from ``models.tts`` (and ``models.engines``) once per render."""

    #: The engine's name, as ``speakers.<Name>.voice.engine`` names it.
    engine: ClassVar[str] = ""
    #: The pip extra that installs the engine (``pip install 'deepstory[<extra>]'``).
    extra: ClassVar[str] = ""
    #: Where :meth:`phones` gets its timings (``temp/phones/*.json`` "source"); "" where it gives none.
    phone_source: ClassVar[str] = ""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """Return mono float32 samples in [-1, 1] at ``self.sample_rate``.

        Must be deterministic: the same text and voice give the same samples.
        May return an empty array when the text has nothing speakable.
        """

    def phones(self, text: str, voice: Voice) -> list[Phone] | None:
        """The phones of ``synthesize(text, voice)``, timed by the engine itself; ``None``: it gives none.

        ARPAbet names without stress digits (``SIL`` for pauses), in order, in
        seconds from the first sample :meth:`synthesize` returns, within its
        duration.  Deterministic, like :meth:`synthesize`.  ``None`` (the
        default, and wherever an engine cannot time a sentence) makes the
        speech stage align the samples with the text instead (pocketsphinx).
        """
        return None

    def phones_identity(self) -> dict[str, Any] | None:
        """What makes :meth:`phones`' timings what they are (for their cache key); ``None``: the engine gives none."""
        return None

    def prepare(self, voice: Voice) -> list[str]:
        """Check ``voice`` before any synthesis (its files, its speaker); return warnings.

        Raises ``UserError`` naming the bad ``speakers.<Name>.voice`` value.
        """
        return []

    def voice_identity(self, voice: Voice) -> dict[str, Any]:
        """What of ``voice`` shapes the sound beyond :meth:`identity` (a voice file's hash, the speaker's number)."""
        return {}

    def describe(self, voice: Voice) -> str:
        """The engine and voice that speak ``voice``, in a few words (for the audition table)."""
        return self.engine or type(self).__name__

    def loaded_for(self, voice: Voice) -> Hashable:
        """What :meth:`release` drops for ``voice`` (by default its voice file): voices with equal values share it."""
        return voice.model

    def release(self, voice: Voice) -> None:
        """Drop what was loaded for ``voice``; called after the last sentence of every voice that shares it."""

    def close(self) -> None:
        """Release models and memory; called when the speech stage is done."""

    def identity(self) -> dict[str, Any]:
        """Everything that makes this backend's output what it is (for cache keys)."""
        return {"backend": type(self).__qualname__, "sample_rate": self.sample_rate}
