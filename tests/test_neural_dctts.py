"""DC-TTS (deepstory modules/dctts): checkpoint layout, strict loading, golden outputs, synthesis."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pytest
import torch

from deepstory.neural.checkpoint import CheckpointError
from deepstory.neural.dctts import (
    HParams,
    WeightNormConv1d,
    build_ssrn,
    build_text2mel,
    encode_text,
    generate_mel,
    griffin_lim,
    load_voice,
    normalize_text,
    number_to_words,
    spectrogram_to_wave,
)

from neural_golden import assert_matches, golden, golden_state_dict, spec

torch.set_num_threads(1)

NAMES = ("dctts_text2mel", "dctts_ssrn")
WHERE = "speakers.geralt.voice.model_dir"
TINY = HParams(e=8, d=8, c=8, n_mels=4, n_fft=14)  # same code, small shapes: fast error-path checks


def _ids(text: str) -> torch.Tensor:
    return torch.tensor([encode_text(text)], dtype=torch.long)


def _save_original(path, state) -> None:
    """The file format of pytorch-dc-tts ``save_checkpoint`` that deepstory's voice.py reads."""
    torch.save({"epoch": 0, "global_step": 0, "state_dict": state, "optimizer": {}}, path)


@pytest.fixture(scope="module")
def golden_weights() -> dict[str, dict[str, torch.Tensor]]:
    return {name: golden_state_dict(name) for name in NAMES}


@pytest.fixture(scope="module")
def voice(golden_weights, tmp_path_factory):
    """The golden weights written as published per-speaker files, then loaded with ``load_voice``."""
    folder = tmp_path_factory.mktemp("dctts_voice")
    _save_original(folder / "t2m_golden.pth", golden_weights["dctts_text2mel"])
    _save_original(folder / "ssrn.pth", golden_weights["dctts_ssrn"])
    loaded = load_voice(folder, WHERE)
    for path in folder.iterdir():
        path.unlink()  # ~550 MB; the modules hold their own copies now
    return loaded


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_spec(name):
    model = build_text2mel() if name == "dctts_text2mel" else build_ssrn()
    data = spec(name)
    ours = model.state_dict()
    assert list(ours) == list(data["state_dict"])  # names and order
    for key, entry in data["state_dict"].items():
        assert list(ours[key].shape) == entry["shape"], key
        assert ours[key].dtype == torch.float32, key
    assert not list(model.buffers())
    assert sum(p.numel() for p in model.parameters()) == data["counts"]["num_parameters"]
    # Every leaf layer has the same configuration (kernel, stride, padding, dilation, eps, ...).
    leaves = {n: m for n, m in model.named_modules() if not list(m.children()) and m.extra_repr()}
    assert set(leaves) == set(data["leaf_modules"])
    for leaf, text in data["leaf_modules"].items():
        assert leaves[leaf].extra_repr() == re.match(r"^\w+\((.*)\)$", text).group(1), leaf


def test_hyperparameters_match_spec():
    hp, data = HParams(), spec("dctts_text2mel")["hyperparameters"]
    for field in (
        "vocab",
        "e",
        "d",
        "c",
        "n_mels",
        "n_fft",
        "sr",
        "hop_length",
        "win_length",
        "reduction_rate",
        "max_T",
        "max_db",
        "ref_db",
        "power",
        "preemphasis",
        "dropout_rate",
    ):
        assert getattr(hp, field) == data[field], field
    assert spec("dctts_ssrn")["derived"]["f_prime"] == hp.n_bins


def test_weight_norm_matches_torch_legacy():
    torch.manual_seed(0)
    for transposed in (False, True):
        conv = WeightNormConv1d(6, 5, 3, transposed=transposed)
        assert list(conv.state_dict()) == ["bias", "weight_g", "weight_v"]
        assert conv.weight_g.shape == (conv.weight_v.shape[0], 1, 1)
        with torch.no_grad():
            conv.weight_g.mul_(torch.rand_like(conv.weight_g) + 0.5)
        torch.testing.assert_close(conv.weight(), torch._weight_norm(conv.weight_v, conv.weight_g, 0))


# --------------------------------------------------------------------------- weights and loading


