"""Loading published checkpoints strictly, with one-line errors that say what is wrong."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn


class CheckpointError(ValueError):
    """A missing or mismatched checkpoint; the message names the file, the config key and the parameter."""


def read_checkpoint(path: Path | str, where: str) -> Any:
    """``torch.load`` a checkpoint on the CPU (weights only), or a one-line error naming ``where``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{where}: checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt files
        raise CheckpointError(f"{where}: cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path | str, where: str,
                optional: tuple[str, ...] = ("num_batches_tracked",)) -> nn.Module:
    """``module.load_state_dict(state, strict=True)`` with a precise one-line error.

    Entries whose last name part is in ``optional`` may be missing (old
    checkpoints lack BatchNorm's ``num_batches_tracked``); they keep the
    module's own values.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where}: {path} does not hold a state dict (found {type(state).__name__})")
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            if name.rsplit(".", 1)[-1] in optional:
                continue
            raise CheckpointError(f"{where}: {path}: missing parameter {name} (expected shape {list(tensor.shape)})")
        found = state[name]
        if not torch.is_tensor(found) or tuple(found.shape) != tuple(tensor.shape):
            shape = list(found.shape) if torch.is_tensor(found) else type(found).__name__
            raise CheckpointError(f"{where}: {path}: parameter {name} expected shape {list(tensor.shape)}, found {shape}")
    for name in state:
        if name not in expected:
            raise CheckpointError(f"{where}: {path}: unexpected parameter {name} (shape {list(state[name].shape)})")
    full = dict(state)
    for name, tensor in expected.items():
        full.setdefault(name, tensor)
    module.load_state_dict(full, strict=True)
    return module
