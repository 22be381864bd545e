"""The golden-output recipe of tests/data/checkpoint_specs/golden/README.md: seeded weights, comparisons."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

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
            a, b = {"weight": (1.0, 0.1), "bias": (0.0, 0.1), "running_mean": (0.0, 0.1), "running_var": (1.0, 0.1)}[leaf]
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
