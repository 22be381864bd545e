"""A story file as the story stage reads it: a tagged script as it is, a book's prose attributed to its speakers.

* ``format: tagged``: the file is in the story format (``Name: text`` lines), read as before.
* ``format: prose``: the file is a book's prose (or an EPUB): its quotes are attributed
  (:func:`deepstory.script.attribute`) and written as tagged lines, one utterance per line:
  ``Name|"the quote"`` for a character, ``<narrator>|the narration`` for the rest.
* ``format: auto`` (the default): an EPUB is prose; a text file is prose where it has quoted dialogue
  and is not already tagged (:func:`deepstory.script.looks_like_prose`).

An EPUB is read by chapter (``chapter``: its number from 1 or its title; :mod:`deepstory.script.epub`).
Nothing here writes a file: the attribution happens again on every read (a chapter takes milliseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepstory.errors import StoryError, UserError
from deepstory.files import read_yaml

#: Markdown's emphasis marks around words (``_you_``, ``*never*``): not spoken.
EMPHASIS = re.compile(r"(?<![\w*_])[*_]+(?=\w)|(?<=\w)[*_]+(?![\w*_])")

#: ``story.format``'s values.
FORMATS = ("auto", "tagged", "prose")


@dataclass(frozen=True)
class Source:
    """What a story file holds, ready for the story parser."""

    path: Path
    text: str  # in the tagged story format
    prose: bool  # attributed from prose (the script tells who said what and why)
    script: Any = None  # the deepstory.script.Script of a prose file
    title: str = ""  # the EPUB chapter's title
    warnings: tuple[str, ...] = ()


def decode(data: bytes, path: Path, encoding: str) -> str:
    """``data`` decoded (BOM dropped), or a one-line error naming ``story.text_path`` and the byte."""
    try:
        "".encode(encoding)
    except LookupError:
        raise UserError(f"story.encoding={encoding!r}: unknown encoding") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"story.text_path={path}: not valid {encoding} at byte {exc.start} (set story.encoding=...)"
        ) from exc
    return text.lstrip("\ufeff")


def _aliases(path: str | None) -> dict | None:
    """The alias table at ``path`` (YAML, as ``python -m deepstory.script`` writes it), or None."""
    if path is None:
        return None
    file = Path(str(path)).expanduser()
    table = read_yaml(file, "story.aliases", "a YAML alias table")
    if table is None:
        return {}
    if not isinstance(table, dict) or any(not isinstance(v, (dict, type(None))) for v in table.values()):
        raise UserError(f"story.aliases={file}: a mapping of character -> {{aliases: [...], gender: ...}}")
    return table


def script_lines(script: Any, narrator: str) -> list[tuple[str, Any]]:
    """The script's utterances as lines of the story format (``Name|text``), each with the quote it is (None for
    narration); utterances with nothing left to say are dropped."""
    out = []
    for speaker, text, quote in script.utterances():
        # A "|" would be read as a second speaker separator, and no voice says it.
        text = " ".join(EMPHASIS.sub("", str(text)).replace("|", " ").split())
        if text:
            out.append((f"{narrator if speaker is None else speaker}|{text}", quote))
    return out


def tagged_lines(script: Any, narrator: str) -> str:
    """The script in the story format: each utterance on its own line, its speaker before a ``|``."""
    lines = [line for line, _ in script_lines(script, narrator)]
    return "\n".join(lines) + ("\n" if lines else "")


def load(
    text_path: str | Path,
    encoding: str = "utf-8",
    chapter: int | str | None = None,
    format: str = "auto",
    aliases: str | None = None,
    narrator: str = "Narrator",
) -> Source:
    """The story at ``text_path`` as tagged text (see the module); every problem is one line naming the setting."""
    path = Path(str(text_path)).expanduser()
    if format not in FORMATS:
        raise UserError(f"story.format={format!r}: must be one of {', '.join(FORMATS)}")
    if path.is_dir():
        raise UserError(f"story.text_path={path}: is a directory, not a text file")
    if not path.is_file():
        raise UserError(f"story.text_path={path}: no such file")
    from deepstory.script.epub import is_epub, read_chapter

    title = ""
    if is_epub(path):
        if format == "tagged":
            raise UserError(f"story.format=tagged: story.text_path={path} is an EPUB (a book's prose)")
        if chapter is None:
            from deepstory.script.epub import chapters

            listing = chapters(path)
            shown = ", ".join(f"{c.number} {c.title!r}" for c in listing[:6])
            more = f", ... ({len(listing)} in all)" if len(listing) > 6 else ""
            raise UserError(f"story.chapter: {path.name} is an EPUB; choose a chapter: {shown}{more}")
        found = read_chapter(path, chapter)
        text, title, prose = found.text, found.title, True
    else:
        if chapter is not None:
            raise UserError(f"story.chapter={chapter!r}: {path.name} is not an EPUB (chapters are an EPUB's)")
        text = decode(path.read_bytes(), path, encoding)
        from deepstory.script import looks_like_prose

        prose = format == "prose" or (format == "auto" and looks_like_prose(text))
    if not prose:
        return Source(path, text, False)
    from deepstory.script import attribute

    try:
        script = attribute(text, _aliases(aliases))
    except ValueError as exc:
        raise StoryError(f"story.aliases={aliases}: {exc}") from None
    return Source(path, tagged_lines(script, narrator), True, script, title, tuple(script.warnings))


def speakers_of(source: Source, narrator: str) -> list[tuple[str, str | None, int]]:
    """A prose story's characters as ``(name, gender, lines)``, most lines first (the narrator left out)."""
    if source.script is None:
        return []
    chars = [(c.name, c.gender, int(c.lines)) for c in source.script.characters if c.lines > 0 and c.name != narrator]
    return sorted(chars, key=lambda c: -c[2])
