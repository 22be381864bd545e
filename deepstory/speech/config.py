"""The schemas of ``models/tts`` (each engine) and of ``stages.speech`` (``deepstory.schema``); defaults are the YAML's.

An engine of ``models.engines`` is built later, when a character names it: its node is the engine's schema
with ``_partial_`` (:func:`partial`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from deepstory.schema import Range, ranged

SAMPLE_RATE = Range(8000, 192000)


@dataclass
class PiperConfig:
    """``models/tts=piper``: :class:`deepstory.speech.piper.PiperSpeech`."""

    _target_: str = "deepstory.speech.piper.PiperSpeech"
    sample_rate: int = ranged(SAMPLE_RATE)
    model: Optional[str] = MISSING
    noise_scale: float = ranged(Range(0, whole=False))
    noise_w: float = ranged(Range(0, whole=False))


@dataclass
class EspeakConfig:
    """``models/tts=espeak``: :class:`deepstory.speech.espeak.EspeakSpeech`."""

    _target_: str = "deepstory.speech.espeak.EspeakSpeech"
    sample_rate: int = ranged(SAMPLE_RATE)
    language: str = MISSING


@dataclass
class DCTTSConfig:
    """``models/tts=dctts``: :class:`deepstory.speech.dctts.DCTTSSpeech`."""

    _target_: str = "deepstory.speech.dctts.DCTTSSpeech"
    sample_rate: int = ranged(SAMPLE_RATE)
    data_dir: str = MISSING
    device: str = MISSING
    griffin_lim_iters: int = ranged(Range(1, 10000))
    max_frames: int = ranged(Range(1, 100000))
    peak: float = ranged(Range(0, 1, whole=False, above=True))


#: Name in ``conf/models/tts/`` -> its schema.
ENGINES: dict[str, type] = {"piper": PiperConfig, "espeak": EspeakConfig, "dctts": DCTTSConfig}


def partial(schema: type) -> type:
    """``schema`` with ``_partial_: true``: an engine of ``models.engines``, built when a character names it."""
    return dataclasses.make_dataclass(
        f"{schema.__name__}Partial", [("_partial_", bool, dataclasses.field(default=True))], bases=(schema,)
    )


@dataclass
class SpeechStageConfig:
    """``stages.speech``: :class:`deepstory.speech.stage.SpeechStage` (``phones`` is checked by the stage)."""

    _target_: str = "deepstory.speech.stage.SpeechStage"
    enabled: bool = MISSING
    tts: Any = MISSING
    engines: Any = MISSING
    phones: Any = MISSING
