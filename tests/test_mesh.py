"""The face mesh (MediaPipe's 468 landmarks, ONNX): where it lands on a photo, where it refuses, and its switch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from deepstory.config import asset
from deepstory.portrait import Face, load_image, locate, speaker_face
from deepstory.portrait import mesh as fm
from deepstory.portrait.cast import _landmarks

from conftest import compose_cfg

# The shipped model (scripts/facemesh_onnx.py writes it byte for byte the same): a change must be deliberate.
MODEL_SHA256 = "1452de7e7e42b62b4c2c1e6166f2e3d0df10610d052bccefb9205b0b9ded1c7a"
ASTRONAUT = asset("portraits/astronaut.png")
# deepstory/assets/portraits/README.md, measured by hand: the mouth's centre and width, the eyes.
HAND_MOUTH, HAND_MOUTH_WIDTH, HAND_EYES = (224, 145), 41, ((203, 101), (246, 103))
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")  # Debian's opencv-doc, where installed


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Face, Face]:
    """The astronaut's pixels, her face as found (with its mesh) and as found with the mesh off."""
    image = load_image(ASTRONAUT)[0]
    return np.asarray(image), locate(image, None, "a"), locate(image, {"mesh": False}, "a")


def test_the_model_file_is_the_converted_one():
    assert hashlib.sha256(fm.MODEL.read_bytes()).hexdigest() == MODEL_SHA256


def test_the_astronauts_mouth_and_eyes(astronaut):
    _, face, old = astronaut
    assert face.mesh is not None and len(face.mesh) == 468 and old.mesh is None
    size = face.box[2] - face.box[0]
    # The mouth is where the lips part: the lower inner lip's middle (the jaw opens below it, a smile's teeth
    # stay above it).  The hand-measured mouth (the middle of her teeth) and the box proportions' lie between the
    # inner lips, above it (measured: 5.0 and 5.9 px above, 1.8 and 2.4 px aside, on a 99 px face).
    upper, lower = face.mesh[fm.LIP_MIDDLE[0]], face.mesh[fm.LIP_MIDDLE[1]]
    assert face.mouth == lower
    for mouth in (HAND_MOUTH, old.mouth):
        assert abs(face.mouth[0] - mouth[0]) < 0.04 * size, (face.mouth, mouth)
        assert upper[1] - 0.02 * size <= mouth[1] <= lower[1], (upper, mouth, lower)
    assert abs(face.mouth_width - HAND_MOUTH_WIDTH) < 0.06 * size
    corners = np.array([face.mesh[i] for i in fm.LIP_CORNERS])
    assert np.abs(corners[:, 0] - (HAND_MOUTH[0] + np.array([-0.5, 0.5]) * HAND_MOUTH_WIDTH)).max() < 0.04 * size
    assert np.abs(corners[:, 1] - HAND_MOUTH[1]).max() < 0.08 * size  # a smile: the corners are raised
    for eye, hand in zip(face.eyes, HAND_EYES):
        assert np.hypot(eye[0] - hand[0], eye[1] - hand[1]) < 0.03 * size
    assert face.box == old.box  # the box is the face finder's, the mesh only places what is inside it


def test_landmarks_are_in_the_face(astronaut):
    _, face, _ = astronaut
    points = np.array(face.mesh)
    x0, y0, x1, y1 = face.box
    inner = [*fm.LIPS_OUTER_UPPER, *fm.LIPS_OUTER_LOWER, *fm.RIGHT_EYE_UPPER, *fm.LEFT_EYE_LOWER, fm.NOSE_TIP]
    assert ((points[inner] >= (x0, y0)) & (points[inner] <= (x1, y1))).all()
    # The chin and the jaw lie below the finder's box (it ends at the lower lip), within the crop around it.
    reach = (fm.MARGIN - 1) / 2 * (x1 - x0)
    assert ((points >= (x0 - reach, y0 - reach)) & (points <= (x1 + reach, y1 + reach))).all()
    assert points[fm.CHIN, 1] > points[list(fm.LIPS_OUTER_LOWER), 1].max() > points[fm.NOSE_TIP, 1]


def test_inner_lips_lie_between_the_outer_lips(astronaut):
    import cv2

    _, face, _ = astronaut
    points = np.array(face.mesh, dtype=np.float32)
    outline = points[[*fm.LIPS_OUTER_UPPER, *fm.LIPS_OUTER_LOWER[::-1]]]  # the outer lips, closed
    for i in (*fm.LIPS_INNER_UPPER, *fm.LIPS_INNER_LOWER):
        assert cv2.pointPolygonTest(outline, (float(points[i, 0]), float(points[i, 1])), True) > -0.5, i
    y = points[:, 1]
    middle = slice(1, -1)  # the corners are the contours' shared ends
    assert (y[list(fm.LIPS_INNER_UPPER)][middle] < y[list(fm.LIPS_INNER_LOWER)][middle]).all()
    assert (y[list(fm.LIPS_OUTER_UPPER)][middle] < y[list(fm.LIPS_INNER_UPPER)][middle]).all()
    assert y[fm.LIP_MIDDLE[1]] - y[fm.LIP_MIDDLE[0]] > 0.05 * (face.box[2] - face.box[0])  # a smile: teeth shown


