"""Faces found with no download: a photo, the cat and a drawing; config overrides; a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deepstory.config import asset
from deepstory.portrait import FaceNotFound, locate

# Measured by hand on the bundled images (deepstory/assets/portraits/README.md).
HAND = {
    "astronaut": {"box": (181, 75, 268, 177), "mouth": (224, 145), "eyes": ((203, 101), (246, 103))},
    "chelsea": {"box": (40, 0, 368, 300), "mouth": (256, 270), "eyes": ((173, 111), (314, 131))},
    "hoot": {"box": (132, 150, 380, 400), "mouth": (256, 330), "eyes": ((206, 236), (306, 236))},
}


def _image(name):
    return Image.open(asset(f"portraits/{name}.png"))


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# How far (px of the source image) the detected landmarks may land from HAND: the error measured with
# .ci/constraints.txt's OpenCV (issue 21) plus 3 px, so a landmark that moves off the eye or the mouth fails.
# Measured: astronaut eyes 0.9, 1.5, mouth 5.4 (from its face mesh: the lower inner lip, under HAND's mouth at
# the middle of her teeth; 1.5, 0.7, 1.1 from the eye cascade and
# the box's proportions); hoot eyes 5.8, 0.7, mouth 11.8 (on the lower lip, not the
# smile line); chelsea eyes 20.8 (below the pupil: a cat's eyes come from proportions), 4.0, mouth 16.5
# (on the nose's lower edge; the demo cast sets the cat's eyes and mouth by hand for that).  Face box IoU
# with HAND: 0.71, 0.86, 0.77.
TOLERANCE = {
    "astronaut": {"eyes": (5, 4), "mouth": 8, "iou": 0.65},
    "hoot": {"eyes": (9, 4), "mouth": 15, "iou": 0.8},
    "chelsea": {"eyes": (24, 7), "mouth": 20, "iou": 0.7},
}


@pytest.mark.parametrize("name", ["astronaut", "hoot", "chelsea"])
def test_detected_landmarks_match_hand_measurements(name):
    face = locate(_image(name), None, name)
    hand, tol = HAND[name], TOLERANCE[name]
    size = hand["box"][2] - hand["box"][0]
    assert _iou(face.box, hand["box"]) > tol["iou"], (face.box, hand["box"])
    for found, true, limit in zip(face.eyes, hand["eyes"], tol["eyes"]):
        assert np.hypot(found[0] - true[0], found[1] - true[1]) <= limit, (name, "eye", found, true, limit)
    mouth = face.mouth
    assert np.hypot(mouth[0] - hand["mouth"][0], mouth[1] - hand["mouth"][1]) <= tol["mouth"], (name, mouth)
    # The astronaut's face mesh measures her smile corner to corner: 45 px, 0.52 of HAND's box (hand: 41).
    assert 0.15 * size < face.mouth_width < 0.55 * size


def test_configured_values_override_detection():
    face = locate(_image("astronaut"), {"mouth": [230, 150], "mouth_width": 44}, "speakers.Eileen.face")
    assert face.mouth == (230.0, 150.0) and face.mouth_width == 44.0
    assert abs(face.eyes[0][0] - 203) < 10  # the rest is still detected


def test_no_face_names_the_config_key():
    blank = Image.new("RGB", (256, 256), (120, 140, 160))
    with pytest.raises(FaceNotFound) as err:
        locate(blank, {"teeth": False}, "speakers.Ghost.face")
    message = str(err.value)
    assert "speakers.Ghost.face" in message and "box" in message and "\n" not in message
    assert message.endswith("; find the pixels with: python -m deepstory.face <image>")


def test_no_face_names_the_command_on_the_image(tmp_path):
    from deepstory.portrait import speaker_portrait

    path = tmp_path / "my ghost.png"
    Image.new("RGB", (256, 256), (120, 140, 160)).save(path)
    with pytest.raises(FaceNotFound) as err:
        speaker_portrait({"image": str(path)}, "speakers.Ghost", 64, 64)
    assert str(err.value).endswith(f"find the pixels with: python -m deepstory.face '{path}'")


def test_fully_configured_face_needs_no_detection():
    blank = Image.new("RGB", (256, 256), (120, 140, 160))
    face = locate(
        blank,
        {
            "box": [60, 60, 200, 200],
            "mouth": [130, 170],
            "mouth_width": 50,
            "eyes": [[100, 110], [160, 110]],
            "eye_width": 30,
        },
        "speakers.Ghost.face",
    )
    assert face.box == (60.0, 60.0, 200.0, 200.0)
