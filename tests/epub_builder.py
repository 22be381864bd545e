"""Small EPUB books written in a test: a list of ``(title, paragraphs)`` in, a valid EPUB file out.

``toc``: ``"nav"`` (EPUB 3 navigation document), ``"ncx"`` (EPUB 2 ``toc.ncx``),
``"both"`` or ``"none"``.  ``layout``: ``"files"`` (one XHTML file per chapter)
or ``"one"`` (every chapter in one big file, the table of contents pointing at
anchors inside it, as Project Gutenberg's books do).  ``markup=True`` writes
paragraphs as XHTML as they are (entities, inline tags); otherwise they are escaped.
``extra`` adds members (``META-INF/encryption.xml`` ...).
"""

from __future__ import annotations

import html
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

Chapters = Sequence[tuple[str, Sequence[str]]]

XHTML_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">\n'
    "<head><title>{title}</title><style>p {{ text-indent: 1em; }}</style></head>\n<body>\n"
)
XHTML_TAIL = "</body>\n</html>\n"
CONTAINER = (
    '<?xml version="1.0"?>\n<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
    '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>\n'
    "</container>\n"
)


def _paragraphs(paragraphs: Sequence[str], markup: bool) -> str:
    return "".join(f"<p>{p if markup else html.escape(p, quote=False)}</p>\n" for p in paragraphs)


def _documents(chapters: Chapters, layout: str, markup: bool) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``{file name: XHTML}`` in reading order and the table of contents ``[(title, href)]``."""
    if layout == "files":
        docs, toc = {}, []
        for n, (title, paragraphs) in enumerate(chapters, 1):
            body = f"<h1>{html.escape(title)}</h1>\n{_paragraphs(paragraphs, markup)}"
            docs[f"chapter{n:03d}.xhtml"] = XHTML_HEAD.format(title=html.escape(title)) + body + XHTML_TAIL
            toc.append((title, f"chapter{n:03d}.xhtml"))
        return docs, toc
    if layout == "one":
        parts, toc = [], []
        for n, (title, paragraphs) in enumerate(chapters, 1):
            parts.append(
                f'<div class="chapter">\n<h2><a id="chap{n:02d}"></a>{html.escape(title)}</h2>\n'
                f'<p><span class="pagenum"><a id="Page_{n}">[Pg {n}]</a></span></p>\n'
                f"{_paragraphs(paragraphs, markup)}</div>\n"
            )
            toc.append((title, f"book.xhtml#chap{n:02d}"))
        return {"book.xhtml": XHTML_HEAD.format(title="The Book") + "".join(parts) + XHTML_TAIL}, toc
    raise ValueError(f"layout={layout!r}")


def _nav(toc: list[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>\n' for title, href in toc)
    return (
        XHTML_HEAD.format(title="Contents")
        + '<nav epub:type="landmarks"><ol><li><a href="nowhere.xhtml">Landmark</a></li></ol></nav>\n'
        + f'<nav epub:type="toc" id="toc"><h1>Contents</h1>\n<ol>\n{items}</ol></nav>\n'
        + XHTML_TAIL
    )


def _ncx(toc: list[tuple[str, str]]) -> str:
    points = "".join(
        f'<navPoint id="p{n}" playOrder="{n}"><navLabel><text>{html.escape(title)}</text></navLabel>'
        f'<content src="{html.escape(href)}"/></navPoint>\n'
        for n, (title, href) in enumerate(toc, 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">\n'
        f"<head/><docTitle><text>The Book</text></docTitle><navMap>\n{points}</navMap></ncx>\n"
    )


def _opf(docs: Sequence[str], toc: str) -> str:
    manifest = "".join(f'<item id="d{i}" href="{d}" media-type="application/xhtml+xml"/>\n' for i, d in enumerate(docs))
    if toc in ("nav", "both"):
        manifest += '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>\n'
    if toc in ("ncx", "both"):
        manifest += '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>\n'
    manifest += '<item id="css" href="style.css" media-type="text/css"/>\n'
    spine = "".join(f'<itemref idref="d{i}"/>\n' for i in range(len(docs)))
    spine_toc = ' toc="ncx"' if toc in ("ncx", "both") else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">\n'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">test-book</dc:identifier>'
        "<dc:title>The Book</dc:title><dc:language>en</dc:language></metadata>\n"
        f"<manifest>\n{manifest}</manifest>\n"
        f"<spine{spine_toc}>\n{spine}</spine>\n"
        "</package>\n"
    )


def write_epub(
    path: Path | str,
    chapters: Chapters,
    *,
    toc: str = "nav",
    layout: str = "files",
    markup: bool = False,
    extra: Mapping[str, bytes | str] | None = None,
) -> Path:
    """Write an EPUB with these chapters to ``path`` (see the module docstring) and return its path."""
    path = Path(path)
    docs, entries = _documents(chapters, layout, markup)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # first and stored, as the format asks
        zf.writestr("META-INF/container.xml", CONTAINER, zipfile.ZIP_DEFLATED)
        zf.writestr("OEBPS/content.opf", _opf(list(docs), toc), zipfile.ZIP_DEFLATED)
        zf.writestr("OEBPS/style.css", "p { margin: 0; }\n", zipfile.ZIP_DEFLATED)
        for name, text in docs.items():
            zf.writestr(f"OEBPS/{name}", text, zipfile.ZIP_DEFLATED)
        if toc in ("nav", "both"):
            zf.writestr("OEBPS/nav.xhtml", _nav(entries), zipfile.ZIP_DEFLATED)
        if toc in ("ncx", "both"):
            zf.writestr("OEBPS/toc.ncx", _ncx(entries), zipfile.ZIP_DEFLATED)
        for name, data in (extra or {}).items():
            zf.writestr(name, data, zipfile.ZIP_DEFLATED)
    return path