def test_golden_weights_fingerprint(golden_weights):
    fp = golden("weights_fingerprint")
    for name in NAMES:
        state = golden_weights[name]
        assert list(state) == list(fp[f"{name}.keys"])
        sums = np.array(
            [
                [
                    t.double().sum().item(),
                    t.double().abs().sum().item(),
                    t.reshape(-1)[0].item(),
                    t.reshape(-1)[-1].item(),
                ]
                for t in state.values()
            ]
        )
        np.testing.assert_allclose(sums, fp[f"{name}.fingerprint"], rtol=1e-9, atol=1e-12)
        digests = [hashlib.sha256(t.numpy().astype("<f4").tobytes()).hexdigest()[:16] for t in state.values()]
        assert digests == list(fp[f"{name}.sha256"])


def test_load_voice_reads_original_files_strictly(voice, golden_weights):
    for module, name in ((voice.text2mel, "dctts_text2mel"), (voice.ssrn, "dctts_ssrn")):
        assert not module.training
        loaded = module.state_dict()
        assert list(loaded) == list(golden_weights[name])
        for key, value in golden_weights[name].items():
            assert torch.equal(loaded[key], value), key


def test_load_voice_errors(tmp_path):
    where = "speakers.yen.voice.model_dir"
    with pytest.raises(CheckpointError, match=re.escape(f"{where}: DC-TTS voice folder not found")):
        load_voice(tmp_path / "missing", where, hp=TINY)
    with pytest.raises(CheckpointError, match=re.escape(where) + r".*t2m\*\.pth"):
        load_voice(tmp_path, where, hp=TINY)

    t2m, ssrn = build_text2mel(TINY), build_ssrn(TINY)
    _save_original(tmp_path / "t2m_350k.pth", t2m.state_dict())
    with pytest.raises(CheckpointError) as err:  # ssrn.pth missing
        load_voice(tmp_path, where, hp=TINY)
    assert str(err.value).startswith(where) and str(tmp_path / "ssrn.pth") in str(err.value)

    bad = dict(ssrn.state_dict())
    bad["layers.3.deconv.weight_g"] = torch.ones(8, 8, 1)
    _save_original(tmp_path / "ssrn.pth", bad)
    with pytest.raises(CheckpointError) as err:
        load_voice(tmp_path, where, hp=TINY)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(where) and "ssrn.pth" in msg
    assert "layers.3.deconv.weight_g expected shape [8, 1, 1], found [8, 8, 1]" in msg

    _save_original(tmp_path / "ssrn.pth", ssrn.state_dict())
    voice = load_voice(tmp_path, where, hp=TINY)  # everything right: loads
    assert torch.equal(voice.ssrn.layers[3].deconv.weight_v, ssrn.layers[3].deconv.weight_v)

    # The published full-size shapes do not fit a model of other width (e.g. upstream d=256 files).
    _save_original(tmp_path / "t2m_350k.pth", {"text_enc.embedding.embedding.weight": torch.zeros(34, 128)})
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            "t2m_350k.pth: parameter text_enc.embedding.embedding.weight expected shape [34, 8], found [34, 128]"
        ),
    ):
        load_voice(tmp_path, where, hp=TINY)

    torch.save({"epoch": 0, "model": {}}, tmp_path / "t2m_350k.pth")
    with pytest.raises(CheckpointError, match="has no 'state_dict' entry"):
        load_voice(tmp_path, where, hp=TINY)

    _save_original(tmp_path / "t2m_other.pth", t2m.state_dict())
    with pytest.raises(CheckpointError, match=re.escape(where) + ".*ambiguous.*t2m_350k.pth, t2m_other.pth"):
        load_voice(tmp_path, where, hp=TINY)


# --------------------------------------------------------------------------- golden outputs


def test_text2mel_golden_outputs(voice):
    data = golden("dctts_text2mel")
    L, S = torch.from_numpy(data["input.L"]), torch.from_numpy(data["input.S"])
    t2m = voice.text2mel
    with torch.no_grad():
        K, V = t2m.text_enc(L)
        Q = t2m.audio_enc(S)
        outputs = {"K": K, "V": V, "Q": Q}
        outputs.update(zip(("Y_logit", "Y", "A"), t2m(L, S, monotonic_attention=False)))
        outputs.update(zip(("mono.Y_logit", "mono.Y", "mono.A"), t2m(L, S, monotonic_attention=True)))
    for name, value in outputs.items():
        assert_matches(value, data, name)
    # Causality: the first 10 output frames ignore the input frames after them.
    with torch.no_grad():
        short = t2m(L, S[:, :, :10], monotonic_attention=True)[0]
    torch.testing.assert_close(short, outputs["mono.Y_logit"][:, :, :10], rtol=0, atol=1e-5)


