"""Drawn portraits for characters without an image (deepstory.portrait.drawn): deterministic, distinct, usable."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from PIL import Image

from deepstory.portrait import speaker_portrait
from deepstory.portrait.drawn import INSIDE, draw_character, look, mouth, portrait, safe_name
from deepstory.portrait.image import Face
from deepstory.track import SHAPE_NAMES

NAMES = [
    "Elizabeth Bennet", "Mr. Darcy", "Jane", "Mr. Collins", "Lydia", "Charlotte Lucas", "Sherlock", "Watson",
    "Ada", "Hoot", "Eileen", "Chelsea", "Ishmael", "Queequeg", "Ahab", "Starbuck", "Alice", "Mad Hatter",
    "Zhang Wei", "Amara Okafor",
]  # fmt: skip


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@functools.cache
def _portrait(name: str) -> np.ndarray:
    """A character's portrait, drawn once for the tests that look at all twenty."""
    return _pixels(portrait(look(name)))


def test_draws_the_files_and_returns_a_speaker_entry(tmp_path):
    entry = draw_character("Elizabeth Bennet", "female", tmp_path)
    assert set(entry) == {"image", "face", "mouths"}
    assert entry["image"] == str(tmp_path / "elizabeth-bennet.png")
    assert set(entry["face"]) == {"box", "mouth", "mouth_width", "eyes", "eye_width", "eye_height", "teeth"}
    assert entry["face"]["teeth"] is False
    assert list(entry["mouths"]) == list(SHAPE_NAMES)
    with Image.open(entry["image"]) as im:
        assert im.size == (512, 512) and im.mode == "RGB"
    width = entry["face"]["mouth_width"]
    for shape, path in entry["mouths"].items():
        assert path == str(tmp_path / "elizabeth-bennet-mouths" / f"{shape}.png")
        with Image.open(path) as im:
            assert im.mode == "RGBA" and im.size == (2 * width, 3 * width // 2)
    assert not list(tmp_path.rglob("*.partial*"))  # written atomically, nothing left over
    face = Face.from_config(entry["face"], "drawn")  # the renderer's own reading of the entry
    x0, y0, x1, y1 = face.box
    assert x0 < face.eyes[0][0] < face.mouth[0] < face.eyes[1][0] < x1
    assert y0 < face.eyes[0][1] < face.mouth[1] < y1


def test_the_same_name_draws_the_same_files(tmp_path):
    one = draw_character("Mr. Darcy", "male", tmp_path / "one")
    two = draw_character("  mr.   DARCY ", "male", tmp_path / "two")  # case and spacing do not matter
    assert one["face"] == two["face"]
    for a, b in zip([one["image"], *one["mouths"].values()], [two["image"], *two["mouths"].values()]):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read()


def test_file_names_are_safe_and_never_shared():
    assert safe_name("Jane") == "jane"
    assert safe_name("Elizabeth Bennet") == "elizabeth-bennet"
    assert safe_name("Mr. Darcy").startswith("mr-darcy-") and safe_name("Mr. Darcy") != safe_name("Mr Darcy")
    assert safe_name("../../etc/passwd").startswith("etc-passwd-")
    assert safe_name("Zoë") != safe_name("Zoé") and "/" not in safe_name("a/b")
    assert safe_name("张伟").startswith("character-")


def test_twenty_names_look_clearly_different():
    images = {name: _portrait(name) for name in NAMES}
    distances = {(a, b): float(np.abs(images[a] - images[b]).mean()) for a, b in itertools.combinations(NAMES, 2)}
    closest = min(distances, key=distances.__getitem__)
    assert distances[closest] > 12, (closest, distances[closest])


def test_the_resting_mouth_sprite_matches_the_drawn_mouth():
    # The X sprite (the smile over a skin patch) pasted at the mouth leaves the portrait as it was: the patch is
    # the skin's own colour and the face around the mouth is plain.
    for name in NAMES[:8]:
        lk = look(name)
        face = _portrait(name)
        sprite = mouth(lk, "X")
        w, h = sprite.size
        x, y = 256 - w // 2, lk.mouth_y - h // 2
        base = Image.fromarray(face.astype(np.uint8)).convert("RGBA")
        base.alpha_composite(sprite, (x, y))
        pasted = _pixels(base)[y : y + h, x : x + w]
        assert np.abs(pasted - face[y : y + h, x : x + w]).mean() < 1.5, name


def test_the_skin_above_each_eye_is_plain_for_the_blinking_lids():
    for name in NAMES:
        lk = look(name)
        face = _portrait(name)
        for ex in (256 - lk.eye_x, 256 + lk.eye_x):
            above = face[round(lk.eye_y - 1.05 * lk.eye_h) : round(lk.eye_y - 0.75 * lk.eye_h), ex]
            assert np.abs(above - np.array(lk.skin)).max() < 24, name


def _dark(image: Image.Image) -> int:
    rgba = np.asarray(image, dtype=np.int16)
    close = np.abs(rgba[..., :3] - np.array(INSIDE)).max(axis=-1) < 20
    return int((close & (rgba[..., 3] > 200)).sum())


@pytest.mark.parametrize("name", NAMES)
def test_mouth_shapes_differ_and_open_as_their_sounds_do(name):
    lk = look(name)
    sprites = {shape: mouth(lk, shape) for shape in SHAPE_NAMES}
    for a, b in itertools.combinations(SHAPE_NAMES, 2):  # every pair visibly apart, on light skin and dark
        changed = int((np.abs(_pixels(sprites[a]) - _pixels(sprites[b])).max(axis=-1) > 20).sum())
        assert changed > 0.04 * lk.mouth_w**2, (a, b, changed)
    dark = {shape: _dark(sprite) for shape, sprite in sprites.items()}
    assert dark["A"] == 0 and dark["X"] == 0, dark  # closed
    assert dark["D"] == max(dark.values()) and dark["D"] > dark["C"] > dark["B"] > 0, dark
    for sprite in sprites.values():
        alpha = np.asarray(sprite)[..., 3]
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 0 and alpha.max() == 255  # a soft patch, clear corners


def test_gender_nudges_without_deciding():
    assert not any(look(name, "female").beard for name in NAMES)
    styles = {look(name, "female").hair_style for name in NAMES}
    assert len(styles) >= 4


def test_the_renderer_builds_a_portrait_from_the_entry(tmp_path):
    entry = draw_character("Queequeg", None, tmp_path)
    face, fitted = speaker_portrait(entry, "speakers.Queequeg", 256, 256)
    assert face.mouth == (256.0, float(entry["face"]["mouth"][1]))
    assert fitted.mouths is not None and set(fitted.mouths) == set(SHAPE_NAMES)
    assert fitted.face.mouth_width > 0
