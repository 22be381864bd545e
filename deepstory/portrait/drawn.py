"""A drawn portrait for a character who has no image: a friendly cartoon face, the same every time for a name.

:func:`draw_character` writes a 512 x 512 portrait and its nine mouth sprites
(Preston Blair's shapes ``A``-``H`` and ``X``, see :mod:`deepstory.motion.visemes`
and :mod:`deepstory.portrait.sprites`) and returns the speaker entry that shows
them, in the format of ``conf/speakers/*.yaml``: the face's pixels are known
because they were drawn, so nothing has to be detected.

Every trait (face shape, skin tone, hair, eyes, clothes, background, glasses,
beard, freckles) comes from the SHA-256 of the name, so the same name draws the
same character on any machine and any Python; ``gender`` only nudges the hair
and the beard.  The style follows the bundled owl (``scripts/draw_narrator.py``):
PIL only, flat colours with one shade each, dark outlines, drawn at four times the
size and scaled down.  The face around and below the mouth is one flat skin
colour, so a sprite's skin patch hides the drawn smile seamlessly and the
animator can stretch the chin; the skin between each eye and its brow is plain
too, for the eyelids that slide down over the open eyes when they blink.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from deepstory.files import atomic_path
from deepstory.track import SHAPE_NAMES

SIZE = 512
SCALE = 4  # supersampling factor
CX, HEAD_Y = 256, 250  # the head's centre

Color = tuple[int, int, int]
Point = tuple[float, float]

#: Skin tones from very light to deep; a character's tone lies between two neighbours.
SKIN_TONES: tuple[Color, ...] = (
    (255, 226, 204), (247, 210, 180), (238, 194, 160), (226, 176, 136), (206, 152, 112),
    (184, 128, 90), (158, 106, 72), (132, 86, 58), (106, 68, 46), (84, 54, 38),
)  # fmt: skip
HAIR_COLOURS: tuple[tuple[Color, float], ...] = (  # colour, how often
    ((34, 28, 30), 3.0), ((64, 42, 32), 3.0), ((104, 68, 44), 2.5), ((140, 84, 50), 1.5), ((150, 62, 40), 1.0),
    ((198, 112, 58), 1.0), ((180, 142, 86), 1.2), ((226, 194, 124), 1.2), ((158, 156, 160), 0.8), ((228, 226, 222), 0.5),
)  # fmt: skip
EYE_COLOURS: tuple[Color, ...] = (
    (96, 60, 36),
    (64, 42, 30),
    (132, 100, 52),
    (78, 130, 84),
    (70, 122, 190),
    (112, 138, 152),
)
FRAME_COLOURS: tuple[Color, ...] = ((36, 30, 32), (120, 72, 40), (196, 160, 72), (60, 80, 140))
HAIR_STYLES = ("short", "sweep", "buzz", "bald", "spiky", "curly", "bob", "long", "bun", "ponytail")
STYLE_WEIGHTS = {  # how often each hair style is drawn for a gender (None: any)
    "female": (1, 1, 0.3, 0, 0.3, 2, 3, 4, 2, 2),
    "male": (4, 3, 2, 1.2, 1.5, 2, 0.3, 0.4, 0.2, 0.2),
    None: (2, 2, 1, 0.6, 0.8, 2, 1.5, 2, 1, 1),
}
INSIDE: Color = (40, 14, 18)  # the dark inside of an open mouth
TEETH: Color = (250, 248, 240)
TONGUE: Color = (204, 100, 104)


# -- the traits, from the name ----------------------------------------------------------------------------


class _Dice:
    """Numbers in [0, 1) from the SHA-256 of the name and a trait's name: stable across machines and versions."""

    def __init__(self, key: str) -> None:
        self.key = key

    def unit(self, trait: str) -> float:
        digest = hashlib.sha256(f"{self.key}\x00{trait}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def between(self, trait: str, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.unit(trait)

    def whole(self, trait: str, lo: int, hi: int) -> int:
        """An integer from ``lo`` to ``hi``, both included."""
        return lo + min(hi - lo, int(self.unit(trait) * (hi - lo + 1)))

    def chance(self, trait: str, p: float) -> bool:
        return self.unit(trait) < p

    def pick(self, trait: str, options: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
        weights = weights or [1.0] * len(options)
        target, total = self.unit(trait) * sum(weights), 0.0
        for option, weight in zip(options, weights):
            total += weight
            if target < total:
                return option
        return options[-1]


def _mix(a: Color, b: Color, t: float) -> Color:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


@dataclass(frozen=True)
class Look:
    """Everything that makes one drawn character: colours, sizes (final pixels) and styles."""

    skin: Color
    hair: Color
    hair_style: str
    eye_colour: Color
    clothes: Color
    background: Color
    collar: str
    glasses: str | None  # "round", "square" or none
    frame: Color
    beard: bool
    freckles: bool
    head_w: int  # half the head's width
    head_h: int  # half its height
    squareness: float  # the outline's superellipse exponent: 2 an ellipse, more a squarer jaw
    taper: float  # how much the jaw narrows to the chin
    eye_y: int
    eye_x: int  # each eye's distance from the middle
    eye_w: int
    eye_h: int
    mouth_y: int
    mouth_w: int  # even: a sprite is twice as wide and 1.5 times as tall
    nose: str
    brow: int  # the brows' thickness
    fringe: float  # how low the hair comes down the forehead, 0..1
    part: int  # -1 or 1: the side the hair is parted on
    initial: str

    @property
    def shade(self) -> Color:
        return _mix(self.skin, (70, 30, 40), 0.18)

    @property
    def outline(self) -> Color:
        return _mix(self.skin, (44, 24, 20), 0.72)

    @property
    def lip(self) -> Color:
        return _mix(self.shade, (176, 78, 88), 0.5)

    @property
    def mouth_line(self) -> Color:
        return _mix(self.lip, (64, 22, 28), 0.65)


def look(name: str, gender: str | None = None) -> Look:
    """The traits of the character called ``name`` (case and spacing ignored); ``gender`` ("female",
    "male" or anything else/none) changes only how likely each hair style and a beard are."""
    dice = _Dice(" ".join(name.split()).casefold())
    sex = (gender or "").strip().lower()
    sex_key = (
        "female" if sex in ("f", "female", "woman", "girl") else "male" if sex in ("m", "male", "man", "boy") else None
    )
    at = dice.between("skin", 0, len(SKIN_TONES) - 1)
    skin = _mix(SKIN_TONES[int(at)], SKIN_TONES[min(int(at) + 1, len(SKIN_TONES) - 1)], at - int(at))
    colours, often = zip(*HAIR_COLOURS)
    hair = dice.pick("hair", colours, often)
    clothes_hue = dice.unit("clothes")
    background_hue = clothes_hue + dice.between("background", 0.2, 0.8)  # never the clothes' own hue
    head_w, head_h = dice.whole("head w", 98, 120), dice.whole("head h", 122, 140)
    eye_w = dice.whole("eye w", 40, 50)
    eye_y = HEAD_Y + dice.whole("eye y", -4, 10)
    beard_odds = {"male": 0.35, "female": 0.0, None: 0.12}[sex_key]
    return Look(
        skin=skin,
        hair=hair,
        hair_style=dice.pick("hair style", HAIR_STYLES, STYLE_WEIGHTS[sex_key]),
        eye_colour=dice.pick("eyes", EYE_COLOURS),
        clothes=_hsv(clothes_hue, dice.between("clothes s", 0.4, 0.7), dice.between("clothes v", 0.5, 0.82)),
        background=_hsv(background_hue, dice.between("background s", 0.18, 0.38), dice.between("bg v", 0.82, 0.95)),
        collar=dice.pick("collar", ("crew", "vee", "shirt", "scarf")),
        glasses=dice.pick("glasses", ("round", "square", None), (1, 1, 5)),
        frame=dice.pick("frame", FRAME_COLOURS),
        beard=dice.chance("beard", beard_odds),
        freckles=dice.chance("freckles", 0.22),
        head_w=head_w,
        head_h=head_h,
        squareness=dice.between("squareness", 2.0, 2.8),
        taper=dice.between("taper", 0.0, 0.3),
        eye_y=eye_y,
        eye_x=round(head_w * dice.between("eye x", 0.42, 0.5)),
        eye_w=eye_w,
        eye_h=round(eye_w * dice.between("eye h", 0.72, 0.92)),
        mouth_y=HEAD_Y + round(head_h * dice.between("mouth y", 0.52, 0.6)),
        mouth_w=2 * dice.whole("mouth w", 29, 37),
        nose=dice.pick("nose", ("button", "hook", "line")),
        brow=dice.whole("brow", 4, 8),
        fringe=dice.unit("fringe"),
        part=dice.pick("part", (-1, 1)),
        initial=next((c.upper() for c in name if c.isascii() and c.isalnum()), ""),
    )


# -- drawing ----------------------------------------------------------------------------------------------


def _s(v: float) -> int:
    return int(round(v * SCALE))


def _box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
    return [_s(x0), _s(y0), _s(x1), _s(y1)]


def _pts(points: Sequence[Point], dx: float = 0.0, dy: float = 0.0) -> list[tuple[int, int]]:
    return [(_s(x + dx), _s(y + dy)) for x, y in points]


def _outline(lk: Look, grow: float = 0.0, t0: float = 0.0, t1: float = 2 * math.pi, n: int = 180) -> list[Point]:
    """Points of the head's outline (a superellipse narrowing to the chin), ``grow`` px larger, from angle
    ``t0`` to ``t1`` (0 at the right, pi/2 at the chin, 3pi/2 at the crown)."""
    e = 2.0 / lk.squareness
    points = []
    for i in range(n + 1):
        t = t0 + (t1 - t0) * i / n
        c, s = math.cos(t), math.sin(t)
        x = math.copysign(abs(c) ** e, c) * (lk.head_w + grow)
        y = math.copysign(abs(s) ** e, s) * (lk.head_h + grow)
        if y > 0:
            x *= 1 - lk.taper * (y / lk.head_h) ** 2
        points.append((CX + x, HEAD_Y + y))
    return points


def _angle_at(lk: Look, y: float) -> float:
    """How far below the head's middle (as an outline angle) the height ``y`` lies: negative above it."""
    rel = max(-0.99, min(0.99, (y - HEAD_Y) / lk.head_h))
    return math.copysign(math.asin(abs(rel) ** (lk.squareness / 2)), rel)


def _mask(draw: Any) -> Image.Image:
    """A supersampled mask drawn by ``draw(ImageDraw)``."""
    mask = Image.new("L", (SIZE * SCALE, SIZE * SCALE), 0)
    draw(ImageDraw.Draw(mask))
    return mask


def _fringe(lk: Look, u: float) -> float:
    """Where the hair meets the forehead at ``u`` (-1 left .. 1 right of the face), in final pixels."""
    brow_top = lk.eye_y - 1.1 * lk.eye_h - 10 - (10 if lk.glasses else 0)
    top = lk.eye_y - lk.head_h * 0.72  # a high hairline
    low = top + (brow_top - 8 - top) * (0.35 + 0.65 * lk.fringe)
    style = lk.hair_style
    if style == "sweep":
        return low - (low - top) * 0.8 * (1 - (u * lk.part + 1) / 2) ** 1.5
    if style in ("long", "bob", "ponytail"):  # parted in the middle, curtains to the sides
        return top + (low - top) * min(1.0, abs(u - 0.15 * lk.part) * 1.6)
    if style == "curly":
        return low - 9 * abs(math.sin(4.5 * math.pi * u))
    if style == "spiky":
        return low - 12 * abs(math.sin(3.5 * math.pi * u + 0.5)) - 4
    if style in ("buzz", "bun"):
        return top + (low - top) * 0.45 + 14 * u * u
    tufts = 7 * abs(math.sin(2.5 * math.pi * (u + 0.2 * lk.part))) ** 0.6  # short: a soft side sweep in tufts
    return low - 6 * math.cos(2.2 * u) - 8 * u * lk.part + tufts


def _hair_front(lk: Look) -> list[Point]:
    """The hair on the head: the outline over the crown between the temples, back along the fringe."""
    grow = {"curly": 12, "buzz": 3, "spiky": 8}.get(lk.hair_style, 7)
    side = lk.eye_y - (4 if lk.hair_style in ("long", "bob", "ponytail") else 18)
    a = _angle_at(lk, side)
    cap = _outline(lk, grow, math.pi - a, 2 * math.pi + a, 120)
    right, left = cap[-1], cap[0]
    fringe = []
    for i in range(1, 60):
        u = 1 - 2 * i / 60
        edge = min(1.0, max(0.0, (abs(u) - 0.72) / 0.28)) ** 2  # towards the temples: down to the side
        y = _fringe(lk, u) * (1 - edge) + side * edge
        fringe.append((CX + u * (right[0] - CX if u > 0 else CX - left[0]), y))
    return cap + fringe


def _back_hair(d: ImageDraw.ImageDraw, lk: Look, colour: Color, line: Color) -> None:
    """Hair behind the head: long hair, a bob, a bun, a ponytail or a cloud of curls."""
    w, h, style, o = lk.head_w, lk.head_h, lk.hair_style, _s(3)
    if style == "long":
        d.rounded_rectangle(_box(CX - w - 24, HEAD_Y - h * 0.7, CX + w + 24, 478), _s(70), colour, line, o)
    elif style == "bob":
        d.rounded_rectangle(_box(CX - w - 20, HEAD_Y - h * 0.6, CX + w + 20, lk.mouth_y + 26), _s(50), colour, line, o)
    elif style == "bun":
        r = 40
        d.ellipse(_box(CX - r, HEAD_Y - h - 2 * r + 22, CX + r, HEAD_Y - h + 22), colour, line, o)
    elif style == "ponytail":
        x = CX + lk.part * (w + 14)
        d.ellipse(_box(x - 30, HEAD_Y - h * 0.6, x + 30, HEAD_Y + h * 0.55), colour, line, o)
    elif style == "curly":
        for px, py in _outline(lk, 14, math.pi * 0.95, math.pi * 2.05, 16):
            d.ellipse(_box(px - 28, py - 28, px + 28, py + 28), colour, line, o)


def _body(img: Image.Image, lk: Look) -> None:
    """Shoulders in the character's clothes (shaded on the right, as the face is), the neck and the collar."""
    d = ImageDraw.Draw(img)
    dark = _mix(lk.clothes, (20, 20, 30), 0.35)
    shoulders = _box(CX - 214, 426, CX + 214, 780)
    d.ellipse(shoulders, lk.clothes)
    lit = _mask(lambda m: m.ellipse(_box(CX - 234, 420, CX + 194, 780), 255))
    shaded = ImageChops.subtract(_mask(lambda m: m.ellipse(shoulders, 255)), lit)
    img.paste(_mix(lk.clothes, (20, 20, 30), 0.14), (0, 0), shaded)
    d.ellipse(shoulders, None, dark, _s(3))
    neck = lk.head_w * 0.4
    d.rectangle(_box(CX - neck, HEAD_Y + lk.head_h * 0.45, CX + neck, 452), lk.shade)
    d.ellipse(_box(CX - neck, 436, CX + neck, 468), lk.shade)
    if lk.collar == "vee":
        d.polygon(_pts([(CX - neck - 8, 440), (CX + neck + 8, 440), (CX, 506)]), lk.shade)
        d.line(_pts([(CX - neck - 10, 438), (CX, 508), (CX + neck + 10, 438)]), dark, _s(4), joint="curve")
    elif lk.collar == "shirt":
        white = _mix(lk.clothes, (250, 250, 246), 0.85)
        for side in (-1, 1):
            d.polygon(_pts([(CX, 470), (CX + side * (neck + 22), 436), (CX + side * (neck + 30), 484)]), white, dark)
    elif lk.collar == "scarf":
        scarf = _hsv(colorsys.rgb_to_hsv(*[c / 255 for c in lk.clothes])[0] + 0.5, 0.5, 0.8)
        d.rounded_rectangle(
            _box(CX - neck - 22, 436, CX + neck + 22, 470), _s(16), scarf, _mix(scarf, dark, 0.5), _s(3)
        )
        d.rounded_rectangle(_box(CX + 10, 450, CX + 36, 512), _s(8), scarf, _mix(scarf, dark, 0.5), _s(3))
    else:
        d.arc(_box(CX - neck - 6, 428, CX + neck + 6, 474), 0, 180, dark, _s(5))
    if lk.initial:
        bx, by = CX - 118, 490
        d.ellipse(_box(bx - 22, by - 22, bx + 22, by + 22), _mix(lk.clothes, (255, 255, 250), 0.75), dark, _s(3))
        font = ImageFont.load_default(size=_s(28))
        d.text((_s(bx), _s(by + 1)), lk.initial, fill=dark, font=font, anchor="mm")


def _head(img: Image.Image, lk: Look) -> None:
    """Ears, the head in flat skin with its shaded side, and its outline."""
    d = ImageDraw.Draw(img)
    if lk.hair_style not in ("long", "bob"):
        for side in (-1, 1):
            x = CX + side * (lk.head_w - 2)
            d.ellipse(_box(x - 15, lk.eye_y - 10, x + 15, lk.eye_y + 38), lk.skin, lk.outline, _s(3))
            d.ellipse(_box(x - 7, lk.eye_y, x + 7, lk.eye_y + 26), lk.shade)
    head = _outline(lk)
    d.polygon(_pts(head), lk.skin)
    lit = _mask(lambda m: m.polygon(_pts(head, -12, -4), 255))
    shaded = ImageChops.subtract(_mask(lambda m: m.polygon(_pts(head), 255)), lit)
    img.paste(lk.shade, (0, 0), shaded)
    d.polygon(_pts(head), None, lk.outline, _s(3))


def _beard(img: Image.Image, lk: Look, colour: Color, line: Color) -> None:
    """A beard along the jaw, from the ears to below the chin, leaving the skin around the mouth bare."""
    clear = lk.mouth_y + 0.5 * lk.mouth_w  # the mouth's sprite patch and the stretched chin stay skin

    def top(x: float) -> float:
        u = min(1.0, abs(x - CX) / lk.head_w)
        return clear + (lk.eye_y + 30 - clear) * u**2.5

    outer = _outline(lk, 6, -0.05, math.pi + 0.05, 120)
    inner = [(x, top(x)) for x, _ in reversed(outer)]
    shape = [(x, max(y, top(x))) for x, y in outer] + inner
    d = ImageDraw.Draw(img)
    d.polygon(_pts(shape), colour, line, _s(3))


def _eyes(d: ImageDraw.ImageDraw, lk: Look, brow: Color) -> None:
    """Open eyes (white, iris, pupil, a highlight) and the brows well above them (the lids need the skin between)."""
    iris = 0.38 * min(lk.eye_w, lk.eye_h)
    for side in (-1, 1):
        x, y = CX + side * lk.eye_x, lk.eye_y
        d.ellipse(_box(x - lk.eye_w / 2, y - lk.eye_h / 2, x + lk.eye_w / 2, y + lk.eye_h / 2), (252, 252, 248))
        ix = x + side * -1.5
        d.ellipse(_box(ix - iris, y - iris + 2, ix + iris, y + iris + 2), lk.eye_colour)
        d.ellipse(_box(ix - iris * 0.5, y - iris * 0.5 + 2, ix + iris * 0.5, y + iris * 0.5 + 2), (24, 18, 20))
        d.ellipse(_box(ix - iris * 0.55, y - iris * 0.7, ix - iris * 0.05, y - iris * 0.2), (255, 255, 255))
        half_w, half_h = lk.eye_w / 2, lk.eye_h / 2
        d.ellipse(_box(x - half_w, y - half_h, x + half_w, y + half_h), None, lk.outline, _s(2.5))
        d.arc(_box(x - half_w, y - half_h, x + half_w, y + half_h), 200, 340, lk.outline, _s(4.5))  # the lash line
        by = y - 1.1 * lk.eye_h - 8 - (9 if lk.glasses else 0)
        bw = lk.eye_w * 0.62
        tilt = 4 * side * (1 if lk.part > 0 else -1) * (lk.fringe - 0.5)
        d.arc(_box(x - bw, by - 2, x + bw, by + 22 + tilt), 205, 335, brow, _s(lk.brow))


def _face(d: ImageDraw.ImageDraw, lk: Look) -> None:
    """Nose, cheeks, freckles and the resting smile, all clear of the mouth's sprite patch."""
    ny = lk.eye_y + 0.5 * (lk.mouth_y - 0.45 * lk.mouth_w - lk.eye_y) + 6  # the nose's tip
    if lk.nose == "button":
        d.ellipse(_box(CX - 10, ny - 9, CX + 10, ny + 5), lk.shade)
        d.arc(_box(CX - 10, ny - 9, CX + 10, ny + 5), 20, 160, lk.outline, _s(2.5))
    elif lk.nose == "hook":
        d.arc(_box(CX - 9, ny - 14, CX + 9, ny + 4), 10, 170, lk.outline, _s(3))
    else:
        d.line(_pts([(CX - 1, ny - 26), (CX - 8 * lk.part, ny), (CX + 5 * lk.part, ny + 3)]), lk.outline, _s(3))
    cheek_y = lk.eye_y + lk.eye_h / 2 + 20
    blush = _mix(lk.skin, (236, 116, 120), 0.28)
    for side in (-1, 1):
        x = CX + side * (lk.eye_x + 8)
        d.ellipse(_box(x - 16, cheek_y - 8, x + 16, cheek_y + 8), blush)
        if lk.freckles:
            spots = _mix(lk.skin, (120, 60, 40), 0.35)
            for i in range(6):
                fx = x + side * (i * 7 - 17) + (3 if i % 2 else -3)
                fy = cheek_y - 12 + (i % 3) * 7
                d.ellipse(_box(fx - 1.6, fy - 1.6, fx + 1.6, fy + 1.6), spots)
    _smile(d, CX, lk.mouth_y, lk.mouth_w / 80, lk.lip, lk.mouth_line, _s)


def _glasses(d: ImageDraw.ImageDraw, lk: Look) -> None:
    """Frames wider and taller than the blinking lids' reach, so a blink never drags them."""
    gw, gh = 0.78 * lk.eye_w + 3, 1.12 * lk.eye_h + 4
    o = _s(4)
    for side in (-1, 1):
        x = CX + side * lk.eye_x
        frame = _box(x - gw, lk.eye_y - gh, x + gw, lk.eye_y + gh * 0.8)
        if lk.glasses == "round":
            d.ellipse(frame, None, lk.frame, o)
        else:
            d.rounded_rectangle(frame, _s(12), None, lk.frame, o)
        outer = x + side * gw
        d.line(_pts([(outer, lk.eye_y - gh * 0.5), (CX + side * (lk.head_w - 2), lk.eye_y - 4)]), lk.frame, o)
    d.arc(_box(CX - lk.eye_x + gw - 2, lk.eye_y - 16, CX + lk.eye_x - gw + 2, lk.eye_y + 4), 200, 340, lk.frame, o)


def portrait(lk: Look) -> Image.Image:
    """The 512 x 512 portrait of a character."""
    img = Image.new("RGB", (SIZE * SCALE, SIZE * SCALE), lk.background)
    d = ImageDraw.Draw(img)
    d.ellipse(_box(CX - 230, 30, CX + 230, 490), _mix(lk.background, (255, 255, 250), 0.3))
    hair = _mix(lk.hair, lk.skin, 0.4) if lk.hair_style == "buzz" else lk.hair  # close-cropped: skin shows through
    hair_line = _mix(lk.hair, (20, 14, 12), 0.55)
    _back_hair(d, lk, lk.hair, hair_line)
    _body(img, lk)
    _head(img, lk)
    d = ImageDraw.Draw(img)
    if lk.beard:
        _beard(img, lk, lk.hair, hair_line)
    _face(d, lk)
    _eyes(d, lk, _mix(lk.hair, (20, 14, 12), 0.35) if sum(lk.hair) < 600 else _mix(lk.hair, lk.outline, 0.45))
    if lk.hair_style == "bald":
        for side in (-1, 1):  # a little hair over the ears
            x = CX + side * (lk.head_w - 6)
            d.chord(_box(x - 18, lk.eye_y - 44, x + 18, lk.eye_y + 8), 90 - side * 90, 270 - side * 90, hair, hair_line)
    else:
        front = _hair_front(lk)
        d.polygon(_pts(front, 0, 5), _mix(lk.shade, lk.hair, 0.25))  # the hair's shadow on the forehead
        d.polygon(_pts(front), hair, hair_line, _s(3))
        if lk.hair_style == "spiky":
            for px, py in _outline(lk, 6, math.pi * 1.15, math.pi * 1.85, 6):
                spike = [(px - 16, py + 8), (px + 16, py + 8), (px + (px - CX) / 10, py - 26)]
                d.polygon(_pts(spike), hair, hair_line)
    if lk.glasses:
        _glasses(d, lk)
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


# -- mouths -----------------------------------------------------------------------------------------------


def _smile(d: ImageDraw.ImageDraw, cx: float, cy: float, u: float, lip: Color, line: Color, s: Any) -> None:
    """The resting mouth, a gentle closed smile ``80 * u`` px wide centred at ``(cx, cy)``; ``s`` scales to the
    canvas.  The same drawing is the portrait's mouth and the ``X`` sprite."""
    d.chord([s(cx - 30 * u), s(cy - 16 * u), s(cx + 30 * u), s(cy + 12 * u)], 15, 165, lip)
    d.arc([s(cx - 38 * u), s(cy - 26 * u), s(cx + 38 * u), s(cy + 4 * u)], 16, 164, line, s(4.5 * u))


def _opening(d: ImageDraw.ImageDraw, box: Any, lk: Look, half_w: float, top: float, bottom: float, teeth: float = 0,
             tongue: float = 0) -> None:  # fmt: skip
    """An open mouth (sizes in 80-px mouth units about its centre): lips, the dark inside, upper teeth, a tongue."""
    d.ellipse(box(-half_w - 4, top - 5, half_w + 4, bottom + 6), lk.lip)
    d.ellipse(box(-half_w, top, half_w, bottom), INSIDE, lk.mouth_line, _s(2.5))
    if tongue:
        d.chord(box(-half_w * 0.7, bottom - tongue * 2, half_w * 0.7, bottom + tongue * 0.4), 180, 360, TONGUE)
    if teeth:
        d.chord(box(-half_w * 0.8, top + 1, half_w * 0.8, top + 1 + teeth * 2), 180, 360, TEETH)


def mouth(lk: Look, shape: str) -> Image.Image:
    """One mouth sprite (RGBA, twice the mouth's width wide, centred on it) over a soft patch of skin."""
    w, h = lk.mouth_w * 2, lk.mouth_w * 3 // 2
    u = lk.mouth_w / 80  # shapes are drawn in units of an 80-px mouth

    def box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
        return [_s(w / 2 + x0 * u), _s(h / 2 + y0 * u), _s(w / 2 + x1 * u), _s(h / 2 + y1 * u)]

    img = Image.new("RGBA", (w * SCALE, h * SCALE), lk.skin + (0,))
    d = ImageDraw.Draw(img)
    lip, line = lk.lip, lk.mouth_line
    if shape == "X":
        _smile(d, w / 2, h / 2, u, lip, line, _s)
    elif shape == "A":  # M B P: the rest line, the lips pressed thin against each other (no darker than at rest)
        d.chord(box(-32, -3, 32, 5), 8, 172, lip)
        d.arc(box(-37, -7, 37, 2), 10, 170, line, _s(6 * u))
    elif shape == "B":  # most consonants: the lips parted a little around the clenched teeth
        d.ellipse(box(-34, -12, 34, 15), lip)
        d.ellipse(box(-30, -9, 30, 12), INSIDE, line, _s(2.5))
        d.rectangle(box(-20, -4, 20, 0), TEETH)
        d.rectangle(box(-17, 0, 17, 3), _mix(TEETH, (150, 146, 140), 0.15))
    elif shape == "C":  # EH AE: open
        _opening(d, box, lk, 31, -12, 14, teeth=3, tongue=4)
    elif shape == "D":  # AA: wide open
        _opening(d, box, lk, 35, -17, 27, teeth=4, tongue=6)
    elif shape == "E":  # AO ER: rounded
        _opening(d, box, lk, 21, -14, 17, tongue=4)
    elif shape == "F":  # UW OW W: puckered
        d.ellipse(box(-17, -15, 17, 15), lip, line, _s(2.5))
        d.ellipse(box(-7, -6, 7, 6), INSIDE)
    elif shape == "G":  # F V: the lower lip under the upper teeth
        d.chord(box(-31, -4, 31, 16), 0, 180, lip)
        d.rectangle(box(-21, -6, 21, 3), TEETH, (196, 192, 184), _s(1))
        d.arc(box(-34, -14, 34, 4), 20, 160, line, _s(4 * u))
    elif shape == "H":  # L: open, the tongue up behind the teeth
        _opening(d, box, lk, 27, -13, 15, teeth=3)
        d.chord(box(-12, -8, 12, 10), 180, 360, TONGUE)
    else:
        raise ValueError(f"not a mouth shape: {shape!r}")
    drawn = img.resize((w, h), Image.Resampling.LANCZOS)
    patch = Image.new("L", (w, h), 0)
    ImageDraw.Draw(patch).ellipse([w / 2 - 56 * u, h / 2 - 27 * u, w / 2 + 56 * u, h / 2 + 28 * u], 255)
    out = Image.new("RGBA", (w, h), lk.skin + (0,))
    out.putalpha(patch.filter(ImageFilter.GaussianBlur(3 * u)))
    out.alpha_composite(drawn)
    return out


# -- the files --------------------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name for the character: its name in lower case with hyphens, plus a short hash of the name when
    that dropped anything (so two names never share files)."""
    key = " ".join(name.split()).casefold()
    slug = re.sub(r"[^a-z0-9]+", "-", key).strip("-")[:40] or "character"
    if slug != key.replace(" ", "-"):
        slug += "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return slug


def face_config(lk: Look) -> dict[str, Any]:
    """The drawn face's landmarks (portrait pixels), as ``speakers.<Name>.face`` takes them."""
    chin = max(y for _, y in _outline(lk))
    return {
        "box": [CX - lk.head_w, HEAD_Y - lk.head_h, CX + lk.head_w, round(chin)],
        "mouth": [CX, lk.mouth_y],
        "mouth_width": lk.mouth_w,
        "eyes": [[CX - lk.eye_x, lk.eye_y], [CX + lk.eye_x, lk.eye_y]],
        "eye_width": lk.eye_w,
        "eye_height": lk.eye_h,
        "teeth": False,  # the sprites draw their own
    }


def draw_character(name: str, gender: str | None, out_dir: Path) -> dict[str, Any]:
    """Draw the character ``name`` into ``out_dir``: ``<safe>.png`` (512 x 512) and ``<safe>-mouths/{A..H,X}.png``,
    each written atomically (the portrait last), and return its speaker entry:
    ``{"image": path, "face": {...}, "mouths": {shape: path}}`` as ``conf/speakers/*.yaml`` writes it."""
    out_dir = Path(out_dir)
    lk = look(name, gender)
    safe = safe_name(name)
    image, folder = out_dir / f"{safe}.png", out_dir / f"{safe}-mouths"
    folder.mkdir(parents=True, exist_ok=True)
    mouths = {}
    for shape in SHAPE_NAMES:
        path = folder / f"{shape}.png"
        with atomic_path(path) as tmp:
            mouth(lk, shape).save(tmp, format="PNG")
        mouths[shape] = str(path)
    with atomic_path(image) as tmp:
        portrait(lk).save(tmp, format="PNG")
    return {"image": str(image), "face": face_config(lk), "mouths": mouths}
