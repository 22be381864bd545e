#!/usr/bin/env python3
"""Draw the mouth sprites of Hoot, the narrator owl: one PNG with alpha per mouth shape (A-H, X).

The 2D animation convention (Preston Blair's shapes, as Rhubarb Lip Sync and
Papagayo use them), drawn in the style of ``scripts/draw_narrator.py`` (same
colours and outline, PIL only, no randomness: the same files every run).
Each sprite is 160 x 120 px, twice the owl's mouth width (80 px) wide and
centred on its mouth (256, 330), as ``speakers.<Name>.mouths`` expects.  Under
every mouth lies a soft-edged patch of the owl's cream face, so the smile
drawn into the portrait never shows through an open mouth.

Usage: python scripts/draw_owl_mouths.py [output_dir]
"""

from __future__ import annotations

import sys
from pathlib import Path

from draw_narrator import CREAM, LIP, MOUTH, SCALE, s  # the portrait's own colours and supersampling
from PIL import Image, ImageDraw, ImageFilter

W, H = 160, 120  # sprite canvas; the mouth's centre is at its middle
INSIDE = (58, 22, 24)
TONGUE = (206, 104, 104)
TEETH = (250, 248, 240)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "deepstory" / "assets" / "mouths" / "hoot"


def box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
    """A box around the mouth's centre, in final sprite pixels."""
    cx, cy = W / 2, H / 2
    return [s(cx + x0), s(cy + y0), s(cx + x1), s(cy + y1)]


def opening(d: ImageDraw.ImageDraw, half_w: float, top: float, bottom: float, teeth: float = 0, tongue: float = 0):
    """An open mouth: a lip-coloured rim, the dark inside, upper teeth and a tongue."""
    d.ellipse(box(-half_w - 3, top - 3, half_w + 3, bottom + 4), fill=LIP)
    d.ellipse(box(-half_w, top, half_w, bottom), fill=INSIDE, outline=MOUTH, width=s(3))
    if tongue:
        d.chord(box(-half_w * 0.7, bottom - tongue * 2, half_w * 0.7, bottom + tongue * 0.4), 180, 360, fill=TONGUE)
    if teeth:
        d.chord(box(-half_w * 0.8, top + 1, half_w * 0.8, top + 1 + teeth * 2), 180, 360, fill=TEETH)


def draw(shape: str) -> Image.Image:
    img = Image.new("RGBA", (W * SCALE, H * SCALE), CREAM + (0,))
    d = ImageDraw.Draw(img)
    if shape == "X":  # rest: the portrait's own smile, redrawn
        d.chord(box(-36, -30, 36, 14), 20, 160, fill=LIP)
        d.arc(box(-38, -35, 38, 3), 18, 162, fill=MOUTH, width=s(5))
        d.line([tuple(box(-40, -15, -34, -10)[:2]), tuple(box(-34, -10, 0, 0)[:2])], fill=MOUTH, width=s(4))
        d.line([tuple(box(40, -15, 34, -10)[:2]), tuple(box(34, -10, 0, 0)[:2])], fill=MOUTH, width=s(4))
    elif shape == "A":  # M B P: the rest line, lips pressed thin
        d.chord(box(-36, -26, 36, 8), 20, 160, fill=LIP)
        d.arc(box(-38, -35, 38, 3), 18, 162, fill=MOUTH, width=s(6))
        d.line([tuple(box(-40, -15, -34, -10)[:2]), tuple(box(-34, -10, 0, 0)[:2])], fill=MOUTH, width=s(4))
        d.line([tuple(box(40, -15, 34, -10)[:2]), tuple(box(34, -10, 0, 0)[:2])], fill=MOUTH, width=s(4))
    elif shape == "B":  # most consonants: slightly open, teeth together
        # The lips parted around the clenched teeth: dark above and below the rows, as the mouth is open a little.
        d.ellipse(box(-33, -12, 33, 15), fill=LIP)
        d.ellipse(box(-30, -9, 30, 12), fill=INSIDE, outline=MOUTH, width=s(3))
        d.rectangle(box(-20, -4, 20, 0), fill=TEETH)
        d.rectangle(box(-17, 0, 17, 3), fill=(236, 232, 222))
    elif shape == "C":  # EH AE: open
        opening(d, 32, -12, 14, teeth=3, tongue=4)
    elif shape == "D":  # AA: wide open
        opening(d, 36, -16, 26, teeth=4, tongue=7)
    elif shape == "E":  # AO ER: rounded
        opening(d, 22, -14, 16, tongue=4)
    elif shape == "F":  # UW OW W: puckered
        d.ellipse(box(-17, -15, 17, 15), fill=LIP, outline=MOUTH, width=s(3))
        d.ellipse(box(-8, -7, 8, 7), fill=INSIDE)
    elif shape == "G":  # F V: lower lip tucked under the upper teeth
        d.chord(box(-32, -4, 32, 16), 0, 180, fill=LIP)
        d.rectangle(box(-22, -6, 22, 3), fill=TEETH, outline=(200, 196, 186), width=s(1))
        d.arc(box(-34, -14, 34, 4), 20, 160, fill=MOUTH, width=s(4))
    elif shape == "H":  # L: open, the tongue up behind the teeth
        opening(d, 28, -13, 15, teeth=3)
        d.chord(box(-12, -8, 12, 10), 180, 360, fill=TONGUE)
    else:
        raise ValueError(shape)
    mouth = img.resize((W, H), Image.Resampling.LANCZOS)
    # The cream patch under the mouth hides the smile drawn into the portrait; its edge is soft.
    patch = Image.new("L", (W, H), 0)
    pd = ImageDraw.Draw(patch)
    pd.ellipse([24, 34, 136, 88], fill=255)
    for cx in (W / 2 - 38, W / 2 + 38):  # the smile's upturned ends reach higher than its middle
        pd.ellipse([cx - 11, 36, cx + 11, 60], fill=255)
    patch = patch.filter(ImageFilter.GaussianBlur(3))
    out = Image.new("RGBA", (W, H), CREAM + (0,))
    out.putalpha(patch)
    out.alpha_composite(mouth)
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    folder.mkdir(parents=True, exist_ok=True)
    for shape in "ABCDEFGHX":
        draw(shape).save(folder / f"{shape}.png")
    print(f"wrote 9 mouth sprites to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
