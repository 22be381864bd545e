"""Mouth sprites for drawn characters: ``speakers.<Name>.mouths`` maps each mouth shape to a PNG with alpha.

The 2D animation convention (Preston Blair's set, as Rhubarb Lip Sync, Papagayo
and Moho use it): one drawing per mouth shape, ``A``-``H`` and ``X`` (rest),
see :mod:`deepstory.motion.visemes`.  Every shape needs a drawing.  Each
sprite is drawn on a canvas that is centred on the mouth and twice the mouth's
width wide; the animator scales it to the portrait's ``face.mouth_width`` and
places it at ``face.mouth``, so the face settings position and size it.
Files are checked when the cast is loaded, before any synthesis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from deepstory.errors import ImageError
from deepstory.track import SHAPE_NAMES

ALPHA_MODES = ("RGBA", "LA", "PA")


def load_mouths(spec: Mapping[str, Any] | None, where: str) -> dict[str, np.ndarray] | None:
    """``{shape: uint8 RGBA [h, w, 4]}`` from a ``mouths`` config entry, or ``None`` when it is unset."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ImageError(f"{where}: maps each mouth shape ({', '.join(SHAPE_NAMES)}) to a PNG file, got {spec!r}")
    unknown = sorted(str(k) for k in spec if str(k) not in SHAPE_NAMES)
    if unknown:
        raise ImageError(f"{where}.{unknown[0]}: not a mouth shape (the shapes are {', '.join(SHAPE_NAMES)})")
    missing = [name for name in SHAPE_NAMES if spec.get(name) is None]
    if missing:
        raise ImageError(f"{where}: no sprite for mouth shape(s) {', '.join(missing)} (every shape needs one)")
    return {name: _sprite(Path(str(spec[name])), f"{where}.{name}") for name in SHAPE_NAMES}


def _sprite(path: Path, where: str) -> np.ndarray:
    if not path.is_file():
        raise ImageError(f"{where}: {'no such file' if not path.exists() else 'not a file'}: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode not in ALPHA_MODES and not (mode == "P" and "transparency" in im.info):
                raise ImageError(f"{where}: {path} has no transparency (mode {mode}); a mouth sprite needs alpha")
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except (UnidentifiedImageError, SyntaxError):
        raise ImageError(f"{where}: not an image that can be read: {path}") from None
    except OSError as exc:
        raise ImageError(f"{where}: cannot read {path}: {exc}") from None
    if rgba[..., 3].max() == 0:
        raise ImageError(f"{where}: {path} is fully transparent")
    return np.ascontiguousarray(rgba)
