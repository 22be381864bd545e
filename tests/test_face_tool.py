"""``python -m deepstory.face``: the face the renderer finds, on a pixel grid, and a ``face:`` block to paste."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from deepstory.config import asset
from deepstory.face import COLOURS, main
from deepstory.portrait import Face, load_image, locate, speaker_portrait

ROOT = Path(__file__).resolve().parent.parent
# chapter3's Chelsea: the turned head's eyes and mouth set by hand, the box found.
CHELSEA = {"mouth": [256, 270], "mouth_width": 60, "teeth": False, "eyes": [[173, 111], [314, 131]], "eye_width": 55}


def _tool(tmp_path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the command in-process, in ``tmp_path``; (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    code = main([*args])
    out, err = capsys.readouterr()
    return code, out, err


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "deepstory.face", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _block(stdout: str) -> tuple[dict, dict[str, str]]:
    """The printed ``face:`` mapping and each value's comment (found / configured / guess)."""
    face = yaml.safe_load(stdout)["face"]
    why = {
        line.split(":")[0].strip(): line.rsplit("#", 1)[1].strip() for line in stdout.splitlines() if line[:2] == "  "
    }
    return face, why


def _points(face: Face) -> np.ndarray:
    return np.array([*face.box, *face.mouth, face.mouth_width, *np.ravel(face.eyes), face.eye_width])


def _has(pixels: np.ndarray, xy, colour, reach: int = 1) -> bool:
    """Whether ``colour`` is within ``reach`` px of ``xy`` (a preview pixel) in ``pixels``."""
    x, y = (int(round(v)) for v in xy)
    patch = pixels[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1]
    return bool((patch == colour).all(axis=-1).any())