def test_ssrn_golden_outputs(voice):
    data = golden("dctts_ssrn")
    with torch.no_grad():
        Z_logit, Z = voice.ssrn(torch.from_numpy(data["input.M"]))
    assert_matches(Z_logit, data, "Z_logit")
    assert_matches(Z, data, "Z")


# --------------------------------------------------------------------------- text and synthesis


def test_normalize_text():
    assert normalize_text("Hello, World!") == "hello, world!"
    assert normalize_text("Café — naïve; résumé: 12 “quotes”…") == "cafe, naive, resume, twelve quotes."
    assert (
        normalize_text("Mr. Smith paid $3.50 & 20% (tax)")
        == "mister smith paid three point five zero dollars and twenty percent tax"
    )
    assert normalize_text("It's 1,999 ‘ok’?") == "it's one thousand nine hundred ninety nine 'ok'?"
    assert number_to_words(2_000_017) == "two million seventeen"
    assert encode_text("Hi.") == [10, 11, 30, 1]  # 'h' 'i' '.' 'E'
    assert encode_text(" ... ") == [] and encode_text("") == []


def test_incremental_generation_equals_reference(voice):
    for text, limit in (("Yes!", 40), ("Griffin and Lim.", 8)):
        L = _ids(text)
        fast = generate_mel(voice.text2mel, L, limit)
        slow = generate_mel(voice.text2mel, L, limit, incremental=False)
        assert fast.shape == slow.shape
        torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)
    # "Yes!" stops early on its own: attention reached 'E' before the limit.
    assert generate_mel(voice.text2mel, _ids("Yes!"), 40).shape[2] < 41


def test_synthesis_is_deterministic_and_bounded(voice):
    hp, limit = voice.hp, 16
    wave = voice.synthesize("The witcher walked into town, tired.", max_frames=limit, n_iter=8)
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
    frames = voice.mel("The witcher walked into town, tired.", limit).shape[2]
    assert 2 <= frames <= limit + 1
    assert len(wave) == hp.hop_length * (hp.reduction_rate * frames - 1) <= hp.hop_length * (4 * (limit + 1) - 1)
    assert 0 < np.abs(wave).max() < 10
    again = voice.synthesize("The witcher walked into town, tired.", max_frames=limit, n_iter=8)
    assert np.array_equal(wave, again)
    assert voice.synthesize("...", max_frames=limit).shape == (0,)


def test_griffin_lim_recovers_a_magnitude():
    hp = HParams()
    t = torch.arange(hp.sr // 2, dtype=torch.float32) / hp.sr
    signal = 0.5 * torch.sin(2 * math.pi * 220 * t) + 0.3 * torch.sin(2 * math.pi * 1330 * t * (1 + t))
    window = torch.hann_window(hp.win_length)
    args = dict(n_fft=hp.n_fft, hop_length=hp.hop_length, win_length=hp.win_length, window=window, return_complex=True)
    target = torch.stft(signal, **args).abs()

    def convergence(n_iter: int) -> float:
        rebuilt = griffin_lim(target, hp.n_fft, hp.hop_length, hp.win_length, n_iter=n_iter)
        assert rebuilt.shape == (hp.hop_length * (target.shape[1] - 1),)
        return float((torch.stft(rebuilt, **args).abs() - target).norm() / target.norm())

    zero_phase, iterated = convergence(0), convergence(32)
    assert iterated < 0.25 and iterated < 0.3 * zero_phase  # measured: 0.207 vs 0.997
    # Z = 0 is -max_db + ref_db = -120 dB: near silence, still the right length.
    wave = spectrogram_to_wave(torch.full((hp.n_bins, 12), 0.0), hp, n_iter=2)
    assert wave.dtype == np.float32 and len(wave) == hp.hop_length * 11 and np.isfinite(wave).all()
