"""``export/contact.png``: every speaker's face at rest and in each mouth shape, as the render draws it.

One row per speaker, one column per shape (X, the rest face, then A-H of
:mod:`deepstory.motion.visemes`), each a tile of the speaker's portrait
animated by the run's animator with that shape held and eyes open.  A user
judges a cast at a glance; so can a reviewer.  Only for animators that take
:data:`~deepstory.track.FACE` tracks (keypoint animators have no shapes
to show).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from deepstory.animate.base import Animator
from deepstory.files import atomic_path
from deepstory.kernel.stage import Stage
from deepstory.motion.visemes import SHAPES
from deepstory.portrait import Portrait
from deepstory.scene import SceneContext
from deepstory.story.files import StoryFiles
from deepstory.track import FACE, MOUTH, SHAPE_NAMES

ORDER = ("X", "A", "B", "C", "D", "E", "F", "G", "H")
LABEL = 14  # pixels of label strip under each tile


def shape_rows() -> np.ndarray:
    """One FACE track row per shape of :data:`ORDER`: mouth held, eyes open, head still."""
    rows = FACE.empty(len(ORDER))
    for i, shape in enumerate(ORDER):
        rows[i, [FACE.index(c) for c in MOUTH]] = SHAPES[shape]
        rows[i, FACE.index("shape")] = 1 + SHAPE_NAMES.index(shape)
        rows[i, FACE.index("tongue")] = 1.0 if shape == "H" else 0.0  # H: L, the tongue's tip up
    return rows


class ContactStage(Stage[SceneContext]):
    """Writes ``export/contact.png`` with ``animator`` (``models.animator``) at ``size`` pixels a tile."""

    def __init__(self, animator: Animator, size: int = 160, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.animator = animator
        self.size = int(size)

    def run(self, ctx: SceneContext) -> None:
        if self.animator.accepts != FACE:
            ctx.progress.note(self.name, skipped=f"{type(self.animator).__name__} takes no mouth shapes")
            return
        speakers = StoryFiles(ctx.run).speakers()
        size = self.size
        sheet = draw_sheet(self.animator, [(s, ctx.cast.portrait(s, (size, size))) for s in speakers], size)
        with atomic_path(ctx.run.export / "contact.png") as tmp:
            sheet.save(tmp, format="PNG")

    def close(self) -> None:
        self.animator.close()


def draw_sheet(animator: Animator, portraits: list[tuple[str, Portrait]], size: int) -> Image.Image:
    """One row per ``(name, portrait)``: the portrait animated by ``animator`` in each shape of :data:`ORDER`,
    each tile ``size`` pixels square, labelled under it (the studio draws one character's row before any render)."""
    sheet = Image.new("RGB", (size * len(ORDER), (size + LABEL) * len(portraits)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (speaker, portrait) in enumerate(portraits):
        prepared = animator.prepare(portrait)
        frames = np.concatenate(list(animator.frames(prepared, shape_rows())))
        for c, (shape, frame) in enumerate(zip(ORDER, frames)):
            sheet.paste(Image.fromarray(frame), (c * size, r * (size + LABEL)))
            draw.text((c * size + 4, r * (size + LABEL) + size + 1), f"{speaker} {shape}", fill=(0, 0, 0))
    return sheet


def contact_sheet(path: Path) -> np.ndarray:
    """The sheet as uint8 ``[H, W, 3]`` (for tests and reports)."""
    return np.asarray(Image.open(path).convert("RGB"))
