"""Prose -> paragraphs of spans (quotes and narration), with 1-based source line numbers.

Paragraphs are separated by blank lines.  Quotes are found with the book's own convention,
detected per text: double quotes (straight ``"`` or curly “ ”) or, where double quotes are rare
and ‘…’ / '…' dialogue is common, single quotes (apostrophes such as ``don't``, ``'tis`` and
``the Smiths'`` are told apart from quote marks).  Quotes of the other kind inside a quote are
nested quotes and stay part of its text.  A quote left open at the end of a paragraph continues
into the next one when that paragraph opens a quote again (the classic convention) or closes
one before opening any (a quote broken by an indented verse); otherwise it is unbalanced: the
text still comes out, with a warning naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# words that begin with an elided letter in dialect and verse: 'tis, 'em, 'long
ELISIONS = frozenset(
    "tis twas twere twill twould em im er ere nuff cause bout round long pears fraid deed lowed low "
    "n a tain taint gainst mongst neath scuse spec tend un ud ll ve re d s t m til".split()
)

CAPITAL_ELISIONS = frozenset("tis twas twere twill twould nuff deed cause bout tain taint".split())

DOUBLE_OPEN, DOUBLE_CLOSE, DOUBLE_BOTH = "“", "”", '"'
SINGLE_OPEN, SINGLE_CLOSE, SINGLE_BOTH = "‘", "’", "'"


@dataclass
class Span:
    text: str
    quote: bool
    line: int  # 1-based line of the span's first character
    opened: bool = True  # a quote: began with an opening mark (not a continuation of the paragraph before)


@dataclass
class Paragraph:
    line: int
    spans: list[Span] = field(default_factory=list)
    continues: bool = False  # its first quote continues the last quote of the paragraph before

    @property
    def quotes(self) -> list[Span]:
        return [s for s in self.spans if s.quote]


def paragraphs(text: str) -> list[tuple[int, str]]:
    """``(first line, text)`` of each blank-line separated paragraph; inner newlines kept."""
    out: list[tuple[int, str]] = []
    start = 0
    buf: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not buf:
                start = number
            buf.append(line)
        elif buf:
            out.append((start, "\n".join(buf)))
            buf = []
    if buf:
        out.append((start, "\n".join(buf)))
    return out


def _is_space(c: str) -> bool:
    return c == "" or c.isspace()


def _opens(par: str, i: int, single: bool) -> bool:
    """Can the straight or curly mark at ``i`` open a quote (by its neighbours)?"""
    before = par[i - 1] if i else ""
    after = par[i + 1] if i + 1 < len(par) else ""
    if _is_space(after):
        return False
    if single:
        if before.isalnum():
            return False  # don't, Smiths'
        word = re.match(r"[A-Za-z]+", par[i + 1 :])
        if word and par[i] != SINGLE_OPEN:
            w = word.group(0)
            if w.lower() in ELISIONS and (w.islower() or w.lower() in CAPITAL_ELISIONS):
                return False
    return _is_space(before) or before in "([{—–-_*\"“'‘:;,"


def _closes(par: str, i: int, single: bool) -> bool:
    before = par[i - 1] if i else ""
    after = par[i + 1] if i + 1 < len(par) else ""
    if _is_space(before) and not _is_space(after):
        return False
    return not (single and before.isalnum() and after.isalnum())  # not an apostrophe inside a word


def _marks(style: str) -> tuple[str, str, str]:
    return (SINGLE_OPEN, SINGLE_CLOSE, SINGLE_BOTH) if style == "single" else (DOUBLE_OPEN, DOUBLE_CLOSE, DOUBLE_BOTH)


def quote_style(text: str) -> str:
    """``"double"`` unless double quotes are rare and single-quoted dialogue is common."""
    doubles = sum(text.count(c) for c in (DOUBLE_OPEN, DOUBLE_CLOSE, DOUBLE_BOTH))
    singles = 0
    for _, par in paragraphs(text):
        for m in re.finditer("['‘]", par):
            if _opens(par, m.start(), single=True):
                singles += 1
    return "single" if singles >= 3 and singles > doubles else "double"


def _scan(par: str, style: str, open_at_start: bool) -> tuple[list[tuple[int, int, bool, bool]], bool, list[int]]:
    """Quote character ranges ``(start, end, opened, closed)`` in a paragraph, whether a quote is open
    at its end, and offsets of stray closing marks."""
    single = style == "single"
    op, cl, both = _marks(style)
    ranges: list[tuple[int, int, bool, bool]] = []
    stray: list[int] = []
    inside, start, opened = open_at_start, 0, False
    marks = [m.start() for m in re.finditer(f"[{re.escape(op + cl + both)}]", par)]
    for n, i in enumerate(marks):
        c = par[i]
        if not inside:
            if c != cl and _opens(par, i, single):
                inside, start, opened = True, i + 1, True
            elif c == cl and not single:
                stray.append(i)
            continue
        if c == op or not _closes(par, i, single):
            continue
        if single and re.search(r"(?:^|\s)['‘][a-z]{1,3}$", par[max(0, i - 5) : i]):
            continue  # the end of an elided word: I'd never 'a' guessed
        if single and par[i - 1 : i] == "s" and c == both and any(par[j] != op for j in marks[n + 1 :]):
            nxt = re.match(r"\s+([a-z])", par[i + 1 :])
            if nxt:  # the Smiths' house: a plural possessive inside the quote, a later mark closes it
                continue
        ranges.append((start, i, opened, True))
        inside = False
    if inside:
        ranges.append((start, len(par), opened, False))
    return ranges, inside, stray


def _first_mark_closes(par: str, style: str) -> bool | None:
    """Does the first quote mark of a paragraph close a quote (True), open one (False); None: no mark."""
    op, cl, both = _marks(style)
    for m in re.finditer(f"[{re.escape(op + cl + both)}]", par):
        i = m.start()
        if par[i] == op or _opens(par, i, style == "single"):
            return False
        if _closes(par, i, style == "single"):
            return True
    return None


def _line_at(par: str, offset: int, first_line: int) -> int:
    return first_line + par.count("\n", 0, offset)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split(text: str, style: str | None = None) -> tuple[list[Paragraph], list[str]]:
    """Paragraphs with their quote and narration spans, and warnings (one line each, naming the line)."""
    style = style or quote_style(text)
    pars = paragraphs(text)
    out: list[Paragraph] = []
    warnings: list[str] = []
    carry = False  # a quote from the paragraph before is still open
    opened_line = 0
    for k, (first, par) in enumerate(pars):
        reopens = carry and par.lstrip()[:1] in _marks(style)
        ranges, open_at_end, stray = _scan(par, style, carry and not reopens)
        if reopens and ranges:  # classic convention: the continued quote opens again
            ranges[0] = (ranges[0][0], ranges[0][1], False, ranges[0][3])
        for i in stray:
            warnings.append(f"line {_line_at(par, i, first)}: closing quote without an opening one")
        paragraph = Paragraph(line=first, continues=carry)
        pos = 0
        for start, end, opened, _closed in ranges:
            lead = par[pos:start]
            if lead[-1:] in _marks(style):
                lead = lead[:-1]
            if _clean(lead):
                paragraph.spans.append(
                    Span(_clean(lead), False, _line_at(par, pos + len(lead) - len(lead.lstrip()), first))
                )
            body = par[start:end]
            if _clean(body):
                at = start + len(body) - len(body.lstrip())
                paragraph.spans.append(Span(_clean(body), True, _line_at(par, at, first), opened))
            if opened or reopens:
                opened_line = _line_at(par, start, first)
            pos = end + 1
        tail = par[pos:]
        if _clean(tail):
            paragraph.spans.append(
                Span(_clean(tail), False, _line_at(par, pos + len(tail) - len(tail.lstrip()), first))
            )
        out.append(paragraph)
        carry = open_at_end and _continues(pars, k, style)
        if open_at_end and not carry:
            warnings.append(f"line {opened_line}: quote not closed by the end of its paragraph")
    return out, warnings


def _continues(pars: list[tuple[int, str]], k: int, style: str) -> bool:
    """An open quote at the end of paragraph ``k`` goes on: the next paragraph with a quote mark (within
    three) opens one (classic convention) or closes one first (a quote broken by indented verse)."""
    for j in range(k + 1, min(k + 4, len(pars))):
        verdict = _first_mark_closes(pars[j][1], style)
        if verdict is None:
            continue
        if verdict:
            return True
        # classic convention: the next paragraph reopens at once
        return j == k + 1 and pars[j][1].lstrip()[:1] in _marks(style)
    return False
