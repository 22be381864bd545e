"""Portrait images and the face landmarks the animator needs, fitted to the output size."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepstory.errors import ImageError


@dataclass(frozen=True)
class Face:
    """Landmarks in pixel coordinates of the image they belong to."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    mouth: tuple[float, float]
    mouth_width: float
    eyes: tuple[tuple[float, float], ...]
    eye_width: float
    teeth: bool = True  # the portrait shows its teeth between the lips (they move with the jaw; hidden by a press)
    eye_height: float | None = None  # the open eye's height (None: half its width, a human eye)
    # A human photo's dense landmarks (deepstory.portrait.mesh: MediaPipe's 468 points, x and y), where found.
    mesh: tuple[tuple[float, float], ...] | None = None

    @property
    def lid_height(self) -> float:
        """How far an eyelid comes down to close the eye."""
        return self.eye_height if self.eye_height is not None else 0.5 * self.eye_width

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], where: str) -> "Face":
        try:
            # Tuples of any length here; the lengths are checked below.
            box: Any = tuple(float(v) for v in cfg["box"])
            mouth: Any = tuple(float(v) for v in cfg["mouth"])
            eyes: Any = tuple(tuple(float(v) for v in eye) for eye in cfg["eyes"])
            face = cls(
                box=box,
                mouth=mouth,
                mouth_width=float(cfg["mouth_width"]),
                eyes=eyes,
                eye_width=float(cfg["eye_width"]),
                teeth=bool(cfg.get("teeth", True)),
                eye_height=None if cfg.get("eye_height") is None else float(cfg["eye_height"]),
                mesh=_points(cfg.get("mesh")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: face landmarks need box, mouth, mouth_width, eyes, eye_width ({exc})") from exc
        if len(box) != 4 or len(mouth) != 2 or any(len(e) != 2 for e in eyes):
            raise ValueError(f"{where}: box is [x0,y0,x1,y1], mouth [x,y], eyes [[x,y],...]")
        if (
            face.mouth_width <= 0
            or face.eye_width <= 0
            or (face.eye_height is not None and face.eye_height <= 0)
            or box[2] <= box[0]
            or box[3] <= box[1]
        ):
            raise ValueError(f"{where}: face sizes must be positive")
        return face

    def transformed(self, scale: float, offset_x: float, offset_y: float) -> "Face":
        def pt(p):
            return (p[0] * scale - offset_x, p[1] * scale - offset_y)

        x0, y0 = pt(self.box[:2])
        x1, y1 = pt(self.box[2:])
        return replace(
            self,
            box=(x0, y0, x1, y1),
            mouth=pt(self.mouth),
            mouth_width=self.mouth_width * scale,
            eyes=tuple(pt(e) for e in self.eyes),
            eye_width=self.eye_width * scale,
            eye_height=None if self.eye_height is None else self.eye_height * scale,
            mesh=None if self.mesh is None else tuple(pt(p) for p in self.mesh),
        )


def _points(value: Any) -> tuple[tuple[float, float], ...] | None:
    """A face file's mesh: points [x, y]; anything else (none, or the ``face.mesh: true|false`` switch) is none."""
    if value is None or isinstance(value, bool):
        return None
    if any(len(p) != 2 for p in value):  # checked first: a short point must not fail as an IndexError
        raise ValueError("mesh points are [x, y]")
    return tuple((float(p[0]), float(p[1])) for p in value)


@dataclass(frozen=True)
class Portrait:
    image: np.ndarray  # uint8 [H, W, 3], already at the output size
    face: Face
    mouths: Mapping[str, np.ndarray] | None = None  # mouth sprites per shape (A-H, X): uint8 RGBA, as drawn


MAX_SIDE = 4096  # larger images are reduced on load (landmarks and crops are scaled to match)


def load_image(path: Path | str, background: Sequence[int] = (255, 255, 255)) -> tuple[Image.Image, float]:
    """Open an image as 8-bit RGB: EXIF orientation honoured, transparency composited on ``background``,
    16-bit and float images scaled to 8 bits, images larger than ``MAX_SIDE`` reduced.

    Returns the image and the scale applied (1.0 unless it was reduced).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}" if not path.exists() else f"not a file: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"empty file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                true_side = max(im.size)
                im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size directly
                im = ImageOps.exif_transpose(im)
                im.load()
                if max(im.size) > 2 * MAX_SIDE:
                    im = im.reduce(max(im.size) // MAX_SIDE)  # cheap integer reduction first
                if max(im.size) > MAX_SIDE:
                    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                scale = max(im.size) / float(true_side)
                return _to_rgb(im, background), scale
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large to open safely: {path} ({exc})") from exc
    except (UnidentifiedImageError, SyntaxError) as exc:
        raise ImageError(f"not an image that can be read: {path}") from exc
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc}") from exc


def _to_rgb(im: Image.Image, background: Sequence[int]) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(im)
        if values.dtype.kind == "f":
            values = np.clip(values * (255.0 if values.max() <= 1.0 else 1.0), 0, 255)
        elif values.max() > 255:
            values = values >> 8  # 16-bit to 8-bit
        im = Image.fromarray(values.astype(np.uint8), mode="L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        canvas = Image.new("RGBA", im.size, tuple(int(v) for v in background) + (255,))
        canvas.alpha_composite(im)
        im = canvas
    return im.convert("RGB")


def fit_portrait(
    path: Path | str | Image.Image,
    face: Face,
    width: int,
    height: int,
    crop: Sequence[float] | None = None,
    face_margin: float | None = None,
) -> Portrait:
    """Scale the image to cover ``width x height`` and crop around the face.

    ``crop`` ([x0, y0, x1, y1] in source pixels) first cuts the part of the
    image to show, e.g. to frame a face that is small in a large photo.
    ``face_margin``: when set, the face box plus this fraction of its size on
    every side must fit whole; where covering would cut it, the image is
    scaled down until it fits, and the rest of the tile is covered by a
    blurred, covering copy of the same image.
    """
    im = path if isinstance(path, Image.Image) else load_image(path)[0]
    if crop is not None:
        x0, y0, x1, y1 = (int(round(float(v))) for v in crop)
        if not (0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height):
            raise ValueError(f"crop {list(crop)} is not inside the {im.width}x{im.height} image")
        im = im.crop((x0, y0, x1, y1))
        face = face.transformed(1.0, x0, y0)
    iw, ih = im.size
    scale = max(width / iw, height / ih)
    if face_margin is not None:
        fw = (face.box[2] - face.box[0]) * (1 + 2 * face_margin)
        fh = (face.box[3] - face.box[1]) * (1 + 2 * face_margin)
        fits = min(width / max(fw, 1e-6), height / max(fh, 1e-6))
        if fits < scale:
            return _framed(im, face, width, height, fits)
    sw, sh = max(width, round(iw * scale)), max(height, round(ih * scale))
    cx = (face.box[0] + face.box[2]) / 2 * scale
    cy = (face.box[1] + face.box[3]) / 2 * scale
    ox = int(np.clip(round(cx - width / 2), 0, sw - width))
    oy = int(np.clip(round(cy - height / 2), 0, sh - height))
    resized = im.resize((sw, sh), Image.Resampling.LANCZOS) if (sw, sh) != (iw, ih) else im
    pixels = np.asarray(resized.crop((ox, oy, ox + width, oy + height)), dtype=np.uint8)
    return Portrait(image=np.ascontiguousarray(pixels), face=face.transformed(scale, ox, oy))


#: ``framing: face`` (:func:`face_crop`), named in the keys of fitted portraits: a change of the rule below
#: is a new name, so portraits framed by the old rule are not reused.
FRAMING = "face-1"
FRAMINGS = ("face", "image")
FACE_SHARE = 0.45  # the face box's share of the crop's height
EYE_LINE = 0.40  # the eyes' height in the crop, from its top
FRAMED_ENOUGH = 1 / 3  # a face this large in the frame with the whole image shown is left as it is
MAX_UPSCALE = 4.0  # a framed crop is never enlarged more than this (output pixels per source pixel)
SIDE_MARGIN = 0.15  # the least room around the face in a framed crop, a fraction of the face's size


def whole_image_share(face: Face, size: tuple[int, int], width: int, height: int, face_margin: float | None) -> float:
    """The face box's share of the frame's height when the whole image is fitted (``framing: image``)."""
    iw, ih = size
    fw, fh = face.box[2] - face.box[0], face.box[3] - face.box[1]
    scale = max(width / iw, height / ih)
    if face_margin is not None:
        scale = min(
            scale, width / max(fw * (1 + 2 * face_margin), 1e-6), height / max(fh * (1 + 2 * face_margin), 1e-6)
        )
    return fh * scale / height


def face_crop(
    face: Face, size: tuple[int, int], width: int, height: int, face_margin: float | None = None
) -> tuple[int, int, int, int] | None:
    """``framing: face``: the head-and-shoulders part of an image of ``size`` to show in ``width x height``.

    None (show the whole image, as ``framing: image``) where the face already fills
    ``FRAMED_ENOUGH`` of the frame's height that way, or where no crop inside the image
    frames it tighter.  Otherwise a crop of the frame's aspect ratio in which the face box
    is ``FACE_SHARE`` of the height, centred across, the eyes ``EYE_LINE`` down; made
    looser where it would be enlarged more than ``MAX_UPSCALE`` times or would leave less
    than the margin (``face_margin``, else ``SIDE_MARGIN``) around the face; moved to
    stay inside the image.
    """
    iw, ih = size
    x0, y0, x1, y1 = face.box
    fw, fh = x1 - x0, y1 - y0
    if whole_image_share(face, size, width, height, face_margin) >= FRAMED_ENOUGH:
        return None
    margin = SIDE_MARGIN if face_margin is None else face_margin
    ch = max(fh / FACE_SHARE, height / MAX_UPSCALE, fh * (1 + 2 * margin), fw * (1 + 2 * margin) * height / width)
    ch = float(np.ceil(ch)) + 1  # whole pixels, and the margin kept after rounding
    if ch >= min(ih, iw * height / width):
        return None  # the image is too small to frame tighter than it is
    cw = ch * width / height
    eye_y = float(np.mean([e[1] for e in face.eyes])) if face.eyes else y0 + 0.4 * fh
    left = float(np.clip((x0 + x1 - cw) / 2, 0, iw - cw))
    top = eye_y - EYE_LINE * ch
    top = min(max(top, y1 + margin * fh - ch), y0 - margin * fh)  # the face whole, eyes placed however they are
    top = float(np.clip(top, 0, ih - ch))
    return round(left), round(top), min(iw, round(left + cw)), min(ih, round(top + ch))


def _framed(im: Image.Image, face: Face, width: int, height: int, scale: float) -> Portrait:
    """The image at ``scale`` (smaller than covering), its face centred where it can be, over a blurred cover."""
    from PIL import ImageFilter

    iw, ih = im.size
    cover = max(width / iw, height / ih)
    back = im.resize((max(width, round(iw * cover)), max(height, round(ih * cover))), Image.Resampling.BILINEAR)
    back = back.crop((0, 0, width, height)).filter(ImageFilter.GaussianBlur(radius=max(2, width // 24)))
    sw, sh = max(1, round(iw * scale)), max(1, round(ih * scale))
    small = im.resize((sw, sh), Image.Resampling.LANCZOS)
    cx, cy = (face.box[0] + face.box[2]) / 2 * scale, (face.box[1] + face.box[3]) / 2 * scale
    # Centre the face; keep the picture over the tile where it is large enough to cover that side.
    ox = round(width / 2 - cx) if sw < width else int(np.clip(round(width / 2 - cx), width - sw, 0))
    oy = round(height / 2 - cy) if sh < height else int(np.clip(round(height / 2 - cy), height - sh, 0))
    back.paste(small, (ox, oy))
    pixels = np.asarray(back, dtype=np.uint8)
    return Portrait(image=np.ascontiguousarray(pixels), face=face.transformed(scale, -ox, -oy))
