"""An EPUB book in, one chapter at a time: its table of contents in reading order, and a chapter's plain text.

Standard library only.  ``META-INF/container.xml`` names the package document
(the OPF); its spine gives the reading order and its table of contents the
chapters: the EPUB 3 navigation document (``<nav epub:type="toc">``), else the
EPUB 2 ``toc.ncx``.  A chapter is one table-of-contents entry; its text runs from
the entry's anchor (``file#id``) to the next entry's anchor, so a book may keep
each chapter in its own file or all of them in one big file (as Project
Gutenberg's do).  A book with no usable table of contents has one chapter per
spine document that holds text.  Entries are listed as they are (front matter
included), numbered from 1 in reading order.

Only one chapter's documents are read at a time, so memory stays flat however
long the book is.  Every problem is one line naming the file (:class:`EpubError`,
a :class:`~deepstory.errors.UserError`).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import unquote
from xml.etree import ElementTree

from deepstory.errors import UserError

MIMETYPE = b"application/epub+zip"
#: Encryption that only obfuscates embedded fonts (IDPF's and Adobe's); the text is readable.
FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html"})
#: The largest document read whole (decompressed): a zip bomb is refused, not swallowed.
MAX_DOCUMENT_BYTES = 64 << 20

BLOCKS = frozenset(
    "p div h1 h2 h3 h4 h5 h6 li blockquote br section article header footer aside ul ol dl dt dd "
    "table tr caption pre hr figure figcaption body address".split()
)
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
SKIPPED = frozenset("script style head template noscript rt rp".split())
PAGE_BREAKS = frozenset({"pagebreak", "doc-pagebreak"})
#: Characters that are not text: soft hyphens and zero-width spaces and joiners are dropped.
INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


class EpubError(UserError, ValueError):
    """An EPUB that cannot be read as asked: one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Chapter:
    """A table-of-contents entry: ``number`` from 1 in reading order, its ``title``, how many ``words`` it holds;
    ``text`` (paragraphs separated by blank lines) is filled by :func:`read_chapter` only, empty in a listing."""

    number: int
    title: str
    words: int
    text: str = ""


