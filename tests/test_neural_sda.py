"""SDA GRID model: checkpoint layout, strict loading of grid.dat, golden outputs, windowed generation."""

from __future__ import annotations

import fractions
import hashlib

import numpy as np
import pytest
import torch

from deepstory.neural.checkpoint import CheckpointError, load_strict
from deepstory.neural.sda import GRID, NETWORK_KEYS, SdaModel, build_networks, load_sda

from neural_golden import assert_matches, golden, golden_state_dict, spec

torch.set_num_threads(1)

SPEC = spec("sda_grid")
WHERE = "models.motion.checkpoint"
SCALARS = {
    "img_size": (128, 96),
    "audio_rate": 50000,
    "video_rate": 25,
    "audio_feat_len": 0.2,
    "audio_feat_samples": 10000,
    "id_enc_dim": 128,
    "rnn_gen_dim": 256,
    "aud_enc_dim": 256,
    "aux_latent": 10,
    "sequential_noise": True,
}


def split(flat: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The flat ``net/key`` view -> one state dict per network (split at the first '/')."""
    out: dict[str, dict[str, torch.Tensor]] = {k: {} for k in NETWORK_KEYS}
    for key, value in flat.items():
        net, name = key.split("/", 1)
        out[net][name] = value
    return out


@pytest.fixture(scope="module")
def golden_flat() -> dict[str, torch.Tensor]:
    return golden_state_dict("sda_grid")


@pytest.fixture(scope="module")
def model(golden_flat) -> SdaModel:
    nets = build_networks()
    for key, state in split(golden_flat).items():
        load_strict(nets[key], state, "<golden>", WHERE)
    return SdaModel(GRID, nets)


@pytest.fixture(scope="module")
def inputs():
    data = golden("sda_grid")
    audio = torch.from_numpy(data["input.audio_i16"]).float() / 32767
    frame = (torch.from_numpy(data["input.image_u8"]).float() / 255 - 0.5) / 0.5
    return audio, frame, torch.from_numpy(data["input.aux"]), data


def test_layout_equals_spec():
    nets = build_networks()
    ours = {}
    for key, net in nets.items():
        params = {n for n, _ in net.named_parameters()}
        for name, tensor in net.state_dict().items():
            ours[f"{key}/{name}"] = (
                list(tensor.shape),
                str(tensor.dtype).replace("torch.", ""),
                "parameter" if name in params else "buffer",
            )
    want = {k: (e["shape"], e["dtype"], e["kind"]) for k, e in SPEC["state_dict"].items()}
    assert list(ours) == list(want)  # names and order
    assert ours == want  # shapes, dtypes, kinds
    for key, net in nets.items():
        assert sum(p.numel() for p in net.parameters()) == SPEC["networks"][key]["counts"]["num_parameters"]
    assert sum(p.numel() for n in nets.values() for p in n.parameters()) == SPEC["counts_total_parameters"]
    for key, net in nets.items():  # every leaf layer: kernels, strides, paddings, eps, bias
        leaves = {name: repr(mod) for name, mod in net.named_modules() if not list(mod.children())}
        assert leaves == SPEC["networks"][key]["leaf_modules"], key


def test_golden_weights_fingerprint(golden_flat):
    fp = golden("weights_fingerprint")
    assert list(fp["sda_grid.keys"]) == list(golden_flat)
    for i, (key, tensor) in enumerate(golden_flat.items()):
        arr = tensor.numpy()
        digest = hashlib.sha256(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).hexdigest()
        assert digest[:16] == fp["sda_grid.sha256"][i], key
        flat = arr.reshape(-1).astype(np.float64)
        got = [flat.sum(), np.abs(flat).sum(), flat[0], flat[-1]]
        np.testing.assert_allclose(got, fp["sda_grid.fingerprint"][i], rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("zipfile", [False, True], ids=["legacy", "zip"])
def test_grid_dat_original_format_loads_strictly(tmp_path, golden_flat, zipfile):
    """grid.dat predates torch 1.6, so its real format is the legacy (non-zip) one."""
    path = tmp_path / "grid.dat"
    ckpt = {**split(golden_flat), **SCALARS, "mean_face": np.linspace(0, 1, 136).reshape(68, 2)}
    torch.save(ckpt, path, _use_new_zipfile_serialization=zipfile)
    sda = load_sda(path)
    assert sda.settings == GRID
    np.testing.assert_array_equal(sda.mean_face, ckpt["mean_face"])
    for key, net in sda.networks.items():
        assert not net.training
        state = net.state_dict()
        assert list(state) == list(ckpt[key])
        for name, value in ckpt[key].items():
            assert torch.equal(state[name], value), (key, name)


def _small_ckpt(tmp_path, encoder_state, **overrides):
    """A file with the right settings whose encoder is checked first (others are empty dicts)."""
    path = tmp_path / "bad.dat"
    torch.save({"encoder": encoder_state, "encoder_id": {}, "generator": {}, **SCALARS, **overrides}, path)
    return path


def test_wrong_shape_is_one_line_error(tmp_path, golden_flat):
    enc = split(golden_flat)["encoder"]
    enc["rnn.weight_ih_l0"] = torch.zeros(768, 128)  # as if aud_enc_dim were 128
    path = _small_ckpt(tmp_path, enc)
    with pytest.raises(CheckpointError) as err:
        load_sda(path)
    msg = str(err.value)
    assert "\n" not in msg and WHERE in msg and "encoder" in msg and str(path) in msg
    assert "rnn.weight_ih_l0" in msg and "expected shape [768, 256]" in msg and "found [768, 128]" in msg


def test_numpy1_pickled_mean_face_is_read(tmp_path, golden_flat):
    """A file pickled under numpy 1.x names ``numpy.core.multiarray._reconstruct``; it must still be read."""
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy 1.x writes that name anyway
        from numpy.core import multiarray as ma
    original = ma._reconstruct.__module__
    path = tmp_path / "old.dat"
    try:
        ma._reconstruct.__module__ = "numpy.core.multiarray"
        torch.save(
            {
                "encoder": split(golden_flat)["encoder"],
                "encoder_id": {},
                "generator": {},
                **SCALARS,
                "mean_face": np.ones((68, 2)),
            },
            path,
            _use_new_zipfile_serialization=False,
        )
    finally:
        ma._reconstruct.__module__ = original
    assert b"numpy.core.multiarray" in path.read_bytes()
    with pytest.raises(CheckpointError, match=r"\[encoder_id\]: .*missing parameter cl.0.0.weight"):
        load_sda(path)  # read fine; fails only at the (deliberately empty) identity encoder


def test_settings_missing_wrong_and_unsafe_files(tmp_path, golden_flat):
    enc = split(golden_flat)["encoder"]
    with pytest.raises(CheckpointError, match=r"setting audio_rate expected 50000, found 16000"):
        load_sda(_small_ckpt(tmp_path, enc, audio_rate=16000))
    with pytest.raises(CheckpointError, match=r"setting img_size expected \(128, 96\), found \(96, 128\)"):
        load_sda(_small_ckpt(tmp_path, enc, img_size=(96, 128)))
    path = tmp_path / "nosettings.dat"
    torch.save({"encoder": enc, "encoder_id": {}, "generator": {}}, path)
    with pytest.raises(CheckpointError, match=r"missing setting img_size"):
        load_sda(path)
    torch.save({"encoder": enc}, path)
    with pytest.raises(CheckpointError, match=r"missing key 'encoder_id'"):
        load_sda(path)
    # arbitrary pickled objects are refused, never unpickled with weights_only=False
    torch.save({"encoder": enc, "encoder_id": {}, "generator": {}, **SCALARS, "x": fractions.Fraction(1, 2)}, path)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*fractions.Fraction") as err:
        load_sda(path)
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match=r"not found"):
        load_sda(tmp_path / "absent.dat")


@torch.no_grad()
def test_golden_encoders(model, inputs):
    audio, frame, _, data = inputs
    assert_matches(model.encoder.encoder(audio.view(-1, 1, 10000)), data, "encoder.window_codes")
    assert_matches(model.encoder(audio, [8]), data, "encoder.z")
    z_id, skips = model.encoder_id(frame, retain_intermediate=True)
    assert_matches(z_id, data, "encoder_id.z_id")
    assert len(skips) == 5
    for i, pool in enumerate([4, 2, None, None, None]):
        name = f"encoder_id.skip{i}"
        if pool is not None:
            assert f"{name}.pool{pool}" in data and name not in data
        assert_matches(skips[i], data, name, pool=pool)


@torch.no_grad()
def test_golden_generator(model, inputs):
    audio, frame, aux, data = inputs
    gen = golden("sda_grid_generator")
    assert_matches(torch.tanh(model.generator.rnn_noise(aux)[0]), gen, "generator.aux_after_rnn_tanh")
    z = model.encoder(audio, [8])
    z_id, skips = model.encoder_id(frame, retain_intermediate=True)
    c = z_id.unsqueeze(1).repeat(1, 8, 1)
    skip = [s.unsqueeze(1).repeat(1, 8, 1, 1, 1) for s in skips][::-1]  # deepest first
    video = model.generator(z, c, aux, skip)
    assert_matches(video, gen, "generator.video")
    # the same through generate(): windows [T,samples], a [3,H,W] frame, aux given, small windows of frames
    assert_matches(model.generate(audio.view(8, 10000), frame[0], aux=aux, max_frames=3), gen, "generator.video")


def test_windowed_generation_equals_one_pass(model):
    rng = np.random.default_rng(5)
    wave = (0.3 * rng.standard_normal(7 * GRID.stride + 700)).astype(np.float32)
    windows = model.audio_windows(wave, GRID.audio_rate)
    assert windows.shape == (7, GRID.audio_feat_samples)
    frame = torch.rand(3, 128, 96, generator=torch.Generator().manual_seed(3)) * 2 - 1
    before = torch.random.get_rng_state()
    one = model.generate(windows, frame, torch.Generator().manual_seed(11), max_frames=64)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is not used
    again = model.generate(windows, frame, torch.Generator().manual_seed(11), max_frames=64)
    assert torch.equal(one, again)
    assert one.shape == (7, 3, 128, 96) and one.abs().max() <= 1
    for step in (1, 3):
        part = model.generate(windows, frame, torch.Generator().manual_seed(11), max_frames=step)
        assert (part - one).abs().max() <= 1e-5, step
    other = model.generate(windows, frame, torch.Generator().manual_seed(12))
    assert (other - one).abs().max() > 1e-3  # the noise matters


def test_audio_windows_follow_video_animator(model):
    stride, half = GRID.stride, GRID.pad // 2
    wave = np.arange(1, 5 * stride + 1234, dtype=np.float32) / 1e5
    win = model.audio_windows(wave, GRID.audio_rate).numpy()
    assert win.shape == (5, 10000)  # len // stride frames
    padded = np.concatenate([np.zeros(half, np.float32), wave, np.zeros(GRID.pad - half, np.float32)])
    for i in range(5):
        np.testing.assert_array_equal(win[i], padded[i * stride : i * stride + 10000])
        # centred on video frame i: the window's middle sample is the middle of the frame's audio
        assert win[i][5000] == wave[i * stride + stride // 2]
    # n_frames: exactly one window per frame, zeros past the end
    more = model.audio_windows(wave, GRID.audio_rate, n_frames=9).numpy()
    assert more.shape == (9, 10000)
    np.testing.assert_array_equal(more[:5], win)
    assert not more[8].any()
    # int16 samples are scaled by 1/32767 (VideoAnimator); floats are taken as on that scale
    i16 = np.array([32767, -32767, 16384] * 3000, dtype=np.int16)
    np.testing.assert_allclose(
        model.audio_windows(i16, GRID.audio_rate)[0, half : half + 3].numpy(), [1.0, -1.0, 16384 / 32767], rtol=1e-7
    )
    # other rates are resampled to 50 kHz: 2 s at 16 kHz -> 50 frames
    assert model.audio_windows(np.zeros(32000, np.float32), 16000).shape == (50, 10000)
    with pytest.raises(ValueError):
        model.audio_windows(np.zeros((100, 2), np.float32), GRID.audio_rate)
