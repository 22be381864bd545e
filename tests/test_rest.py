"""A photo with its mouth open is shown with closed lips at rest (deepstory.animate.rest), and only such a photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from deepstory.animate.rest import DARK, RestPose, _lips, open_at_rest
from deepstory.animate.warp import WarpAnimator
from deepstory.contact.stage import ORDER, shape_rows
from deepstory.errors import ImageError
from deepstory.lipsync.score import measure, mouth_box
from deepstory.portrait.cast import Cast

ASSETS = Path(__file__).resolve().parent.parent / "deepstory" / "assets" / "portraits"
# OpenCV's sample of a footballer calling out in a stadium (Debian opencv-doc): his mouth is open in the photo.
FOOTBALLER = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
LUMA = np.array([0.299, 0.587, 0.114])
SIZE = 256


def _cast(image: Path, **face) -> Cast:
    spec = {"image": str(image), **({"face": face} if face else {})}
    return Cast(OmegaConf.create({"X": spec}), (255, 255, 255), rest=RestPose())


def _gap_brightness(portrait) -> float:
    """The median brightness between the inner lips at the mouth's middle, over the face's median."""
    face = portrait.face
    gray = portrait.image.astype(np.float64) @ LUMA
    (mx, _), mw = face.mouth, face.mouth_width
    xs = np.arange(int(mx - 0.2 * mw), int(mx + 0.2 * mw) + 1)
    top, line = _lips(face, xs.astype(float))
    rows = [gray[r, x] for x, t, b in zip(xs, top, line) for r in range(int(np.floor(t)), int(np.ceil(b)) + 1)]
    x0, y0, x1, y1 = (int(v) for v in face.box)
    return float(np.median(rows)) / float(np.median(gray[y0:y1, x0:x1]))


@pytest.mark.skipif(not FOOTBALLER.is_file(), reason="needs Debian's opencv-doc sample images (messi5.jpg)")
def test_an_open_mouth_is_closed_at_rest_and_opens_from_there() -> None:
    as_is = _cast(FOOTBALLER, rest="open").portrait("X", (SIZE, SIZE))
    assert open_at_rest(as_is) and _gap_brightness(as_is) < DARK  # the photo: his mouth's dark inside shows
    cast = _cast(FOOTBALLER)
    portrait = cast.portrait("X", (SIZE, SIZE))
    assert cast.closed("X", (SIZE, SIZE))
    assert not open_at_rest(portrait)
    # The lips meet where the dark gap was: the pixels between them now as bright as lips, and the mesh agrees.
    (mx, my), mw = as_is.face.mouth, as_is.face.mouth_width
    region = (slice(int(my - 0.12 * mw), int(my + 0.05 * mw)), slice(int(mx - 0.15 * mw), int(mx + 0.15 * mw)))
    before = (as_is.image.astype(float) @ LUMA)[region].mean()
    after = (portrait.image.astype(float) @ LUMA)[region].mean()
    assert after > before + 15, (before, after)
    assert portrait.face.mouth[1] < as_is.face.mouth[1]  # the mouth point rose with the lower lip
    # Away from the mouth nothing changed.
    far = (slice(0, int(my - 0.6 * mw)), slice(None))
    assert np.abs(portrait.image[far].astype(int) - as_is.image[far].astype(int)).max() <= 1
    # Measured as the lip-sync score measures against this still: the press and the rest shut, wide shapes open.
    animator = WarpAnimator()
    frames = np.concatenate(list(animator.frames(animator.prepare(portrait), shape_rows())))
    gray = [f.astype(np.float32) @ LUMA.astype(np.float32) for f in frames]
    box = mouth_box(portrait.face.mouth, portrait.face.mouth_width, SIZE, SIZE)
    still = portrait.image.astype(np.float32) @ LUMA.astype(np.float32)
    opening = dict(zip(ORDER, measure(gray, dict.fromkeys(range(len(gray)), 0), {0: box}, {0: still})))
    assert opening["A"] < 0.25 * opening["D"] and opening["X"] < 0.01, opening
    assert min(opening[s] for s in "CDE") > 0.1, opening
    # Against the open photo, the same press read as an opening (the lower lip's shadow rising into the box).
    still_open = as_is.image.astype(np.float32) @ LUMA.astype(np.float32)
    frames_open = np.concatenate(list(animator.frames(animator.prepare(as_is), shape_rows())))
    box_open = mouth_box(as_is.face.mouth, as_is.face.mouth_width, SIZE, SIZE)
    press_open = measure(
        [frames_open[ORDER.index("A")].astype(np.float32) @ LUMA.astype(np.float32)],
        {0: 0},
        {0: box_open},
        {0: still_open},
    )[0]
    assert press_open > 3 * opening["A"], (press_open, opening["A"])


def test_a_smile_with_teeth_is_kept_and_the_setting_is_checked() -> None:
    astronaut = ASSETS / "astronaut.png"
    cast = _cast(astronaut)
    portrait = cast.portrait("X", (SIZE, SIZE))
    assert not cast.closed("X", (SIZE, SIZE)) and _gap_brightness(portrait) > 1.0  # her teeth, brighter than skin
    forced = _cast(astronaut, rest="closed")
    assert forced.closed("X", (SIZE, SIZE))
    assert _gap_brightness(forced.portrait("X", (SIZE, SIZE))) < _gap_brightness(portrait) - 0.2
    assert forced.portrait_key("X", (SIZE, SIZE)) != cast.portrait_key("X", (SIZE, SIZE))
    # A cat and a drawing have no mesh: nothing is closed.
    cat = _cast(ASSETS / "chelsea.png", rest="closed")
    assert not cat.closed("X", (SIZE, SIZE))
    with pytest.raises(ImageError, match=r"speakers\.X\.face\.rest: 'shut' is not one of auto, closed, open"):
        _cast(astronaut, rest="shut").portrait("X", (SIZE, SIZE))
