"""EPUB in, by chapter (deepstory.script.epub): tables of contents, anchors, plain text, broken and hostile books."""

from __future__ import annotations

import time
import zipfile

import pytest
from epub_builder import write_epub

from deepstory.errors import UserError
from deepstory.script.epub import EpubError, chapters, is_epub, read_chapter

BOOK = [
    ("Preface", ["A word before the story."]),
    ("Chapter I. The Owl", ["Once upon a time there was an owl.", "She read every night."]),
    ("Chapter II. The Cat", ["The cat came by.", "“Hello,” said the cat."]),
    ("Chapter III. The End", ["And that was that."]),
]
TITLES = [title for title, _ in BOOK]


def _text(paragraphs: list[str], title: str) -> str:
    return "\n\n".join([title, *paragraphs])


@pytest.mark.parametrize("toc", ["nav", "ncx", "both"])
@pytest.mark.parametrize("layout", ["files", "one"])
def test_chapters_in_reading_order_with_their_text(tmp_path, toc, layout):
    book = write_epub(tmp_path / "book.epub", BOOK, toc=toc, layout=layout)
    assert is_epub(book)
    listed = chapters(book)
    assert [c.title for c in listed] == TITLES
    assert [c.number for c in listed] == [1, 2, 3, 4]
    assert all(c.text == "" for c in listed)  # a listing keeps no text
    for (title, paragraphs), chapter in zip(BOOK, listed):
        read = read_chapter(book, chapter.number)
        expected = _text(paragraphs, title)
        if layout == "one":  # Gutenberg-style page numbers are not the author's words
            assert "[Pg" not in read.text
        assert read.text == expected, (layout, toc, chapter.number)
        assert read.words == chapter.words == len(expected.split())
        assert read.title == title


def test_anchor_boundaries_in_one_big_file(tmp_path):
    book = write_epub(tmp_path / "big.epub", BOOK, layout="one")
    two = read_chapter(book, 2).text
    assert two.startswith("Chapter I. The Owl\n\nOnce upon")
    assert two.endswith("She read every night.")
    assert "cat" not in two and "A word before" not in two
    last = read_chapter(book, 4).text
    assert last == "Chapter III. The End\n\nAnd that was that."


def test_entities_inline_markup_and_paragraphs(tmp_path):
    paragraphs = [
        "Caf&eacute; &amp; cr&#232;me &#x2014; &ldquo;quoted&rdquo; it&rsquo;s",
        "One <em>emphasised</em> wo<span>rd</span>,\n   spread   over\n lines.",
        "Before a break<br/>after it",
        "<script>var x = 1;</script><style>p { color: red }</style>Visible only",
        "Soft\u00adhyphen and\u00a0nbsp",
    ]
    book = write_epub(tmp_path / "e.epub", [("Marks", paragraphs)], markup=True)
    text = read_chapter(book, 1).text
    assert text.split("\n\n") == [
        "Marks",
        "Café & crème — “quoted” it’s",
        "One emphasised word, spread over lines.",
        "Before a break",
        "after it",
        "Visible only",
        "Softhyphen and nbsp",
    ]


def test_typographic_quotes_are_kept(tmp_path):
    book = write_epub(tmp_path / "q.epub", [("Q", ["“Yes,” she said, ‘quite’ — isn’t it?"])])
    assert "“Yes,” she said, ‘quite’ — isn’t it?" in read_chapter(book, 1).text


def test_no_toc_falls_back_to_one_chapter_per_document(tmp_path):
    book = write_epub(tmp_path / "n.epub", BOOK, toc="none")
    listed = chapters(book)
    assert [c.title for c in listed] == TITLES  # titled by each document's first heading
    assert read_chapter(book, 3).text == _text(BOOK[2][1], BOOK[2][0])


def test_no_toc_skips_documents_without_text(tmp_path):
    book = write_epub(tmp_path / "n.epub", [("Cover", []), *BOOK[1:]], toc="none", markup=False)
    # The cover has a heading only, which is text: it stays a chapter. An empty document does not.
    listed = chapters(book)
    assert [c.title for c in listed] == ["Cover", *TITLES[1:]]


def test_title_lookup(tmp_path):
    book = write_epub(tmp_path / "t.epub", BOOK)
    assert read_chapter(book, "preface").number == 1
    assert read_chapter(book, "CHAPTER II. THE CAT").number == 3  # exact, any case
    assert read_chapter(book, "chapter iii").number == 4  # a unique prefix
    assert read_chapter(book, "the owl").number == 2  # a unique substring
    assert read_chapter(book, "3").number == 3  # digits are a number when no title is exactly that
    with pytest.raises(EpubError, match=r"'chapter' matches 3 chapters: 2 'Chapter I. The Owl'"):
        read_chapter(book, "chapter")
    with pytest.raises(EpubError, match=r"no chapter titled 'Epilogue'; the chapters are 1 'Preface', 2 "):
        read_chapter(book, "Epilogue")


def test_chapter_out_of_range_names_the_count(tmp_path):
    book = write_epub(tmp_path / "r.epub", BOOK)
    for which in (99, 0, -1):
        with pytest.raises(EpubError) as info:
            read_chapter(book, which)
        message = str(info.value)
        assert str(book) in message and "4 chapter(s), numbered 1-4" in message and "\n" not in message


