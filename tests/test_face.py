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


@pytest.mark.parametrize(
    "name, eye_tol, mouth_tol", [("astronaut", 0.08, 0.1), ("hoot", 0.05, 0.1), ("chelsea", 0.1, 0.1)]
)
def test_detected_landmarks_match_hand_measurements(name, eye_tol, mouth_tol):
    face = locate(_image(name), None, name)
    hand = HAND[name]
    size = hand["box"][2] - hand["box"][0]
    assert _iou(face.box, hand["box"]) > 0.5
    for found, true in zip(face.eyes, hand["eyes"]):
        assert np.hypot(found[0] - true[0], found[1] - true[1]) < eye_tol * size, (found, true)
    assert np.hypot(face.mouth[0] - hand["mouth"][0], face.mouth[1] - hand["mouth"][1]) < mouth_tol * size
    assert 0.15 * size < face.mouth_width < 0.5 * size


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