def _featureless(path: Path, size=(640, 480)) -> Path:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([60 + x * 0.2, 90 + y * 0.2, np.full(x.shape, 150.0)], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "hoot"])
def test_printed_block_gives_the_finders_landmarks(name, tmp_path, monkeypatch, capsys):
    image = asset(f"portraits/{name}.png")
    code, out, err = _tool(tmp_path, monkeypatch, capsys, image, "--speaker", "Eileen")
    assert code == 0, err
    face, why = _block(out)
    assert list(face) == ["box", "eyes", "eye_width", "mouth", "mouth_width"]
    assert set(why.values()) == {"found"} and "speakers.Eileen" in out
    numbers = [*face["box"], *face["mouth"], *(v for eye in face["eyes"] for v in eye)]
    assert all(isinstance(v, int) for v in [*numbers, face["eye_width"], face["mouth_width"]])
    # Fed back as speakers.X.face, the printed block is the finder's face, to the rounding of a pixel.
    fed_back = Face.from_config(face, "speakers.X.face")
    found = locate(load_image(image)[0], None, "speakers.X.face")
    assert np.abs(_points(fed_back) - _points(found)).max() <= 0.5
    # ... and the tool, given it back with --face, says every value is configured and prints the same block.
    code, again, _ = _tool(tmp_path, monkeypatch, capsys, image, "--face", out)
    assert code == 0 and _block(again) == (face, {k: "configured" for k in face})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}-face.png"]


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_preview_shows_the_face_on_the_image(name, tmp_path, monkeypatch, capsys):
    image = asset(f"portraits/{name}.png")
    code, out, _ = _tool(tmp_path, monkeypatch, capsys, image, "--out", "preview.png")
    assert code == 0
    face, _ = _block(out)
    with Image.open(tmp_path / "preview.png") as png:
        assert png.format == "PNG"
        pixels = np.asarray(png.convert("RGB"))
    w, h = Image.open(image).size
    ph, pw = pixels.shape[:2]
    assert max(pw, ph) == 1024 and abs(pw / ph - w / h) < 1 / min(pw, ph)  # enlarged, aspect ratio kept
    s = pw / w
    for eye in face["eyes"]:
        assert _has(pixels, (eye[0] * s, eye[1] * s), COLOURS["eyes"])
    (mx, my), half = face["mouth"], face["mouth_width"] / 2
    assert _has(pixels, (mx * s, my * s), COLOURS["mouth"])
    for x in (mx - 0.6 * half, mx + 0.6 * half):  # the lip line across the mouth
        assert _has(pixels, (x * s, my * s), COLOURS["mouth_width"])
    x0, y0, x1, y1 = face["box"]
    assert _has(pixels, (x0 * s, (y0 + y1) / 2 * s), COLOURS["box"], reach=2)
    assert _has(pixels, (x1 * s, (y0 + y1) / 2 * s), COLOURS["box"], reach=2)
    # The picture itself is shown: away from the marks, the preview is the image, enlarged.
    source = np.asarray(Image.open(image).convert("RGB").resize((pw, ph), Image.Resampling.LANCZOS), dtype=int)
    assert np.abs(pixels[ph // 2 + 7 : ph // 2 + 20, 50:80] - source[ph // 2 + 7 : ph // 2 + 20, 50:80]).mean() < 3


def test_configured_values_win_over_found_ones(tmp_path, monkeypatch, capsys):
    image = asset("portraits/chelsea.png")
    code, out, _ = _tool(
        tmp_path, monkeypatch, capsys, image, "--face", yaml.safe_dump(CHELSEA, default_flow_style=True)
    )
    assert code == 0
    face, why = _block(out)
    assert why == {
        "box": "found",
        "eyes": "configured",
        "eye_width": "configured",
        "mouth": "configured",
        "mouth_width": "configured",
        "teeth": "configured",
    }
    assert face["mouth"] == [256, 270] and face["eyes"] == [[173, 111], [314, 131]] and face["teeth"] is False
    # The same face as a render builds from that speakers entry.
    spec = {"image": image, "face": CHELSEA}
    rendered = speaker_portrait(spec, "speakers.Chelsea", 64, 64)[0]
    assert np.abs(_points(Face.from_config(face, "x")) - _points(rendered)).max() <= 0.5
    pixels = np.asarray(Image.open(tmp_path / "chelsea-face.png").convert("RGB"))
    s = pixels.shape[1] / 451
    assert _has(pixels, (256 * s, 270 * s), COLOURS["mouth"]) and _has(pixels, (173 * s, 111 * s), COLOURS["eyes"])


def test_a_huge_image_is_measured_in_its_own_pixels(tmp_path, monkeypatch, capsys):
    big = tmp_path / "big.jpg"
    Image.open(asset("portraits/astronaut.png")).resize((4200, 4200), Image.Resampling.BILINEAR).save(big, quality=90)
    code, out, _ = _tool(tmp_path, monkeypatch, capsys, str(big), "--out", "big.png")
    assert code == 0 and "(4200x4200 px)" in out
    face = Face.from_config(_block(out)[0], "x")
    small = locate(load_image(asset("portraits/astronaut.png"))[0], None, "x")
    size = small.box[2] - small.box[0]
    assert np.abs(_points(face) / (4200 / 512) - _points(small)).max() < 0.05 * size  # ~8.2x the 512-px face
    with Image.open(tmp_path / "big.png") as png:
        assert png.size == (1024, 1024)


def test_no_face_gives_the_grid_and_a_template(tmp_path):
    image = _featureless(tmp_path / "plain.png")
    result = _run(tmp_path, "plain.png")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "no face found" in result.stderr
    assert "edit" in result.stderr
    face, why = _block(result.stdout)
    assert set(why.values()) == {"guess"} and "(640x480 px)" in result.stdout
    assert result.stdout.startswith("# no face found")
    guess = Face.from_config(face, "x")  # a valid face, in the middle of the image
    assert guess.box[0] > 0 and guess.box[2] < 640 and abs((guess.box[0] + guess.box[2]) / 2 - 320) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain-face.png", "plain.png"]
    pixels = np.asarray(Image.open(tmp_path / "plain-face.png").convert("RGB")).astype(int)
    assert pixels.shape == (768, 1024, 3)  # 640x480 at 1.6
    for colour in COLOURS.values():  # no face marks
        assert not (pixels == colour).all(axis=-1).any()
    # Grid lines every 50 image px (80 preview px), none in between.
    background = np.asarray(Image.open(image).resize((1024, 768), Image.Resampling.LANCZOS)).astype(int)
    rows = slice(330, 350)  # between the lines at y = 200 and 250 (preview rows 320 and 400)
    differs = lambda x: np.abs(pixels[rows, x] - background[rows, x]).mean()  # noqa: E731
    assert all(differs(80 * k) > 30 for k in range(1, 13))
    assert all(differs(80 * k + 40) < 3 for k in range(0, 12))


def test_no_face_with_some_values_configured_draws_those(tmp_path):
    _featureless(tmp_path / "plain.png")
    result = _run(tmp_path, "plain.png", "--face", '{"mouth": [300, 300], "mouth_width": 80}', "--out", "p.png")
    assert result.returncode == 1
    face, why = _block(result.stdout)
    assert face["mouth"] == [300, 300] and why["mouth"] == "configured" and why["box"] == "guess"
    pixels = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert _has(pixels, (300 * 1.6, 300 * 1.6), COLOURS["mouth"])
    assert not (pixels == COLOURS["box"]).all(axis=-1).any()


@pytest.mark.parametrize(
    "args, words",
    [
        (["missing.png"], ["image not found", "missing.png"]),
        (["notes.txt"], ["not an image", "notes.txt"]),
        (["plain.png", "--face", "{nose: [1, 2]}"], ["--face", "nose"]),
        (["plain.png", "--face", "{mouth_width: -3}"], ["--face", "positive"]),
        (["plain.png", "--face", "[1, 2]"], ["--face", "mapping"]),
        (["plain.png", "--face", "{box: [1, 2"], ["--face", "YAML"]),
        (["plain.png", "--out", "nowhere/p.png"], ["--out", "nowhere"]),
        (["plain.png", "--out", "plain.png"], ["--out", "the image itself"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    _featureless(tmp_path / "plain.png", (64, 48))
    (tmp_path / "notes.txt").write_text("not a picture\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = _run(tmp_path, *args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and all(w in lines[0] for w in words), lines
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
