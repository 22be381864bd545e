"""Place a face by hand: where the renderer finds (or is told) a portrait's face, drawn on a pixel grid.

    python -m deepstory.face IMAGE                                   # writes ./<stem>-face.png
    python -m deepstory.face IMAGE --out preview.png --speaker Chelsea
    python -m deepstory.face IMAGE --face '{mouth: [256, 270], mouth_width: 60}'

The face is found by the renderer's own finder (``deepstory.portrait``); values given with ``--face``
win over found ones exactly as ``speakers.<Name>.face`` does in a render.  The preview is the image
with a grid labelled in the image's own pixels, the face box, the eyes, the mouth centre and the lip
line, and where a face mesh was used (a human photo, ``deepstory.portrait.mesh``) its lip and jaw contours.
The ``face:`` block printed on stdout (integer pixels, each value marked found or configured, a comment
saying whether a face mesh placed the mouth and eyes) pastes under ``speakers.<Name>``.

Exit 0: a face.  Exit 1: no face found: the preview has the grid only and the block is a template of
guesses to edit.  Exit 2: a bad path, not an image, a bad ``--face`` or ``--out``: one line, nothing
written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from deepstory.errors import DeepstoryError, EnvironmentFailure, FaceNotFound, UserError

KEYS = ("box", "eyes", "eye_width", "mouth", "mouth_width")  # what a face needs, in the order printed
OPTIONAL = ("eye_height", "teeth", "mesh")  # printed when given with --face
COLOURS = {
    "box": (255, 214, 0),  # yellow
    "eyes": (0, 224, 255),  # cyan
    "mouth": (255, 40, 200),  # magenta
    "mouth_width": (60, 255, 60),  # green: the lip line
}
MESH_COLOURS = {"lips": (255, 120, 0), "jaw": (170, 120, 255)}  # the face mesh's contours: orange, violet
DISPLAY = 1024  # the preview's longer side (small images are enlarged, large ones reduced)
STEPS = (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)  # grid spacings, image pixels
FONT_SIZE = 14


@dataclass(frozen=True)
class Examined:
    """An image and its face, in pixels of the file as it is."""

    path: Path
    image: Image.Image  # as loaded (a huge image is reduced: ``size`` is the file's)
    size: tuple[int, int]
    values: dict[str, Any]  # what is printed, in the order printed
    status: dict[str, str]  # per value: "found", "configured" or "guess"
    found: bool  # a face: found, or every value configured
    speaker: str
    mesh: tuple[tuple[float, float], ...] | None = None  # the face mesh that placed the mouth and eyes, if any


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def parse_face(text: str | None) -> dict[str, Any]:
    """``--face``: a YAML or JSON mapping of configured values (``{face: {...}}``, as printed, is fine too)."""
    if text is None:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem, mark = getattr(exc, "problem", None) or "cannot parse", getattr(exc, "problem_mark", None)
        at = f" at character {mark.index + 1}" if mark is not None else ""
        raise UserError(f"--face: not YAML or JSON ({_one_line(problem)}{at}): {_one_line(text)!r}") from None
    if isinstance(value, dict) and list(value) == ["face"]:
        value = value["face"]
    if not isinstance(value, dict):
        raise UserError(
            f"--face: {_one_line(text)!r} is not a mapping such as '{{mouth: [256, 270], mouth_width: 60}}'"
        )
    unknown = [str(k) for k in value if k not in KEYS + OPTIONAL]
    if unknown:
        raise UserError(f"--face: unknown key {unknown[0]!r}; the keys are {', '.join(KEYS + OPTIONAL)}")
    return {str(k): v for k, v in value.items() if v is not None}


def output_path(image: Path, out: Path | None) -> Path:
    """Where the preview goes: ``out``, or ``<image stem>-face.png`` in the current directory."""
    target = out if out is not None else Path.cwd() / f"{image.stem}-face.png"
    if target.is_dir():
        raise UserError(f"--out: {target} is a folder; give a file name such as {target / 'preview.png'}")
    if not target.parent.is_dir():
        raise UserError(f"--out: no such folder: {target.parent}")
    if image.exists() and target.resolve() == image.resolve():
        raise UserError(f"--out: {target} is the image itself; choose another file")
    return target


def _guess(size: tuple[int, int]):
    """A face in the middle of the image, with the finder's proportions for a human face."""
    from deepstory.portrait.detect import Detection, landmarks

    w, h = size
    side = max(2, min(w, h) // 2)
    return landmarks(Detection("human", ((w - side) // 2, (h - side) // 2, side, side), (), None), w, h)


def _face(path: Path, overrides: dict[str, Any], speaker: str, image: Image.Image, scale: float, size):
    """(face in file pixels, found): configured values over found ones, as in a render; guesses if none found."""
    from deepstory.portrait import Face, speaker_face

    spec = {"image": str(path), "face": overrides}
    try:
        try:
            return speaker_face(spec, f"speakers.{speaker}", image, scale).transformed(1 / scale, 0, 0), True
        except FaceNotFound:
            guess = _guess(size)
            auto = {k: getattr(guess, k) for k in KEYS}
            return Face.from_config({**auto, **overrides}, f"speakers.{speaker}.face"), False
    except ValueError as exc:
        raise UserError(f"--face: {_one_line(exc).removeprefix(f'speakers.{speaker}.face: ')}") from None


def examine(path: Path, overrides: dict[str, Any], speaker: str = "<Name>") -> Examined:
    """The image at ``path`` and its face: found by the renderer's finder, ``overrides`` winning."""
    from deepstory.portrait import load_image

    image, scale = load_image(path)
    size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
    face, found = _face(path, overrides, speaker, image, scale, size)
    values: dict[str, Any] = {k: getattr(face, k) for k in KEYS}
    values.update({k: overrides[k] if k == "mesh" else getattr(face, k) for k in OPTIONAL if k in overrides})
    status = {k: "configured" if k in overrides else "found" if found else "guess" for k in values}
    return Examined(path, image, size, values, status, found, speaker, face.mesh)


# --- the printed block -------------------------------------------------------------------------------------


def _pixels(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(max(1, round(value)) if key.endswith(("width", "height")) else round(value))
    return "[" + ", ".join(_pixels(v, key) for v in value) + "]"


def face_block(result: Examined, preview: Path) -> str:
    """The ``face:`` block to paste under ``speakers.<Name>``: integer pixels, each value's source in a comment."""
    name, (w, h) = _printable(result.path.name), result.size
    where = f"speakers.{_printable(result.speaker)}"
    if result.found:
        head = [
            f"# {name} ({w}x{h} px): found = by the renderer's face finder, configured = from --face",
            f"# paste under {where}:",
        ]
    else:
        head = [
            f"# no face found in {name} ({w}x{h} px): the values below are guesses (a face in the middle)",
            f"# edit them with the pixel grid of {_printable(str(preview))}, then paste under {where}:",
        ]
    head.insert(1, f"# face mesh: {mesh_note(result)}")
    entries = [(f"  {key}: {_pixels(value, key)}", result.status[key]) for key, value in result.values.items()]
    width = max(len(text) for text, _ in entries)
    return "\n".join([*head, "face:", *(f"{text.ljust(width)}  # {why}" for text, why in entries)]) + "\n"


def mesh_note(result: Examined) -> str:
    """Whether a face mesh placed the mouth and eyes, and if not why (as far as the tool can tell)."""
    if result.mesh is not None:
        return "used (MediaPipe's 468 landmarks): the found mouth and eyes are the mesh's"
    if result.values.get("mesh") is False:
        return "off (mesh: false)"
    if all(result.status.get(k) == "configured" for k in KEYS):
        return "not used (every value configured)"
    return "none (not a human face, or the model saw no face in the box)"


# --- the preview -------------------------------------------------------------------------------------------


def display_scale(size: tuple[int, int]) -> float:
    """Preview pixels per image pixel: the longer side ``DISPLAY`` px, the shorter at least 256 where it can be."""
    w, h = size
    scale = DISPLAY / max(w, h)
    if min(w, h) * scale < 256:
        scale = min(256 / min(w, h), 4 * DISPLAY / max(w, h))
    return scale


def grid_step(size: tuple[int, int], scale: float) -> int:
    """Grid spacing in image pixels: at most 16 lines along the longer side, at least 60 preview px apart."""
    for step in STEPS:
        if max(size) / step <= 16 and step * scale >= 60:
            return step
    return STEPS[-1]


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _grid(im: Image.Image, size: tuple[int, int], scale: float, step: int) -> Image.Image:
    """Grid lines every ``step`` image px (a light line on a dark one: seen on any picture), edge ticks at a fifth."""
    overlay = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pw, ph = im.size
    minor = step // 5 if step % 5 == 0 and step // 5 * scale >= 6 else step
    for v in range(minor, max(size), minor):
        at = round(v * scale)
        major = v % step == 0
        if v < size[0]:
            for span in ((0, 7), (ph - 7, ph)) if not major else ((0, ph),):
                draw.line([(at, span[0]), (at, span[1] - 1)], fill=(0, 0, 0, 100), width=3)
                draw.line([(at, span[0]), (at, span[1] - 1)], fill=(255, 255, 255, 170), width=1)
        if v < size[1]:
            for span in ((0, 7), (pw - 7, pw)) if not major else ((0, pw),):
                draw.line([(span[0], at), (span[1] - 1, at)], fill=(0, 0, 0, 100), width=3)
                draw.line([(span[0], at), (span[1] - 1, at)], fill=(255, 255, 255, 170), width=1)
    return Image.alpha_composite(im.convert("RGBA"), overlay).convert("RGB")


def _labels(draw: ImageDraw.ImageDraw, size: tuple[int, int], scale: float, step: int, font: Any) -> int:
    """Coordinates along the top (x) and the left edge (y), in image pixels; returns the labels' height."""
    pw, ph = round(size[0] * scale), round(size[1] * scale)
    style = {"font": font, "fill": (255, 255, 255), "stroke_width": 2, "stroke_fill": (0, 0, 0)}
    tall = 0
    for v in range(step, size[0], step):
        box = draw.textbbox((0, 0), str(v), font=font, stroke_width=2)
        tall = max(tall, int(box[3] + 0.999))
        x = min(max(2, round(v * scale) - box[2] // 2), pw - box[2] - 2)
        draw.text((x, 2), str(v), **style)
    for v in range(step, size[1], step):
        box = draw.textbbox((0, 0), str(v), font=font, stroke_width=2)
        y = min(max(2, round(v * scale) - box[3] // 2), ph - box[3] - 2)
        draw.text((3, y), str(v), **style)
    return tall + 4


def _marks(draw: ImageDraw.ImageDraw, values: dict[str, Any], shown: set[str], scale: float) -> None:
    """The face box, eye circles (eye_width across), the lip line (mouth_width across) and centre dots."""
    s = scale

    def dot(p, colour) -> None:
        x, y, r = p[0] * s, p[1] * s, 4
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(0, 0, 0))

    if "box" in shown:
        x0, y0, x1, y1 = (v * s for v in values["box"])
        draw.rectangle([x0, y0, x1, y1], outline=COLOURS["box"], width=2)
    if "eyes" in shown and "eye_width" in shown:
        r = values["eye_width"] * s / 2
        for x, y in values["eyes"]:
            draw.ellipse([x * s - r, y * s - r, x * s + r, y * s + r], outline=COLOURS["eyes"], width=2)
    if "mouth_width" in shown:
        (mx, my), half = values["mouth"], values["mouth_width"] / 2
        draw.line([((mx - half) * s, my * s), ((mx + half) * s, my * s)], fill=COLOURS["mouth_width"], width=3)
        for end in (mx - half, mx + half):
            draw.line([(end * s, my * s - 6), (end * s, my * s + 6)], fill=COLOURS["mouth_width"], width=3)
    for eye in values["eyes"] if "eyes" in shown else ():
        dot(eye, COLOURS["eyes"])
    if "mouth" in shown:
        dot(values["mouth"], COLOURS["mouth"])


def _mesh_lines(draw: ImageDraw.ImageDraw, mesh: tuple[tuple[float, float], ...], scale: float) -> None:
    """The face mesh's outer and inner lip contours and its jaw line."""
    from deepstory.portrait import mesh as groups

    contours = [
        ("lips", groups.LIPS_OUTER_UPPER),
        ("lips", groups.LIPS_OUTER_LOWER),
        ("lips", groups.LIPS_INNER_UPPER),
        ("lips", groups.LIPS_INNER_LOWER),
        ("jaw", groups.JAW),
    ]
    for kind, indices in contours:
        draw.line([(mesh[i][0] * scale, mesh[i][1] * scale) for i in indices], fill=MESH_COLOURS[kind], width=2)


def _legend_rows(values: dict[str, Any], shown: set[str], found: bool, step: int) -> list[tuple[Any, str]]:
    p = lambda v: _pixels(v, "")  # noqa: E731
    rows: list[tuple[Any, str]] = [(None, f"grid: every {step} px of the image" + ("" if found else "; no face found"))]
    texts = {
        "box": f"face box {p(values['box'][:2])} to {p(values['box'][2:])}",
        "eyes": f"eyes {p(values['eyes'][0])}, {p(values['eyes'][1])}" if len(values["eyes"]) == 2 else "eyes",
        "mouth": f"mouth centre {p(values['mouth'])}",
        "mouth_width": f"lip line, mouth_width {_pixels(values['mouth_width'], 'width')}",
    }
    if "eyes" in shown and "eye_width" in shown:
        texts["eyes"] += f" (circles: eye_width {_pixels(values['eye_width'], 'width')})"
    return rows + [(COLOURS[key], texts[key]) for key in COLOURS if key in shown]


def _legend(draw, rows: list[tuple[Any, str]], font: Any, size: tuple[int, int], inset: int, face) -> None:
    """A small key in the corner farthest from ``face`` (a point of the preview; None: bottom right), clear of
    the edge labels."""
    line = FONT_SIZE + 6
    width = 32 + max(draw.textbbox((0, 0), text, font=font)[2] for _, text in rows)
    height = 8 + line * len(rows)
    pw, ph = size
    corners = [(inset, inset), (pw - width - 4, inset), (inset, ph - height - 4), (pw - width - 4, ph - height - 4)]
    centre = face if face is not None else (0, 0)
    x, y = max(corners, key=lambda c: (c[0] + width / 2 - centre[0]) ** 2 + (c[1] + height / 2 - centre[1]) ** 2)
    draw.rectangle([x, y, x + width, y + height], fill=(24, 24, 24), outline=(200, 200, 200))
    for n, (colour, text) in enumerate(rows):
        top = y + 4 + n * line
        if colour is not None:
            draw.rectangle([x + 6, top + 3, x + 18, top + 15], fill=colour, outline=(0, 0, 0))
        draw.text((x + 26 if colour is not None else x + 6, top), text, font=font, fill=(255, 255, 255))


def preview(result: Examined) -> tuple[Image.Image, int]:
    """The preview image and its grid step: the image on a labelled pixel grid with the face drawn on it."""
    scale = display_scale(result.size)
    size = (max(1, round(result.size[0] * scale)), max(1, round(result.size[1] * scale)))
    scale = size[0] / result.size[0]  # exactly, after rounding
    resample = Image.Resampling.NEAREST if scale >= 4 else Image.Resampling.LANCZOS
    step = grid_step(result.size, scale)
    im = _grid(result.image.resize(size, resample), result.size, scale, step)
    draw = ImageDraw.Draw(im)
    font = _font(FONT_SIZE)
    shown = set(result.values) if result.found else {k for k, why in result.status.items() if why == "configured"}
    if result.mesh is not None:
        _mesh_lines(draw, result.mesh, scale)
    _marks(draw, result.values, shown, scale)
    inset = _labels(draw, result.size, scale, step, font)
    x0, y0, x1, y1 = result.values["box"]
    face = ((x0 + x1) / 2 * scale, (y0 + y1) / 2 * scale) if shown else None
    rows = _legend_rows(result.values, shown, result.found, step)
    if result.mesh is not None:
        rows += [
            (MESH_COLOURS["lips"], "face mesh: lips, outer and inner"),
            (MESH_COLOURS["jaw"], "face mesh: jaw line"),
        ]
    _legend(draw, rows, font, size, inset, face)
    return im, step


def write_png(image: Image.Image, out: Path) -> None:
    from deepstory.files import atomic_path

    try:
        with atomic_path(out) as tmp:
            image.save(tmp, format="PNG")
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write the preview {out}: {exc.strerror or exc}") from None


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.markup import escape

    parser = argparse.ArgumentParser(prog="python -m deepstory.face", description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path, help="the portrait (any image the renderer reads)")
    parser.add_argument("--out", type=Path, help="the preview PNG (default: ./<image stem>-face.png)")
    parser.add_argument("--face", metavar="MAPPING", help="configured landmarks, YAML or JSON: '{mouth: [256, 270]}'")
    parser.add_argument("--speaker", default="<Name>", help="the speaker's name, for the printed block")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        overrides = parse_face(args.face)
        out = output_path(args.image, args.out)
        result = examine(args.image, overrides, args.speaker)
        image, step = preview(result)
        write_png(image, out)
    except DeepstoryError as exc:
        console.print(f"[bold red]error:[/] {escape(_one_line(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    sys.stdout.write(face_block(result, out))
    shown = f"{image.width / result.size[0]:.0%} of the image's size"
    if result.found:
        console.print(f"preview: {escape(str(out))} ({shown}, grid every {step} px)", highlight=False, soft_wrap=True)
        return 0
    console.print(
        f"[bold yellow]no face found[/] in {escape(_printable(args.image.name))}: edit the guessed values above "
        f"with the pixel grid of the preview {escape(str(out))} (grid every {step} px)",
        highlight=False,
        soft_wrap=True,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
