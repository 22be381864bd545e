"""The tagged story format's line grammar: ``Name: text`` or ``Name|text`` is spoken by ``Name``.

Shared by the story parser (:mod:`deepstory.story.parse`) and the prose reader
(:func:`deepstory.script.looks_like_prose`, which tells a book's prose from a tagged script).
``Name:`` counts as a speaker prefix only when the name looks like one (1 to 4
words, each starting with a capital letter, no digits) or names a known speaker;
``|`` always separates a speaker.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

_PREFIX = re.compile(r"^\s*([^:|]{1,64}?)\s*([:|])\s*(.*)$", re.S)


def norm(name: str) -> str:
    """A name as names are compared: Unicode-normalised (NFKC), case-folded, trimmed."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def _looks_like_name(name: str) -> bool:
    words = name.split()
    return 1 <= len(words) <= 4 and all(w[0].isupper() and not any(c.isdigit() for c in w) for w in words)


def split_line(line: str, known: Iterable[str] = ()) -> tuple[str, str]:
    """Return ``(character, text)``; character is ``""`` for narration."""
    match = _PREFIX.match(line)
    if match:
        name, sep, text = match.group(1).strip(), match.group(2), match.group(3)
        if sep == "|" or _looks_like_name(name) or norm(name) in {norm(k) for k in known}:
            return name, text.strip()
    return "", line.strip()
