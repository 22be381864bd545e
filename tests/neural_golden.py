"""The golden-output recipe of tests/data/checkpoint_specs/golden/README.md: seeded weights, comparisons."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from deepstory.neural.sda import NETWORK_KEYS

SPECS = Path(__file__).resolve().parent / "data" / "checkpoint_specs"
GOLDEN = SPECS / "golden"


def spec(name: str) -> dict:
    return json.loads((SPECS / f"{name}.json").read_text())


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def golden_state_dict(name: str, keep: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Seeded weights for every entry of ``<name>.json``'s state dict, in spec order (BASE = 0)."""
    state = {}
    for i, (key, entry) in enumerate(spec(name)["state_dict"].items()):
        shape, leaf, module_type = entry["shape"], key.split(".")[-1], entry["module_type"]
        if entry["dtype"] == "int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        if keep and key in keep:
            state[key] = keep[key].clone()
            continue
        z = torch.randn(shape, generator=torch.Generator().manual_seed(i), dtype=torch.float32)
        if "BatchNorm" in module_type or "LayerNorm" in module_type:
            a, b = {"weight": (1.0, 0.1), "bias": (0.0, 0.1), "running_mean": (0.0, 0.1), "running_var": (1.0, 0.1)}[
                leaf
            ]
        elif leaf == "weight_g":
            a, b = 1.0, 0.1
        elif len(shape) >= 2:
            a, b = 0.0, 1.2 / math.sqrt(math.prod(shape[1:]))
        else:
            a, b = 0.0, 0.1
        value = a + b * z
        if key == "jacobian.bias" and module_type == "Conv2d":
            value = value + torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(shape[0] // 4)
        state[key] = value
    return state


def assert_matches(ours, data: dict[str, np.ndarray], name: str, factor: float = 2e-4, pool: int | None = None) -> None:
    """``max|ours - golden| <= factor * std`` on the full array, or its pooled version, plus mean/std/at_idx."""
    ours = ours.detach().cpu().numpy() if torch.is_tensor(ours) else np.asarray(ours)
    std = float(data[f"{name}.std"])
    assert list(ours.shape) == list(data[f"{name}.shape"]), (name, ours.shape, data[f"{name}.shape"])
    flat = ours.reshape(-1)
    np.testing.assert_array_less(np.abs(flat[data[f"{name}.idx"]] - data[f"{name}.at_idx"]), factor * std + 1e-30)
    assert abs(float(ours.astype(np.float64).mean()) - float(data[f"{name}.mean"])) <= factor * std
    assert abs(float(ours.astype(np.float64).std()) - std) <= 2e-4 * std
    if name in data:
        assert np.abs(ours - data[name]).max() <= factor * std, (name, np.abs(ours - data[name]).max() / std)
    if pool is not None and f"{name}.pool{pool}" in data:
        *lead, h, w = ours.shape
        pooled = ours.reshape(*lead, h // pool, pool, w // pool, pool).mean(axis=(-1, -3))
        assert np.abs(pooled - data[f"{name}.pool{pool}"]).max() <= factor * std


SDA_SCALARS = {
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


def mean_face() -> np.ndarray:
    """68 landmarks (x, y) in a 96x128 frame: eyes at y 52, nose tip at 72, lips around (48, 92)."""
    face = np.stack([np.linspace(10, 86, 68), np.linspace(20, 120, 68)], axis=1)
    face[36:42] = [[24, 52], [28, 50], [33, 50], [38, 52], [33, 54], [28, 54]]
    face[42:48] = [[58, 52], [63, 50], [68, 50], [72, 52], [68, 54], [63, 54]]
    face[33] = [48, 72]
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    face[48:68] = np.stack([48 + 14 * np.cos(angles), 92 + 5 * np.sin(angles)], axis=1)
    return face


def write_deepstory_data(root: Path, speakers: list[str]) -> Path:
    """The original data folder layout with seeded random weights in the original file formats (~1 GB):
    ``dctts/<speaker>/t2m*.pth`` + ``ssrn.pth``, ``sda/grid.dat``, ``fom/vox-cpk.pth.tar`` (+ ``vox-256.yaml``)."""
    first = root / "dctts" / speakers[0]
    first.mkdir(parents=True)
    for name, file in (("dctts_text2mel", "t2m_eileen.pth"), ("dctts_ssrn", "ssrn.pth")):  # pytorch-dc-tts format
        torch.save({"epoch": 0, "global_step": 0, "state_dict": golden_state_dict(name), "optimizer": {}}, first / file)
    for speaker in speakers[1:]:  # the same weights in the other speakers' folders
        folder = root / "dctts" / speaker
        folder.mkdir()
        for file in first.iterdir():
            try:
                os.link(file, folder / file.name)
            except OSError:
                shutil.copy(file, folder / file.name)
    (root / "sda").mkdir()
    nets: dict[str, dict[str, torch.Tensor]] = {k: {} for k in NETWORK_KEYS}
    for key, value in golden_state_dict("sda_grid").items():
        net, name = key.split("/", 1)
        nets[net][name] = value
    # grid.dat predates torch 1.6: the legacy (non-zip) format, a plain dict with a numpy mean_face.
    torch.save(
        {**nets, **SDA_SCALARS, "mean_face": mean_face()},
        root / "sda" / "grid.dat",
        _use_new_zipfile_serialization=False,
    )
    (root / "fom").mkdir()
    kernel = torch.from_numpy(golden("fomm_kp_detector")["buffer.down.weight"])
    torch.save(
        {
            "generator": golden_state_dict("fomm_generator", keep={"dense_motion_network.down.weight": kernel}),
            "kp_detector": golden_state_dict("fomm_kp_detector", keep={"down.weight": kernel}),
            "discriminator": {},
            "optimizer_generator": {},
            "optimizer_kp_detector": {},
            "optimizer_discriminator": {},
            "epoch": 0,
        },
        root / "fom" / "vox-cpk.pth.tar",
    )
    (root / "fom" / "vox-256.yaml").write_text("model_params: {}\n")
    return root
