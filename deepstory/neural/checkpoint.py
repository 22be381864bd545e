"""Loading published checkpoints strictly, with one-line errors that say what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import torch
from torch import nn

from deepstory.errors import CheckpointError

__all__ = ["CheckpointError", "checkpoint_fingerprint", "files_fingerprint", "load_strict", "read_checkpoint"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def read_checkpoint(path: Path | str, where: str) -> Any:
    """``torch.load`` a checkpoint on the CPU (weights only), or a one-line error naming ``where``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{where}: checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt files
        raise CheckpointError(f"{where}: cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def load_strict(
    module: ModuleT,
    state: Mapping[str, torch.Tensor],
    path: Path | str,
    where: str,
    optional: tuple[str, ...] = ("num_batches_tracked",),
) -> ModuleT:
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
            raise CheckpointError(
                f"{where}: {path}: parameter {name} expected shape {list(tensor.shape)}, found {shape}"
            )
    for name in state:
        if name not in expected:
            raise CheckpointError(f"{where}: {path}: unexpected parameter {name} (shape {list(state[name].shape)})")
    full = dict(state)
    for name, tensor in expected.items():
        full.setdefault(name, tensor)
    module.load_state_dict(full, strict=True)
    return module


def files_fingerprint(paths: Iterable[Path], root: Path | None = None) -> str:
    """SHA-256 of the (path, size, modification time) of ``paths``: cheap, changes when a file is replaced.

    Not a hash of the contents: a file rewritten with the same size and
    time would not be noticed, and a copied data folder (new times) makes new
    cache entries once.
    """
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        st = path.stat()
        name = path.relative_to(root).as_posix() if root is not None else str(path)
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def checkpoint_fingerprint(files: Mapping[str, Path]) -> str:
    """:func:`files_fingerprint` of checkpoint files keyed by their config key; missing -> CheckpointError."""
    for where, path in files.items():
        if not Path(path).is_file():
            raise CheckpointError(f"{where}: checkpoint not found: {path}")
    return files_fingerprint(files.values())