def is_epub(path: Path | str) -> bool:
    """Whether ``path`` is a zip archive whose ``mimetype`` member says ``application/epub+zip``."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("mimetype")
            return info.file_size < 100 and zf.read(info).strip() == MIMETYPE
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError):
        return False


def chapters(path: Path | str) -> list[Chapter]:
    """Every chapter of the book at ``path`` with its title and word count (no text kept)."""
    with _Book(path) as book:
        return [
            Chapter(i + 1, entry.title, len(text.split())) for i, (entry, text) in enumerate(book.texts(range_=None))
        ]


def read_chapter(path: Path | str, which: int | str) -> Chapter:
    """One chapter with its text: ``which`` is its number (from 1) or its title.

    A title matches case-insensitively: an exact title first, then a number
    written as digits, then the one title that starts with it, then the one that
    contains it.  No match, several, a number out of range or a chapter without
    text is an :class:`EpubError` listing what there is.
    """
    with _Book(path) as book:
        index = book.find(which)
        ((entry, text),) = book.texts(range_=(index, index + 1))
        if not text:
            raise EpubError(f"{book.name}: chapter {index + 1} ({entry.title!r}) has no text")
        return Chapter(index + 1, entry.title, len(text.split()), text)


@dataclass(frozen=True)
class _Entry:
    """Where a chapter starts: a spine document (its index) and an anchor in it (``None``: its top)."""

    title: str
    doc: int
    fragment: str | None


class _Book:
    """An open EPUB: its spine and chapters; documents are read when asked for, one at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise EpubError(f"{self.name}: no such file")
        if not self.path.is_file():
            raise EpubError(f"{self.name}: not a file")
        try:
            self.zf = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile:
            raise EpubError(f"{self.name}: not an EPUB (not a zip archive, or a truncated one)") from None
        except OSError as exc:
            raise EpubError(f"{self.name}: cannot read: {exc.strerror or exc}") from None
        try:
            self.names = {info.filename: info for info in self.zf.infolist()}
            self._refuse_drm()
            opf = self._rootfile()
            self.spine, toc_doc, toc_ncx = self._package(opf)
            self.entries = self._toc(toc_doc, toc_ncx) or self._fallback()
            if not self.entries:
                raise EpubError(f"{self.name}: no text (no chapter in the table of contents, no document with text)")
        except BaseException:
            self.zf.close()
            raise

    def __enter__(self) -> _Book:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zf.close()

    # -- the archive ------------------------------------------------------------------------------------

    def read(self, member: str, what: str) -> bytes:
        """A member's bytes; a missing, oversized or damaged member is an :class:`EpubError` naming it."""
        info = self.names.get(member)
        if info is None:
            raise EpubError(f"{self.name}: {what} {member} is missing from the archive")
        if info.file_size > MAX_DOCUMENT_BYTES:
            raise EpubError(f"{self.name}: {what} {member} is too large ({info.file_size >> 20} MiB unpacked)")
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise EpubError(f"{self.name}: {what} {member} is damaged ({exc}); the file may be truncated") from None
        except (RuntimeError, NotImplementedError) as exc:
            raise EpubError(f"{self.name}: {what} {member} cannot be unpacked ({exc})") from None

    def xml(self, member: str, what: str) -> ElementTree.Element:
        try:
            return ElementTree.fromstring(self.read(member, what))
        except ElementTree.ParseError as exc:
            raise EpubError(f"{self.name}: {what} {member} is not well-formed XML ({exc})") from None

    def _refuse_drm(self) -> None:
        if "META-INF/rights.xml" in self.names:
            raise EpubError(f"{self.name}: the book is DRM-protected (META-INF/rights.xml); use a DRM-free copy")
        if "META-INF/encryption.xml" not in self.names:
            return
        root = self.xml("META-INF/encryption.xml", "the encryption list")
        for data in _each(root, "EncryptedData"):
            method = data.find("{*}EncryptionMethod")
            algorithm = "" if method is None else method.get("Algorithm", "")
            if algorithm not in FONT_OBFUSCATION:
                raise EpubError(
                    f"{self.name}: the book is DRM-protected (encrypted with {algorithm or 'an unnamed method'}); "
                    "use a DRM-free copy"
                )

    def _rootfile(self) -> str:
        if "META-INF/container.xml" not in self.names:
            raise EpubError(f"{self.name}: not an EPUB (no META-INF/container.xml)")
        container = self.xml("META-INF/container.xml", "the container")
        for rootfile in _each(container, "rootfile"):
            full_path = rootfile.get("full-path")
            if full_path and rootfile.get("media-type", "application/oebps-package+xml").endswith("package+xml"):
                if full_path not in self.names:
                    raise EpubError(f"{self.name}: the package document {full_path} is missing from the archive")
                return full_path
        raise EpubError(f"{self.name}: META-INF/container.xml names no package document (OPF)")

    def _package(self, opf: str) -> tuple[list[str], str | None, str | None]:
        """The spine's documents (archive paths, in reading order), the EPUB 3 navigation document, the NCX."""
        root = self.xml(opf, "the package document")
        base = posixpath.dirname(opf)
        items: dict[str, tuple[str, str, str]] = {}  # id: (path, media type, properties)
        for item in _each(root, "item"):
            if item.get("id") and item.get("href"):
                path = _join(base, item.get("href", ""))
                items[item.get("id", "")] = (path, item.get("media-type", ""), item.get("properties", ""))
        spine_el = root.find("{*}spine")
        if spine_el is None:
            raise EpubError(f"{self.name}: the package document {opf} has no spine (no reading order)")
        spine = []
        for ref in _each(spine_el, "itemref"):
            item_ = items.get(ref.get("idref", ""))
            if item_ is not None and (item_[1] in DOCUMENT_TYPES or item_[0].lower().endswith((".xhtml", ".html"))):
                if item_[0] not in self.names:
                    raise EpubError(f"{self.name}: the spine lists {item_[0]}, which is missing from the archive")
                spine.append(item_[0])
        nav = next((p for p, _, props in items.values() if "nav" in props.split()), None)
        ncx_item = items.get(spine_el.get("toc", "")) or next(
            (v for v in items.values() if v[1] == "application/x-dtbncx+xml"), None
        )
        return spine, nav, None if ncx_item is None else ncx_item[0]

    # -- the chapters -----------------------------------------------------------------------------------

    def _toc(self, nav: str | None, ncx: str | None) -> list[_Entry]:
        """The table of contents, entries pointing into the spine, in reading order; empty if there is none."""
        links: list[tuple[str, str]] = []
        base = ""
        if nav is not None and nav in self.names:
            parser = _NavParser()
            parser.feed(_decode(self.read(nav, "the table of contents")))
            parser.close()
            links, base = parser.links, posixpath.dirname(nav)
        if not links and ncx is not None and ncx in self.names:
            links, base = self._ncx(ncx), posixpath.dirname(ncx)
        where = {doc: i for i, doc in enumerate(self.spine)}
        entries = []
        for title, href in links:
            target, _, fragment = href.partition("#")
            doc = where.get(_join(base, target)) if target else None
            if doc is not None:
                stem = posixpath.splitext(posixpath.basename(self.spine[doc]))[0]
                entries.append(_Entry(title or unquote(fragment) or stem, doc, unquote(fragment) or None))
        entries.sort(key=lambda e: e.doc)  # stable: the table's own order within a document
        return entries

    def _ncx(self, ncx: str) -> list[tuple[str, str]]:
        try:
            root = ElementTree.fromstring(self.read(ncx, "the table of contents"))
        except ElementTree.ParseError:
            return []
        links = []
        for point in _each(root, "navPoint"):
            label = point.find("{*}navLabel/{*}text")
            content = point.find("{*}content")
            if content is not None and content.get("src"):
                title = _words("" if label is None else "".join(label.itertext()))
                links.append((title, content.get("src", "")))
        return links

    def _fallback(self) -> list[_Entry]:
        """No usable table of contents: one chapter per spine document with text, titled by its first heading."""
        entries = []
        for i, doc in enumerate(self.spine):
            parser = _TextParser()
            parser.feed(_decode(self.read(doc, "the document")))
            parser.close()
            if parser.paragraphs:
                title = parser.heading or parser.title or posixpath.splitext(posixpath.basename(doc))[0]
                entries.append(_Entry(title, i, None))
        return entries

    def find(self, which: int | str) -> int:
        """The index of the chapter ``which`` names (see :func:`read_chapter`)."""
        if not isinstance(which, str):
            return self._number(which)
        key = _words(which).casefold()
        if not key:
            raise EpubError(f"{self.name}: an empty chapter title; the chapters are {self._listing()}")
        titles = [e.title.casefold() for e in self.entries]
        exact = [i for i, t in enumerate(titles) if t == key]
        if not exact and key.isdigit():
            return self._number(int(key))
        prefix = [i for i, t in enumerate(titles) if t.startswith(key)]
        inside = [i for i, t in enumerate(titles) if key in t]
        for found in (exact, prefix, inside):
            if len(found) == 1:
                return found[0]
            if found:
                raise EpubError(f"{self.name}: {which!r} matches {len(found)} chapters: {self._listing(found)}")
        raise EpubError(f"{self.name}: no chapter titled {which!r}; the chapters are {self._listing()}")

    def _number(self, which: object) -> int:
        count = len(self.entries)
        if isinstance(which, bool) or not isinstance(which, int):
            raise EpubError(f"{self.name}: a chapter is a number or a title, not {which!r}")
        if not 1 <= which <= count:
            raise EpubError(f"{self.name}: no chapter {which}; the book has {count} chapter(s), numbered 1-{count}")
        return which - 1

    def _listing(self, indices: Sequence[int] | None = None, most: int = 5) -> str:
        chosen = list(range(len(self.entries))) if indices is None else list(indices)
        shown = ", ".join(f"{i + 1} {self.entries[i].title!r}" for i in chosen[:most])
        return shown + (f" and {len(chosen) - most} more" if len(chosen) > most else "")

    def texts(self, range_: tuple[int, int] | None) -> Iterator[tuple[_Entry, str]]:
        """``(entry, plain text)`` of each chapter in ``range_`` (all when ``None``), reading one document
        at a time: a chapter's text runs from its anchor to the next entry's (the end of the spine for the last)."""
        first, stop = range_ if range_ is not None else (0, len(self.entries))
        cached: tuple[int, str] | None = None
        for index in range(first, stop):
            entry = self.entries[index]
            after = self.entries[index + 1] if index + 1 < len(self.entries) else _Entry("", len(self.spine), None)
            paragraphs: list[str] = []
            for doc in range(entry.doc, min(after.doc, len(self.spine) - 1) + 1):
                if cached is None or cached[0] != doc:
                    cached = (doc, _decode(self.read(self.spine[doc], "the document")))
                html = cached[1]
                lo = _offset(html, entry.fragment) if doc == entry.doc else 0
                hi = _offset(html, after.fragment) if doc == after.doc else len(html)
                if hi > lo:
                    parser = _TextParser()
                    parser.feed(html[lo:hi])
                    parser.close()
                    paragraphs += parser.paragraphs
            yield entry, "\n\n".join(paragraphs)


