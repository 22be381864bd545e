"""DC-TTS voices (the original Deepstory's speech), one trained voice per speaker.

The networks live in :mod:`deepstory.neural.dctts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepstory.dsp import normalize_peak, resample, trim_silence
from deepstory.errors import CheckpointError, UserError
from deepstory.memory import free_device, release_memory
from deepstory.neural.checkpoint import files_fingerprint
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.shaping import shape

__all__ = ["DCTTSSpeech"]


class DCTTSSpeech(SpeechBackend):
    """DC-TTS voices, one per speaker, from ``<data_dir>/dctts/<folder>/`` (``t2m*.pth`` + ``ssrn.pth``).

    The folder is ``speakers.<Name>.voice.dctts`` when set (a name under
    ``dctts/``, or an absolute path), else the speaker's name.  Each voice is
    loaded once, on first use, and kept until :meth:`close`.  Synthesis is
    deterministic (greedy monotonic attention, zero-phase Griffin-Lim with
    ``griffin_lim_iters`` iterations, at most ``max_frames`` mel frames of 4 x
    12.5 ms, i.e. ``max_frames * 0.05`` seconds), at 22050 Hz, resampled to
    ``sample_rate`` when that differs; leading and trailing silence is trimmed
    and the peak normalised to ``peak``.

    A voice's ``pitch`` and ``formant`` are shaped with the WORLD vocoder
    (:mod:`deepstory.speech.shaping`); ``rate`` is ignored: DC-TTS has no
    length control (its attention decides the timing).

    :meth:`identity` (part of every speech cache key) holds ``data_dir`` and
    a SHA-256 of the path, size and modification time of every file under
    ``dctts/`` (cheap: no file is read), not of the files' contents.
    """

    engine = "dctts"
    extra = ""  # torch only: part of every install
    NATIVE_RATE = 22050

    def __init__(
        self,
        sample_rate: int,
        data_dir: str | Path,
        device: str | torch.device = "cpu",
        griffin_lim_iters: int = 32,
        max_frames: int = 326,
        peak: float = 0.9,
    ) -> None:
        super().__init__(sample_rate)
        self.data_dir = Path(str(data_dir)).expanduser()
        self.device = torch.device(device)
        self.griffin_lim_iters, self.max_frames, self.peak = int(griffin_lim_iters), int(max_frames), float(peak)
        self._voices: dict[Path, Any] = {}
        self._identity: dict[str, Any] | None = None

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "dctts"

    def voice_folder(self, voice: Voice) -> tuple[Path, str]:
        """The voice's folder and the config key it comes from (for error messages)."""
        name = voice.options.get("dctts")
        if name is not None:
            return self.voices_dir / str(name), f"speakers.{voice.character}.voice.dctts"
        if voice.character in ("", ".", "..") or any(c in voice.character for c in "/\\\0"):
            # A name is never a path: it would reach outside dctts/.
            raise UserError(
                f"speakers.{voice.character!r}: this name cannot be a DC-TTS voice folder; "
                f"set speakers.<name>.voice.dctts to the folder's name"
            )
        return (
            self.voices_dir / voice.character,
            f"models.data_dir (voice of {voice.character}: dctts/{voice.character}, or set speakers.{voice.character}.voice.dctts)",
        )

    def _voice(self, voice: Voice):
        from deepstory.neural.dctts import load_voice

        folder, where = self.voice_folder(voice)
        if folder not in self._voices:
            self._voices[folder] = load_voice(folder, where, device=self.device)
        return self._voices[folder]

    def describe(self, voice: Voice) -> str:
        return f"dctts {self.voice_folder(voice)[0].name}"

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        model = self._voice(voice)
        with torch.inference_mode():
            audio = model.synthesize(text, max_frames=self.max_frames, n_iter=self.griffin_lim_iters)
        audio = shape(audio, self.NATIVE_RATE, voice.pitch, voice.formant)
        if self.sample_rate != self.NATIVE_RATE:
            audio = resample(audio, self.sample_rate / self.NATIVE_RATE)
        release_memory()
        return normalize_peak(trim_silence(audio), self.peak)

    def close(self) -> None:
        """Drop the loaded voices (and their device memory)."""
        self._voices.clear()
        free_device(self.device)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            if not self.voices_dir.is_dir():
                raise CheckpointError(
                    f"models.data_dir: DC-TTS voices folder not found: {self.voices_dir} "
                    f"(expected dctts/<Speaker>/t2m*.pth and ssrn.pth)"
                )
            files = [p for p in self.voices_dir.rglob("*") if p.is_file()]
            self._identity = {
                **super().identity(),
                "data_dir": str(self.data_dir),
                "files_sha256": files_fingerprint(files, self.voices_dir),  # path, size, mtime; not contents
                "device": self.device.type,
                "griffin_lim_iters": self.griffin_lim_iters,
                "max_frames": self.max_frames,
                "peak": self.peak,
            }
        return self._identity
