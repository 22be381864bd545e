"""Cheap checks of the composed config, before anything is read or written.

Keys, types and ranges are the schemas' (``deepstory.schema``, ``deepstory/<room>/config.py``).
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from deepstory.errors import DeepstoryError, UserError
from deepstory.schema import check_schemas

# Extra words for values the user must set (``???`` in the config).
MISSING_HINTS = {
    "models.data_dir": " (the Deepstory data folder with dctts/<Speaker>/, sda/grid.dat and fom/vox-cpk.pth.tar)"
}


def missing_keys(node: object, prefix: str = "") -> list[str]:
    """Dotted keys whose value is ``???`` (mandatory, not set), in config order; interpolations are not resolved."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in missing_keys(value, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in missing_keys(value, f"{prefix}{i}.")]
    return [prefix[:-1]] if node == "???" else []


def _resolve_all(cfg: DictConfig) -> None:
    """Resolve every interpolation once (the device among them); a failure names its key in one line."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, DeepstoryError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, DeepstoryError):  # raised by a resolver, e.g. device=cuda without a GPU
            raise type(cause)(str(cause)) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{exc.full_key}: " if getattr(exc, "full_key", None) else ""
        hint = (
            " (use models=deepstory models.data_dir=/path, or add +models.data_dir=/path)"
            if "'models.data_dir'" in first
            else ""
        )
        raise UserError(f"config: {where}{first}{hint}") from None


def validate_config(cfg: DictConfig) -> None:
    """Keys and ranges against the schemas, missing keys, unresolvable values, the cast and the stages."""
    check_schemas(cfg)
    missing = missing_keys(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        hint = MISSING_HINTS.get(missing[0], "")
        raise UserError(f"{missing[0]}: missing value, set it on the command line: {missing[0]}=...{hint}")
    _resolve_all(cfg)
    if not cfg.speakers:
        raise UserError("speakers: no speakers configured")
    for name, spec in cfg.speakers.items():
        if not isinstance(spec, DictConfig) or not spec.get("image"):
            raise UserError(f"speakers.{name}.image: missing (every speaker needs a portrait)")
    if not cfg.get("stages"):
        raise UserError("stages: no stages configured")
    for name, node in cfg.stages.items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise UserError(f"stages.{name}: needs a _target_ (the stage's class)")
