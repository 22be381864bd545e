#!/usr/bin/env python3
"""Draw Hoot, the storyteller owl who narrates the bundled demo story.

The portrait is drawn with PIL only and is fully deterministic (no random
numbers anywhere), so running the script again reproduces the same image.
It is drawn at 4x size and scaled down, which gives smooth edges.

Layout (final 512x512 pixel coordinates), chosen so the talking-head
animation has clear features to work with:

* eyes: pupils at (206, 236) and (306, 236), eye whites about 76 px wide
* mouth: a closed smiling mouth line centred at (256, 330), 76 px wide
* a wide, evenly coloured cream face/belly below the mouth, so pixels can be
  stretched downwards when the mouth opens

Usage: python scripts/draw_narrator.py [output.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 512
SCALE = 4  # supersampling factor

BACKGROUND = (126, 178, 196)
FEATHER_DARK = (112, 74, 46)
FEATHER = (146, 100, 64)
FEATHER_LIGHT = (178, 128, 84)
CREAM = (243, 225, 190)
CREAM_SHADE = (226, 203, 162)
EYE_RING = (205, 160, 104)
EYE_WHITE = (252, 252, 246)
PUPIL = (28, 22, 20)
BEAK = (236, 160, 52)
BEAK_SHADE = (196, 120, 34)
MOUTH = (92, 40, 36)
LIP = (214, 132, 120)
HAT = (62, 84, 142)
HAT_BAND = (226, 178, 62)
BOOK = (164, 48, 52)
PAGES = (250, 246, 232)
OUTLINE = (60, 38, 26)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "deepstory" / "assets" / "portraits" / "hoot.png"


def s(v: float) -> int:
    """Scale a final-image coordinate to the supersampled canvas."""
    return int(round(v * SCALE))


def box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
    return [s(x0), s(y0), s(x1), s(y1)]


def pts(points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(s(x), s(y)) for x, y in points]


def draw_owl() -> Image.Image:
    img = Image.new("RGB", (SIZE * SCALE, SIZE * SCALE), BACKGROUND)
    d = ImageDraw.Draw(img)
    w = s(3)  # standard outline width

    # Ear tufts (behind the head).
    d.polygon(pts([(130, 150), (118, 62), (200, 118)]), fill=FEATHER_DARK, outline=OUTLINE, width=w)
    d.polygon(pts([(382, 150), (394, 62), (312, 118)]), fill=FEATHER_DARK, outline=OUTLINE, width=w)

    # Body and head: one big rounded shape running off the bottom edge.
    d.ellipse(box(84, 96, 428, 600), fill=FEATHER, outline=OUTLINE, width=w)

    # Wings on both sides.
    d.ellipse(box(64, 300, 168, 540), fill=FEATHER_DARK, outline=OUTLINE, width=w)
    d.ellipse(box(344, 300, 448, 540), fill=FEATHER_DARK, outline=OUTLINE, width=w)
    for i in range(3):  # wing feather lines
        y = 380 + i * 36
        d.arc(box(82, y - 30, 150, y + 30), 20, 160, fill=OUTLINE, width=s(2))
        d.arc(box(362, y - 30, 430, y + 30), 20, 160, fill=OUTLINE, width=s(2))

    # Cream face and belly: one evenly coloured region from the eyes down
    # to the bottom edge, so the area around and below the mouth is plain.
    d.ellipse(box(170, 300, 342, 600), fill=CREAM)
    d.ellipse(box(132, 150, 380, 400), fill=CREAM)
    d.rectangle(box(180, 330, 332, 512), fill=CREAM)

    # Small belly feather scallops, well below the mouth.
    for row, y in enumerate((448, 474)):
        offset = 0 if row == 0 else 14
        for x in range(206 + offset, 312, 28):
            d.arc(box(x - 10, y - 8, x + 10, y + 8), 20, 160, fill=CREAM_SHADE, width=s(3))

    # Feathered brows above the eyes.
    d.chord(box(150, 176, 262, 236), 190, 350, fill=FEATHER_LIGHT)
    d.chord(box(250, 176, 362, 236), 190, 350, fill=FEATHER_LIGHT)

    # Eyes: warm ring, white, dark pupil, small highlight.
    for cx in (206, 306):
        cy = 236
        d.ellipse(box(cx - 46, cy - 46, cx + 46, cy + 46), fill=EYE_RING)
        d.ellipse(box(cx - 38, cy - 38, cx + 38, cy + 38), fill=EYE_WHITE, outline=OUTLINE, width=w)
        d.ellipse(box(cx - 17, cy - 17, cx + 17, cy + 17), fill=PUPIL)
        d.ellipse(box(cx - 10, cy - 12, cx - 2, cy - 4), fill=EYE_WHITE)

    # Beak: a small triangle between and just below the eyes.
    d.polygon(pts([(240, 266), (272, 266), (256, 302)]), fill=BEAK, outline=BEAK_SHADE, width=s(2))
    d.line(pts([(256, 268), (256, 298)]), fill=BEAK_SHADE, width=s(2))

    # Mouth: a closed, gently smiling line 76 px wide centred at (256, 330),
    # with a faint lower lip so the mouth area reads clearly.
    d.chord(box(220, 300, 292, 344), 20, 160, fill=LIP)
    d.arc(box(218, 295, 294, 333), 18, 162, fill=MOUTH, width=s(5))
    d.line(pts([(216, 315), (222, 320)]), fill=MOUTH, width=s(4))
    d.line(pts([(296, 315), (290, 320)]), fill=MOUTH, width=s(4))
    # Rosy cheeks.
    d.ellipse(box(170, 300, 200, 318), fill=(238, 190, 168))
    d.ellipse(box(312, 300, 342, 318), fill=(238, 190, 168))

    # Storyteller's hat: a soft cap with a band and a feather.
    d.polygon(pts([(170, 128), (342, 128), (320, 52), (192, 52)]), fill=HAT, outline=OUTLINE, width=w)
    d.ellipse(box(150, 116, 362, 146), fill=HAT, outline=OUTLINE, width=w)
    d.rectangle(box(176, 104, 336, 122), fill=HAT_BAND)
    d.line(pts([(300, 104), (344, 30)]), fill=(228, 84, 70), width=s(6))
    d.line(pts([(306, 92), (336, 46)]), fill=(246, 140, 120), width=s(3))

    # An open storybook held at the bottom, clear of the face.
    d.polygon(pts([(150, 512), (166, 472), (256, 486), (346, 472), (362, 512)]), fill=BOOK, outline=OUTLINE, width=w)
    d.polygon(pts([(172, 508), (180, 480), (256, 492), (256, 512)]), fill=PAGES)
    d.polygon(pts([(340, 508), (332, 480), (256, 492), (256, 512)]), fill=PAGES)
    for i in range(3):
        y = 490 + i * 6
        d.line(pts([(192, y), (244, y + 4)]), fill=(170, 160, 140), width=s(1.5))
        d.line(pts([(320, y), (268, y + 4)]), fill=(170, 160, 140), width=s(1.5))

    return img.resize((SIZE, SIZE), Image.LANCZOS)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    draw_owl().save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
