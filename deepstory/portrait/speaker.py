"""A speakers-config entry -> its images, and each image fitted to the size it is shown at with its face found.

``speakers.<Name>.image`` is one path or a list (a speaker's lines use them in
turn); ``face`` and ``crop`` may then be lists with one entry per image.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from PIL import Image

from deepstory.errors import ImageError
from deepstory.portrait.detect import locate
from deepstory.portrait.image import FRAMINGS, Face, Portrait, face_crop, fit_portrait, load_image
from deepstory.portrait.sprites import load_mouths


def speaker_images(spec: Mapping[str, Any]) -> list[str]:
    """The speaker's images: ``image`` is one path or a list of paths (chosen per line, in turn)."""
    images = spec["image"]
    return (
        [str(images)]
        if isinstance(images, (str, bytes)) or not hasattr(images, "__iter__")
        else [str(i) for i in images]
    )


def _per_image(value: Any, index: int) -> Any:
    """A config value given once for all images, or as a list with one entry per image."""
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and value
        and not isinstance(value[0], (int, float))
    ):
        return value[index] if index < len(value) else None
    return value


def speaker_image(
    spec: Mapping[str, Any], where: str, index: int = 0, background: Sequence[int] = (255, 255, 255)
) -> tuple[Image.Image, float]:
    """The speaker's ``index``-th image, loaded (see :func:`load_image`), and the scale applied on load;
    a problem is one line naming ``<where>.image``."""
    images = speaker_images(spec)
    suffix = f"[{index}]" if len(images) > 1 else ""
    try:
        return load_image(images[index], background)
    except ImageError as exc:
        raise ImageError(f"{where}.image{suffix}: {exc}") from None


def speaker_face(spec: Mapping[str, Any], where: str, image: Image.Image, scale: float, index: int = 0) -> Face:
    """The face of the speaker's ``index``-th image (loaded at ``scale``, see :func:`speaker_image`), in
    loaded-image pixels: configured values (pixels of the file as it is, scaled to match) over found ones."""
    images = speaker_images(spec)
    suffix = f"[{index}]" if len(images) > 1 else ""
    overrides = _per_image(spec.get("face"), index)
    if overrides and scale != 1.0:
        overrides = {k: v if k in ("teeth", "mesh", "rest") else _scaled(v, scale) for k, v in dict(overrides).items()}
    return locate(image, overrides, f"{where}.face{suffix}", images[index])


def speaker_portrait(
    spec: Mapping[str, Any],
    where: str,
    width: int,
    height: int,
    index: int = 0,
    background: Sequence[int] = (255, 255, 255),
    face: Face | None = None,
    face_margin: float | None = None,
    framing: str = "face",
) -> tuple[Face, Portrait]:
    """A speakers-config entry -> (face in loaded-image pixels, portrait fitted to ``width x height``).

    ``index`` picks one of several images; ``face`` and ``crop`` may then be
    lists with one entry per image.  Configured pixels refer to the file as it
    is; a huge image reduced on load has them scaled to match.  A ``face``
    found earlier for this image (the first value returned) skips detection.
    ``face_margin``: keep the face box plus this margin whole (see :func:`fit_portrait`).
    ``framing``: ``face`` shows the head and shoulders of an image whose face would be small
    (:func:`deepstory.portrait.image.face_crop`), ``image`` the whole image; a configured ``crop`` wins.
    """
    if framing not in FRAMINGS:
        raise ValueError(f"framing={framing!r}: must be one of {', '.join(FRAMINGS)}")
    images = speaker_images(spec)
    suffix = f"[{index}]" if len(images) > 1 else ""
    image, scale = speaker_image(spec, where, index, background)
    if face is None:
        face = speaker_face(spec, where, image, scale, index)
    crop = _per_image(spec.get("crop"), index)
    if crop is not None and scale != 1.0:
        crop = _scaled(crop, scale)
    elif crop is None and framing == "face":
        crop = face_crop(face, image.size, width, height, face_margin)
    try:
        fitted = fit_portrait(image, face, width, height, crop, face_margin)
    except ValueError as exc:
        raise ImageError(f"{where}.crop{suffix}: {exc}") from None
    return face, replace(fitted, mouths=load_mouths(spec.get("mouths"), f"{where}.mouths"))


def _scaled(value: Any, scale: float) -> Any:
    if isinstance(value, (int, float)):
        return value * scale
    return [_scaled(v, scale) for v in value]
