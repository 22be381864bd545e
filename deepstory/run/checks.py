"""Cheap checks of the composed config, before anything is read or written."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from deepstory.cache import DEFAULT_VERIFY, VERIFY_MODES
from deepstory.errors import DeepstoryError, UserError

# Top-level keys a run understands; anything else is a typo (Hydra already rejects unknown
# nested keys; `+key=value` can add top-level ones, which are refused here).
KNOWN_KEYS = {
    "story",
    "speakers",
    "models",
    "device",
    "layout",
    "executor",
    "sample_rate",
    "fps",
    "cut_size",
    "seed",
    "cache_dir",
    "cache",
    "max_words",
    "overlap",
    "debug",
    "video",
    "stages",
    "report",
}

# Extra words for values the user must set (``???`` in the config).
MISSING_HINTS = {
    "models.data_dir": " (the Deepstory data folder with dctts/<Speaker>/, sda/grid.dat and fom/vox-cpk.pth.tar)"
}


def _whole(cfg: DictConfig, key: str, lo: int, hi: int) -> int:
    value = OmegaConf.select(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserError(f"{key}={value!r}: must be a whole number from {lo} to {hi}")
    return value


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
    """Unknown or missing keys, unresolvable values, and the media constants' ranges."""
    unknown = sorted(set(map(str, cfg.keys())) - KNOWN_KEYS)
    if unknown:
        raise UserError(f"unknown config key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    missing = missing_keys(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        hint = MISSING_HINTS.get(missing[0], "")
        raise UserError(f"{missing[0]}: missing value, set it on the command line: {missing[0]}=...{hint}")
    _resolve_all(cfg)
    _whole(cfg, "cut_size", 1, 2**40)
    _whole(cfg, "sample_rate", 8000, 192000)
    _whole(cfg, "fps", 1, 120)
    _whole(cfg, "max_words", 3, 1000)
    for key in ("video.width", "video.height"):  # null: the layout picks (deepstory.run.render.frame_size)
        if OmegaConf.select(cfg, key) is not None and _whole(cfg, key, 16, 8192) % 2:
            raise UserError(f"{key}={OmegaConf.select(cfg, key)}: must be even (H.264 yuv420p)")
    _whole(cfg, "video.segment_frames", 1, 100000)
    reference = OmegaConf.select(cfg, "report.reference_seconds", default=None)
    if reference is not None and (
        isinstance(reference, bool) or not isinstance(reference, (int, float)) or reference <= 0
    ):
        raise UserError(f"report.reference_seconds={reference!r}: must be a number of seconds above 0, or null")
    if not isinstance(OmegaConf.select(cfg, "overlap", default=False), bool):
        raise UserError(f"overlap={OmegaConf.select(cfg, 'overlap')!r}: must be true or false")
    verify = OmegaConf.select(cfg, "cache.verify", default=DEFAULT_VERIFY)
    if verify not in VERIFY_MODES:
        raise UserError(f"cache.verify={verify!r}: must be one of {', '.join(VERIFY_MODES)}")
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