def _join(base: str, href: str) -> str:
    """An href (relative to the document at ``base``, percent-encoded) as an archive path."""
    return posixpath.normpath(posixpath.join(base, unquote(href.partition("#")[0]))).lstrip("/")


def _each(root: ElementTree.Element, name: str) -> Iterator[ElementTree.Element]:
    """Every element named ``name`` (in any namespace) under ``root``, in document order."""
    return (el for el in root.iter() if isinstance(el.tag, str) and el.tag.rpartition("}")[2] == name)


def _words(text: str) -> str:
    return " ".join(text.translate(INVISIBLE).split())


_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _decode(data: bytes) -> str:
    """A document's text: a byte-order mark or the XML declaration's encoding, else UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    match = _ENCODING.match(data.lstrip(b"\xef\xbb\xbf"))
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding, "replace")
    except LookupError:
        return data.decode("utf-8-sig", errors="replace")


def _offset(html: str, fragment: str | None) -> int:
    """Where the element with id (or name) ``fragment`` starts in ``html``; 0 (the top) without one or when absent."""
    if not fragment:
        return 0
    pattern = r"""<[A-Za-z][^<>]*?(?<![\w:.-])(?:id|name)\s*=\s*(["'])""" + re.escape(fragment) + r"\1"
    match = re.search(pattern, html)
    return 0 if match is None else match.start()


class _TextParser(HTMLParser):
    """XHTML -> paragraphs of plain text: one per block element, whitespace collapsed, entities decoded,
    scripts, styles, the head and page-break markers left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.heading: str | None = None  # the first heading's text
        self.title: str | None = None  # the document's <title>
        self._buffer: list[str] = []
        self._skip: tuple[str, int] | None = None  # the skipped element and how deep in it
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        marks = " ".join(v or "" for k, v in attrs if k in ("epub:type", "role", "class")).split()
        if tag in SKIPPED or PAGE_BREAKS.intersection(marks) or "pagenum" in marks:
            self._skip = (tag, 1)
        elif tag in BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] - 1) if self._skip[1] > 1 else None
            return
        if tag in BLOCKS:
            text = self._flush()
            if tag in HEADINGS and text and self.heading is None:
                self.heading = text

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = _words((self.title or "") + " " + data) or None
        if self._skip is None:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> str:
        text = _words("".join(self._buffer))
        self._buffer.clear()
        if text:
            self.paragraphs.append(text)
        return text


class _NavParser(HTMLParser):
    """The links of an EPUB 3 navigation document's ``<nav epub:type="toc">``: ``(title, href)`` in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._depth = 0  # how deep inside the toc nav (0: outside)
        self._done = False
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._done:
            return
        if tag == "nav":
            marks = " ".join(v or "" for k, v in attrs if k in ("epub:type", "role")).split()
            if self._depth or "toc" in marks or "doc-toc" in marks:
                self._depth += 1
        elif tag == "a" and self._depth:
            self._href = dict(attrs).get("href") or None
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._depth:
            self._depth -= 1
            self._done = self._depth == 0
        elif tag == "a" and self._href is not None:
            self.links.append((_words("".join(self._text)), self._href))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