def test_errors_are_one_line_user_errors(tmp_path):
    assert issubclass(EpubError, UserError) and EpubError("x").exit_code == 2
    text = tmp_path / "story.txt"
    text.write_text("Not a book.\n")
    assert not is_epub(text)
    with pytest.raises(EpubError, match=r"story.txt: not an EPUB \(not a zip archive"):
        chapters(text)
    with pytest.raises(EpubError, match="no such file"):
        chapters(tmp_path / "missing.epub")


def test_truncated_zip(tmp_path):
    book = write_epub(tmp_path / "t.epub", BOOK)
    data = book.read_bytes()
    cut = tmp_path / "cut.epub"
    cut.write_bytes(data[: len(data) // 2])
    assert not is_epub(cut)
    with pytest.raises(EpubError, match="cut.epub: not an EPUB .*truncated"):
        chapters(cut)


def test_damaged_member(tmp_path):
    book = write_epub(tmp_path / "d.epub", BOOK)
    data = bytearray(book.read_bytes())
    at = data.index(b"OEBPS/chapter002.xhtml") + len("OEBPS/chapter002.xhtml") + 5  # into its compressed bytes
    data[at : at + 40] = bytes(40)
    bad = tmp_path / "bad.epub"
    bad.write_bytes(bytes(data))
    with pytest.raises(EpubError, match="bad.epub: .*chapter002.xhtml is damaged"):
        for n in range(1, 5):
            read_chapter(bad, n)


def test_missing_container_and_opf(tmp_path):
    bare = tmp_path / "bare.epub"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    assert is_epub(bare)
    with pytest.raises(EpubError, match="bare.epub: not an EPUB \\(no META-INF/container.xml\\)"):
        chapters(bare)
    lost = tmp_path / "lost.epub"
    with zipfile.ZipFile(lost, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
    with pytest.raises(EpubError, match="lost.epub: the package document OEBPS/content.opf is missing"):
        chapters(lost)


def _encryption(*algorithms: str) -> str:
    entries = "".join(
        f'<enc:EncryptedData><enc:EncryptionMethod Algorithm="{a}"/>'
        f'<enc:CipherData><enc:CipherReference URI="OEBPS/file{i}"/></enc:CipherData></enc:EncryptedData>'
        for i, a in enumerate(algorithms)
    )
    return (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        f'xmlns:enc="http://www.w3.org/2001/04/xmlenc#">{entries}</encryption>'
    )


def test_drm_is_refused_font_obfuscation_is_not(tmp_path):
    fonts = _encryption("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")
    ok = write_epub(tmp_path / "fonts.epub", BOOK, extra={"META-INF/encryption.xml": fonts})
    assert [c.title for c in chapters(ok)] == TITLES
    aes = _encryption("http://www.idpf.org/2008/embedding", "http://www.w3.org/2001/04/xmlenc#aes128-cbc")
    locked = write_epub(tmp_path / "aes.epub", BOOK, extra={"META-INF/encryption.xml": aes})
    with pytest.raises(EpubError, match="aes.epub: the book is DRM-protected .*aes128-cbc"):
        chapters(locked)
    rights = write_epub(tmp_path / "rights.epub", BOOK, extra={"META-INF/rights.xml": "<rights/>"})
    with pytest.raises(EpubError, match="rights.epub: the book is DRM-protected"):
        read_chapter(rights, 1)


def test_chapter_without_text(tmp_path):
    book = write_epub(tmp_path / "e.epub", [("Title page", []), ("One", ["Words."])], layout="one")
    listed = chapters(book)
    assert [c.words for c in listed] == [2, 2]  # the headings are text
    empty = write_epub(tmp_path / "empty.epub", [("", [])], toc="none")
    with pytest.raises(EpubError, match="empty.epub: no text"):
        chapters(empty)


def test_toc_entries_sharing_a_document_split_at_their_anchors_only(tmp_path):
    # Two entries point at the same file, the first without an anchor: it holds what lies before the second's.
    book = write_epub(tmp_path / "s.epub", BOOK, layout="one")
    with zipfile.ZipFile(book) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    nav = members["OEBPS/nav.xhtml"].decode().replace('<li><a href="book.xhtml#chap01">', '<li><a href="book.xhtml">')
    members["OEBPS/nav.xhtml"] = nav.encode()
    again = tmp_path / "again.epub"
    with zipfile.ZipFile(again, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert read_chapter(again, 1).text == "Preface\n\nA word before the story."
    assert read_chapter(again, 2).text.startswith("Chapter I. The Owl")


def test_a_long_book_is_quick(tmp_path):
    words = "the quick brown fox jumps over the lazy dog again".split()
    paragraph = " ".join(words * 10)  # 100 words
    long_book = [(f"Chapter {n}", [paragraph] * 50) for n in range(1, 21)]  # 20 x 5,000 words
    for layout in ("files", "one"):
        book = write_epub(tmp_path / f"long-{layout}.epub", long_book, layout=layout)
        start = time.perf_counter()
        listed = chapters(book)
        total = sum(len(read_chapter(book, c.number).text.split()) for c in listed)
        elapsed = time.perf_counter() - start
        assert total == 20 * (5000 + 2)
        assert elapsed < 5.0, elapsed
