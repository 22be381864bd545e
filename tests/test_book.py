"""A book as the author wrote it: ``python -m deepstory.script`` and a render straight from an EPUB chapter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from epub_builder import write_epub
from PIL import Image

from deepstory.errors import UserError
from deepstory.script.source import load

from conftest import ROOT, compose_cfg, render_here, run_cli

CHAPTER_ONE = [
    "The harbour was grey that morning, and nobody on the quay said a word.",
    "The boats came in one by one with the tide.",
]
CHAPTER_TWO = [
    "Anne Shirley came down the lane with a basket of apples.",
    "\u201cGood morning, Tom,\u201d said Anne. \u201cAre you coming to the fair?\u201d",
    "\u201cNot today,\u201d replied Tom Baxter. \u201cThe nets want mending.\u201d",
    "\u201cThen I shall buy you a ribbon for your hat,\u201d she laughed.",
    "\u201cAnne, you will do no such thing,\u201d he said.",
    "Anne only smiled and went on down the lane.",
]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_epub(
        tmp_path_factory.mktemp("book") / "harbour.epub",
        [("Chapter I: The Quay", CHAPTER_ONE), ("Chapter II: The Fair", CHAPTER_TWO)],
    )


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepstory.script", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_a_chapter_becomes_a_script_a_cast_and_a_review_page(book, tmp_path) -> None:
    out = tmp_path / "script"
    done = script(str(book), "--chapter", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    cast = yaml.safe_load((out / "speakers.yaml").read_text(encoding="utf-8"))
    assert len(cast) == 3 and list(cast)[0] == "Narrator"
    anne, tom = sorted(list(cast)[1:], key=lambda name: not name.startswith("Anne"))
    assert anne.startswith("Anne") and tom.startswith("Tom")  # each character under one name, whichever it is
    lines = (out / "story.txt").read_text(encoding="utf-8").splitlines()
    said = [line.split("|", 1) for line in lines]
    assert [anne, "Good morning, Tom,"] in said and [tom, "Not today,"] in said
    assert [anne, "Then I shall buy you a ribbon for your hat,"] in said  # "she": the woman last named
    assert [tom, "Anne, you will do no such thing,"] in said  # "Anne" addressed, "he" says it
    assert ["Narrator", "said Anne."] in said  # the said-tag is narration
    assert all(who in ("Narrator", anne, tom) for who, _ in said)
    for name in (anne, tom):
        entry = cast[name]
        assert Image.open(entry["image"]).size == (512, 512)
        assert sorted(entry["mouths"]) == sorted("ABCDEFGHX") and all(
            Path(p).is_file() for p in entry["mouths"].values()
        )
    assert cast[anne]["voice"] != cast[tom]["voice"] != cast["Narrator"]["voice"]
    assert "lines; gender female" in (out / "speakers.yaml").read_text(encoding="utf-8")
    aliases = yaml.safe_load((out / "aliases.yaml").read_text(encoding="utf-8"))
    assert {anne, tom} <= set(aliases)
    page = (out / "attribution.html").read_text(encoding="utf-8")
    confidences = [float(c) for c in re.findall(r'<td class="conf">([0-9.]+)</td>', page)]
    assert len(confidences) == 6 and confidences == sorted(confidences)  # every quote, the doubtful first
    assert "render: python run.py story.text_path=" in done.stderr


def test_bad_books_are_one_line_and_exit_2(book, tmp_path) -> None:
    fake = tmp_path / "fake.epub"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    for args, message in (
        ([str(book), "--chapter", "9"], "the book has 2 chapter"),
        ([str(fake), "--chapter", "1"], "fake.epub"),
        ([str(tmp_path / "missing.epub")], "no such file"),
    ):
        done = script(*args, "--out", str(tmp_path / "out"))
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and done.stderr.count("error:") == 1, done.stderr
    assert not (tmp_path / "out" / "story.txt").exists()


def test_prose_is_told_from_tagged_text_and_its_doubts_are_warnings(tmp_path) -> None:
    tagged = tmp_path / "tagged.txt"
    tagged.write_text('Eileen: "Hello," she said.\nThe cat looked up.\n', encoding="utf-8")
    assert not load(tagged).prose  # the story format, as before, quotes and all
    prose = tmp_path / "prose.txt"
    prose.write_text(
        '"Come in," said Mary.\n\n"Thank you," said John | the tall one.\n\n"Wait, said Mary.\n', encoding="utf-8"
    )
    source = load(prose)
    assert source.prose and "Mary|Come in," in source.text.splitlines()
    assert "Narrator|said John the tall one." in source.text.splitlines()  # a "|" never splits a line again
    assert any("line 5" in w for w in source.warnings)  # the quote never closed: named, not a crash
    assert load(prose, format="tagged").text.startswith('"Come in,"')  # format=tagged reads it as it is
    with pytest.raises(UserError, match=r"^story.chapter=2: prose.txt is not an EPUB"):
        load(prose, chapter=2)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes('"Caf\u00e9," said Mary.'.encode("latin-1"))
    with pytest.raises(UserError, match=r"not valid utf-8 at byte 4 \(set story.encoding=...\)"):
        load(latin)
    assert "Mary|Caf\u00e9," in load(latin, encoding="latin-1").text


def test_an_epub_without_a_chapter_lists_them(book) -> None:
    with pytest.raises(UserError, match=r"^story.chapter: harbour.epub is an EPUB; choose a chapter: 1 'Chapter I"):
        load(book)


@pytest.mark.slow
def test_a_book_chapter_renders_with_a_drawn_voiced_cast(book, tmp_path) -> None:
    run = render_here(
        tmp_path / "run",
        f"story.text_path={book}",
        "story.chapter=Chapter II",
        "video.width=128",
        "video.height=128",
        f"cache_dir={tmp_path / 'cache'}",
        "report.enabled=false",
    )
    story = json.loads((run / "temp" / "story.json").read_text(encoding="utf-8"))
    assert story["title"] == "Chapter II: The Fair"
    speakers = {s["speaker"] for s in story["sentences"]}
    assert len(speakers) == 3 and "Narrator" in speakers  # the drawn two, not the demo's astronaut and cat
    assert not speakers & {"Eileen", "Chelsea"}
    config = yaml.safe_load((run / "export" / "config.yaml").read_text(encoding="utf-8"))
    for name in speakers - {"Narrator"}:
        image = Path(config["speakers"][name]["image"])
        assert image.is_file() and run / "temp" / "cast" in image.parents  # drawn into the run, nowhere else
    sheet = np.asarray(Image.open(run / "export" / "contact.png"))
    rows = np.split(sheet[: 3 * (sheet.shape[0] // 3)], 3)
    assert min(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in [(rows[1], rows[2])]) > 10  # two faces
    assert (run / "export" / "animated.mp4").stat().st_size > 0


@pytest.mark.slow
def test_a_sweep_over_chapters(book, tmp_path) -> None:
    done = run_cli(
        "-m",
        f"story.text_path={book}",
        "story.chapter=1,2",
        "video.width=64",
        "video.height=64",
        f"cache_dir={tmp_path / 'cache'}",
        "report.enabled=false",
        "stages.lipsync.enabled=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    videos = sorted((tmp_path / "sweep").rglob("export/animated.mp4"))
    assert len(videos) == 2, list((tmp_path / "sweep").iterdir())


def test_the_cast_setting_is_checked() -> None:
    from deepstory.run.render import build_stages

    with pytest.raises(UserError, match=r"story.cast=.everyone.: must be one of auto, configured"):
        build_stages(compose_cfg("story.cast=everyone"))


def test_a_speakers_file_and_an_alias_table_that_cannot_be_read_are_one_line(tmp_path) -> None:
    from deepstory.run.render import with_speakers_file

    with pytest.raises(UserError, match=r"^speakers_file=.*missing.yaml: no such file$"):
        with_speakers_file(compose_cfg(f"speakers_file={tmp_path / 'missing.yaml'}"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("Anne: {image: [unclosed\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^speakers_file=.*broken.yaml: not a speakers YAML file \("):
        with_speakers_file(compose_cfg(f"speakers_file={broken}"))
    listed = tmp_path / "list.yaml"
    listed.write_text("- Anne\n- Tom\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^speakers_file=.*list.yaml: a mapping of speaker names"):
        with_speakers_file(compose_cfg(f"speakers_file={listed}"))
    mine = tmp_path / "mine.yaml"
    mine.write_text("Anne:\n  image: anne.png\n", encoding="utf-8")
    assert list(with_speakers_file(compose_cfg(f"speakers_file={mine}")).speakers) == ["Anne"]
    prose = tmp_path / "prose.txt"
    prose.write_text('"Come in," said Mary.\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"^story.aliases=.*broken.yaml: not a YAML alias table \("):
        load(prose, aliases=str(broken))