def test_a_mirrored_photo_gives_mirrored_landmarks(astronaut):
    pixels, face, _ = astronaut
    width = pixels.shape[1]
    x0, y0, x1, y1 = face.box
    flipped = fm.face_mesh(np.ascontiguousarray(pixels[:, ::-1]), (width - x1, y0, width - x0, y1))
    found = fm.face_mesh(pixels, face.box)
    assert flipped is not None and found is not None
    back = flipped.points[:, :2] * (-1, 1) + (width, 0)
    # The subject's right (image left) becomes the left: each pair swaps, each point on the middle line stays.
    pairs = [fm.LIP_CORNERS, fm.INNER_LIP_CORNERS, fm.RIGHT_EYE_CORNERS[:1] + fm.LEFT_EYE_CORNERS[:1]]
    pairs += [fm.RIGHT_EYE_CORNERS[1:] + fm.LEFT_EYE_CORNERS[1:], (fm.JAW[0], fm.JAW[-1])]
    pairs += [(i, i) for i in (*fm.LIP_MIDDLE, fm.NOSE_TIP, fm.CHIN)]
    # Measured: 4.3 px at most (the chin), the model itself is not exactly mirror-symmetric.
    for a, b in pairs:
        for i, j in ((a, b), (b, a)):
            assert np.hypot(*(found.points[i, :2] - back[j])) < 0.06 * (x1 - x0), (i, j)


def test_no_mesh_on_the_cat_or_the_owl():
    # The demo cast: the cat's box is found by the cat cascades, the drawn owl's values are all configured.
    speakers = OmegaConf.to_container(compose_cfg().speakers, resolve=True)
    assert isinstance(speakers, dict)
    for name in ("Chelsea", "Narrator"):
        image, scale = load_image(speakers[name]["image"])
        assert speaker_face(speakers[name], name, image, scale).mesh is None
    # Asked directly, on the box the cat cascade finds, the model sees no face.
    cat = np.asarray(load_image(asset("portraits/chelsea.png"))[0])
    assert fm.face_mesh(cat, (85, -9, 410, 316)) is None
    # The owl left to the finder: the human cascade finds drawn faces too, but the box is flat colour, a drawing.
    owl_image = load_image(asset("portraits/hoot.png"))[0]
    owl = locate(owl_image, None, "owl")
    assert owl.mesh is None and fm.drawn(np.asarray(owl_image), owl.box)
    assert not fm.drawn(np.asarray(load_image(ASTRONAUT)[0]), (175, 65, 274, 164))
    # On the owl's eye alone (a box the cascade gave at another scale), the model itself is unsure: 0.59.
    assert fm.face_mesh(np.asarray(owl_image), (128, 128, 268, 268)) is None


def test_noise_scores_under_the_threshold():
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    scored = fm.face_mesh(noise, (80, 80, 220, 220), threshold=0.0)
    assert scored is not None and scored.score < 0.01  # measured: logit -9.8 on such noise
    assert fm.face_mesh(noise, (80, 80, 220, 220)) is None


def test_the_switch_and_configured_values():
    image = load_image(ASTRONAUT)[0]
    face = locate(image, {"mouth": [230, 150], "mesh": True}, "speakers.Eileen.face")
    assert face.mouth == (230.0, 150.0) and face.mesh is not None  # configured values win over the mesh's
    assert abs(face.mouth_width - 45) < 2  # ... and the rest is the mesh's
    with pytest.raises(ValueError, match=r"speakers\.Eileen\.face\.mesh"):
        locate(image, {"mesh": "yes"}, "speakers.Eileen.face")
    # Scaled with the picture (a portrait fitted to its frame), kept through the face file of the cache.
    moved = face.transformed(2.0, 10, 20)
    assert moved.mesh is not None and face.mesh is not None
    assert moved.mesh[fm.NOSE_TIP] == (face.mesh[fm.NOSE_TIP][0] * 2 - 10, face.mesh[fm.NOSE_TIP][1] * 2 - 20)
    assert Face.from_config(vars(face), "file") == face
    # A face without a mesh is keyed as before the mesh existed.
    assert "mesh" not in _landmarks(locate(image, {"mesh": False}, "x")) and "mesh" in _landmarks(face)


@pytest.mark.skipif(not MESSI.is_file(), reason="no messi5.jpg (Debian package opencv-doc)")
def test_the_mesh_refuses_a_wrong_box_and_finds_the_face():
    image = load_image(MESSI)[0]
    # The face finder's first search boxes the blurred crowd beside his head: the model sees no face in it.
    assert fm.face_mesh(np.asarray(image), (247, 66, 321, 140)) is None
    # Around his face (measured by hand: 44 px, looking down), the mouth lands where it is, (245, 124).
    found = fm.face_mesh(np.asarray(image), (218, 90, 262, 134))
    assert found is not None and found.score > fm.THRESHOLD
    assert np.hypot(found.mouth[0] - 245, found.mouth[1] - 124) < 3
    assert 8 < found.mouth_width < 16
    # So the finder asks the model about its other boxes and takes the one it sees a face in: his (46 px).
    face = locate(image, None, "messi")
    assert face.mesh is not None and np.hypot(face.mouth[0] - 245, face.mouth[1] - 124) < 3
    assert 218 - 8 < face.box[0] < 218 + 8 and 90 - 8 < face.box[1] < 90 + 8 and 40 < face.box[3] - face.box[1] < 52
