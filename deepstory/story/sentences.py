"""Rule-based sentence splitting: no downloaded model, predictable results.

A sentence ends at ``.``, ``!``, ``?``, ``…`` or ``...`` (plus any closing
quotes or brackets) when the next word starts a new sentence: an upper-case
letter, a digit, or an opening quote.  It does not end after a known
abbreviation (``Mr.``, ``Dr.``, ``e.g.``), after a single initial (``J. R.``),
inside a number (``3.5``), or when the next word is lower case
(``"Stop!" he cried.``, ``wait... what``).
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    """mr mrs ms mx dr prof st jr sr sen rep gov gen col capt cpt lt sgt cmdr
    adm rev hon fr sr sra mt ft no nos vs etc e.g i.e cf al approx dept est
    fig inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec
    mon tue wed thu fri sat sun ave blvd rd u.s u.k a.m p.m""".split()
)
OPENERS = "\"'“‘([«"
CLOSERS = "\"'”’)]»"

# Candidate boundary: terminal punctuation, optional closers, then whitespace.
_BOUNDARY = re.compile(r"(\.\.\.|…|[.!?])+[" + re.escape(CLOSERS) + r"]*(?=\s)")


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in OPENERS:
        start -= 1
    return text[start:end]


def _starts_sentence(rest: str) -> bool:
    rest = rest.lstrip()
    if not rest:
        return True
    stripped = rest.lstrip(OPENERS)
    if not stripped:
        return True
    first = stripped[0]
    return first.isupper() or first.isdigit() or (stripped is not rest and not first.islower())


def _is_abbreviation(text: str, match: re.Match[str]) -> bool:
    if match.group(0).rstrip(CLOSERS) != ".":
        return False  # "!", "?", "..." are never abbreviations
    word = _word_before(text, match.start()).lower().rstrip(".")
    if word in ABBREVIATIONS:
        return True
    # A single letter initial such as "J." in "J. R. Tolkien".
    return len(word) == 1 and word.isalpha()


def split_sentences(text: str) -> list[str]:
    """Split one line of text into sentences; whitespace is normalised."""
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if _is_abbreviation(text, match) or not _starts_sentence(text[match.end() :]):
            continue
        piece = text[start : match.end()].strip()
        if piece:
            sentences.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# Pause after a sentence, by its closing punctuation (seconds), as the seed did.
PAUSES = {".": 0.3, ",": 0.15, "!": 0.3, "?": 0.4, "…": 0.6, ":": 0.15, ";": 0.2}
QUOTE_PAUSE = 0.05
LINE_PAUSE = 0.5  # before every line


def pause_after(sentence: str) -> float:
    """Silence after ``sentence``: its last punctuation's pause, plus 0.05 s if quoted."""
    body = sentence.rstrip()
    quoted = False
    while body and body[-1] in CLOSERS:
        quoted = quoted or body[-1] in "\"'”’»"
        body = body[:-1]
    pause = PAUSES["…"] if body.endswith("...") else PAUSES.get(body[-1:], 0.0)
    return pause + (QUOTE_PAUSE if quoted else 0.0)


def limit_length(sentence: str, max_words: int) -> list[str]:
    """Cut a sentence longer than ``max_words`` words into pieces a voice can take in one breath.

    Cuts go after the last comma, semicolon, colon or dash inside the limit;
    with none, after ``max_words`` words.  No word is lost or split.
    """
    words = sentence.split()
    pieces: list[str] = []
    while len(words) > max_words:
        cut = max_words
        for i in range(max_words - 1, max_words // 3, -1):
            if words[i - 1][-1:] in ",;:" or words[i - 1] in ("-", "–", "—"):
                cut = i
                break
        pieces.append(" ".join(words[:cut]))
        words = words[cut:]
    if words:
        pieces.append(" ".join(words))
    return pieces
