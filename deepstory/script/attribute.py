"""Quotes in prose -> their speakers, by a deterministic sieve (after Muzny et al. 2017).

For each paragraph, in reading order, each quote is tried against these rules; the first that decides wins:

1. an explicit tag after the quote: ``said Elizabeth``, ``the Hatter said``, ``said he``, ``cried his wife``;
2. an explicit tag before it: ``Tom said:``, ``Said she:``, or a narration paragraph ending in a colon;
3. the paragraph: a quote shares the speaker of a tagged quote in the same paragraph (an interrupted
   quote, a quote continued from the paragraph before);
4. a vocative: a quote answering one that addressed someone by name (``..., Lizzy?``) is that person's;
5. turn-taking: an untagged exchange alternates between its last two speakers, a name addressed in the
   quote itself never being its speaker.

Pronouns go to the latest character of that gender mentioned (subjects first); ``his wife``, ``her
mother`` to Mrs. <surname> of the possessor or of the family the book is about.  Narration and tags
belong to the narrator (speaker ``None``).  State (mentions, turns) starts afresh at each chapter.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from deepstory.script import characters as ch
from deepstory.script.prose import Paragraph, Span, split

PRONOUNS = {"he": "male", "she": "female", "it": None, "they": "group"}
RELATIONS = {
    "wife": "female", "lady": "female", "mother": "female", "mamma": "female", "husband": "male",
    "father": "male", "papa": "male",
}  # fmt: skip
GROUP = r"(?:(?:quite\s+)?a\s+chorus(?:\s+of\s+voices)?|the\s+others(?:\s+all)?|the\s+whole\s+party|everybody|everyone|both|all)"
ADV = r"(?:\s+(?:\w+ly|again|then|only|was|had|at\s+once|now))*"
SENTENCE_END = re.compile(r"(?<!\bMr)(?<!\bMrs)(?<!\bDr)(?<!\bSt)(?<!\bMs)[.!?]+[)\]]?\s+")
CHAPTER = re.compile(r"^\s*(?:#+\s|chapter\b|book\b|part\b)", re.I)


@dataclass
class Segment:
    text: str
    speaker: str | None  # None: the narrator
    quote: bool
    confidence: float
    evidence: str
    line: int
    paragraph: int = 0  # index of its paragraph in the text


Character = ch.Character


@dataclass
class Script:
    segments: list[Segment]
    characters: list[Character]
    warnings: list[str] = field(default_factory=list)

    def alias_table(self) -> dict[str, dict[str, Any]]:
        """The editable table: canonical name -> {"aliases": [...], "gender": ...}."""
        return {c.name: {"aliases": list(c.aliases), "gender": c.gender} for c in self.characters}

    def story_lines(self) -> list[tuple[str | None, str]]:
        """One utterance a line: each quote alone, a paragraph's consecutive narration kept together."""
        out: list[tuple[str | None, str]] = []
        previous: Segment | None = None
        for seg in self.segments:
            joins = previous is not None and not seg.quote and not previous.quote
            if joins and previous is not None and previous.paragraph == seg.paragraph:
                out[-1] = (None, out[-1][1] + " " + seg.text)
            else:
                out.append((seg.speaker if seg.quote else None, seg.text))
            previous = seg
        return out


@dataclass
class _Tag:
    speaker: str | None
    confidence: float
    evidence: str


class _Cast:
    """The characters and the ways to name them in a text."""

    def __init__(self, table: dict[str, dict[str, Any]]):
        self.characters = ch.from_table(table)
        self.by_name = {c.name: c for c in self.characters}
        self._index()

    def _index(self) -> None:
        self.alias_of: dict[str, str] = {}
        for c in self.characters:
            for a in c.aliases:
                self.alias_of.setdefault(a, c.name)
        names = sorted(self.alias_of, key=len, reverse=True)
        alt = "|".join(re.escape(a) for a in names) or r"(?!x)x"
        self.name_re = re.compile(rf"\b(?:the\s+(?:[a-z]+\s+)?)?({alt})\b(?!'s|’s)")
        self.mention_re = re.compile(rf"\b({alt})\b")
        subj = rf"(?:(?:the\s+(?:[a-z]+\s+)?)?(?:{alt})\b(?!'s|’s)|he|she|it|they|(?:his|her)\s+(?:{'|'.join(RELATIONS)})|{GROUP})"
        self.after_re = re.compile(
            rf"^[\s,;:.!?—–\-(]*(?:(?P<v1>{ch.VERB}){ADV},?\s+(?P<s1>{subj})|(?P<s2>{subj}(?:\s+and\s+{subj})?){ADV}\s+(?P<v2>{ch.VERB}))",
        )
        self.subj_re = re.compile(rf"\b({subj})\b", re.I)
        self.frequency: Counter[str] = Counter()
        surnames = Counter(c.name.split()[-1] for c in self.characters if ch.title_gender(c.name))
        self.family = surnames.most_common(1)[0][0] if surnames else None

    def add(self, name: str, gender: str | None) -> str:
        if name not in self.by_name:
            c = Character(name=name, aliases=[name], gender=gender)
            self.characters.append(c)
            self.by_name[name] = c
            self._index()
        return name

    def gender(self, name: str | None) -> str | None:
        return self.by_name[name].gender if name in self.by_name else None


class _State:
    def __init__(self) -> None:
        self.mentions: deque[tuple[str, bool]] = deque(maxlen=40)  # (character, in subject position)
        self.history: list[str | None] = []  # speakers of recent quote paragraphs in this exchange
        self.last_vocatives: list[str] = []
        self.last_line = 0
        self.narration_since = ""  # narration (not tags) since the last quote paragraph

    def mention(self, name: str, subject: bool) -> None:
        self.mentions.append((name, subject))

    def latest(self, cast: _Cast, gender: str | None, exclude: set[str] | frozenset[str] = frozenset()) -> str | None:
        def fits(name: str) -> bool:
            g = cast.gender(name)
            if name in exclude:
                return False
            if gender is None:  # "it": anyone not known to be a he or a she, else anyone
                return g is None
            return g == gender or g is None

        for subject_only in (True, False):
            for name, subject in reversed(self.mentions):
                if (subject or not subject_only) and fits(name) and (gender is not None or cast.gender(name) is None):
                    return name
        if gender is None:
            for name, _ in reversed(self.mentions):
                if name not in exclude:
                    return name
        # no antecedent yet (a chapter opening on "she"): the character of that gender the book names most
        return next(
            (n for n, _ in cast.frequency.most_common() if n not in exclude and fits(n) and cast.gender(n) == gender),
            None,
        )


def _resolve(subject: str, cast: _Cast, state: _State, exclude: set[str]) -> _Tag | None:
    words = subject.split()
    low = subject.lower()
    if " and " in subject or low == "they" or re.fullmatch(GROUP, low):
        return _Tag(None, 0.7, f"group tag '{subject}'")
    if low in PRONOUNS:
        name = state.latest(cast, PRONOUNS[low], exclude)
        return _Tag(name, 0.8, f"pronoun '{subject}' -> latest {PRONOUNS[low] or 'it'} mentioned") if name else None
    if words[0].lower() in ("his", "her") and words[-1].lower() in RELATIONS:
        owner = state.latest(cast, "male" if words[0].lower() == "his" else "female")
        name = _relative(owner, words[-1].lower(), cast)
        return _Tag(name, 0.8, f"relation '{subject}' of {owner}") if name else None
    match = cast.name_re.search(subject)
    if match:
        return _Tag(cast.alias_of[match.group(1)], 0.95, f"tag names '{match.group(1)}'")
    return None


def _relative(owner: str | None, relation: str, cast: _Cast) -> str | None:
    female = RELATIONS[relation] == "female"
    surname = None
    if owner and (ch.title_gender(owner) or len(owner.split()) > 1):
        surname = owner.split()[-1]
    if relation in ("father", "mother", "papa", "mamma") or surname is None:
        surname = surname or cast.family
    if surname is None:
        return None
    return cast.add(("Mrs. " if female else "Mr. ") + surname, "female" if female else "male")


def _vocatives(quote: str, cast: _Cast) -> list[str]:
    out = []
    for m in cast.name_re.finditer(quote):
        before = quote[: m.start()].rstrip()
        after = quote[m.end() :].lstrip()
        head = before == "" or before[-1] in ",!?.;-—" or re.search(r"\b(?:dear|my|oh|O)$", before, re.I)
        tail = after == "" or after[0] in ",!?.;-—"
        if head and tail and not m.group(0).lower().startswith("the "):
            out.append(cast.alias_of[m.group(1)])
    return out


def _after_tag(narration: str, cast: _Cast, state: _State, exclude: set[str]) -> _Tag | None:
    m = cast.after_re.match(narration)
    if not m:
        return None
    subject = m.group("s1") or m.group("s2")
    tag = _resolve(subject, cast, state, exclude)
    if tag:
        tag.evidence += f": '{m.group(0).strip(' ,;:')}'"
    return tag


def _last_sentence(text: str) -> str:
    parts = SENTENCE_END.split(text.strip())
    return parts[-1] if parts else text


def _before_tag(narration: str, cast: _Cast, state: _State, exclude: set[str], colon_rule: bool) -> _Tag | None:
    text = narration.rstrip()
    sentence = _last_sentence(text)
    verb = re.search(rf"\b{ch.VERB}\b", sentence, re.I)
    ends = text.endswith((":", ",", "--", "—")) or bool(re.search(rf"\b{ch.VERB}$", text))
    ends = ends or bool(re.search(r"\b(?:saying|calling|asking|remarking|crying|adding)\b(?:\s+\w+){0,5}$", text))
    if not ends or not (verb or (colon_rule and text.endswith((":", "--", "—")))):
        return None
    inverted = re.match(rf"^\W*{ch.VERB}\s+(he|she|it|they)\b", sentence, re.I)
    found = inverted.group(1) if inverted else None
    if not found:
        for m in cast.subj_re.finditer(sentence):
            if verb is None or m.start() < verb.start():
                found = m.group(1)
                if verb is None:
                    break
    if not found:
        return None
    tag = _resolve(
        found
        if found.split()[0] in ("the", "The") or found[0].isupper() and found.lower() not in PRONOUNS
        else found.lower(),
        cast,
        state,
        exclude,
    )
    if tag:
        tag.confidence -= 0.05 if verb else 0.15
        tag.evidence += f" before the quote: '{sentence[-60:]}'"
    return tag


def _mentions(text: str, cast: _Cast, state: _State) -> None:
    for m in cast.mention_re.finditer(text):
        before = text[: m.start()].rstrip()
        subject = before == "" or before[-1] in ".!?;:" or bool(re.search(r"\b(?:and|but|then|so|when)$", before, re.I))
        state.mention(cast.alias_of[m.group(1)], subject)


def _paragraph(par: Paragraph, index: int, prev: Paragraph | None, cast: _Cast, state: _State) -> list[Segment]:  # noqa: C901 (to be split into named steps)
    spans = par.spans
    tags: list[_Tag | None] = [None] * len(spans)
    used: set[int] = set()  # narration spans read as tags
    vocs: dict[int, list[str]] = {}
    for i, span in enumerate(spans):
        if not span.quote:
            _mentions(span.text, cast, state)
            continue
        vocs[i] = _vocatives(span.text, cast)
        exclude = set(vocs[i])
        after = spans[i + 1] if i + 1 < len(spans) and not spans[i + 1].quote else None
        before = spans[i - 1] if i > 0 and not spans[i - 1].quote else None
        tag = _after_tag(after.text, cast, state, exclude) if after else None
        if tag is not None:
            used.add(i + 1)
        if tag is None and before is not None:
            tag = _before_tag(before.text, cast, state, exclude, colon_rule=False)
            if tag is not None:
                used.add(i - 1)
        if tag is None and i == 0 and prev is not None and not prev.quotes and prev.spans:
            tag = _before_tag(prev.spans[-1].text, cast, state, exclude, colon_rule=True)
        if tag and tag.speaker in exclude:
            tag = None
        tags[i] = tag
        if tag and tag.speaker:
            state.mention(tag.speaker, True)
        for v in vocs[i]:
            state.mention(v, False)
    quotes = [i for i, s in enumerate(spans) if s.quote]
    if not quotes:
        state.narration_since += " " + " ".join(s.text for s in spans)
    _fill_paragraph(par, quotes, tags, vocs, cast, state)
    segments = []
    for i, span in enumerate(spans):
        tag = tags[i]
        if span.quote and tag is not None:
            segments.append(
                Segment(span.text, tag.speaker, True, round(tag.confidence, 2), tag.evidence, span.line, index)
            )
        else:
            segments.append(
                Segment(
                    span.text,
                    None,
                    span.quote,
                    1.0 if not span.quote else 0.1,
                    "narration" if not span.quote else "no rule applied",
                    span.line,
                    index,
                )
            )
    if quotes:
        last = tags[quotes[-1]]
        state.history.append(last.speaker if last else None)
        state.last_vocatives = [v for i in quotes for v in vocs[i]]
        state.narration_since = " ".join(s.text for k, s in enumerate(spans) if k > quotes[-1] and k not in used)
    return segments


def _fill_paragraph(
    par: Paragraph, quotes: list[int], tags: list[_Tag | None], vocs: dict[int, list[str]], cast: _Cast, state: _State
) -> None:
    if not quotes:
        return
    first = quotes[0]
    if tags[first] is None and par.continues and not par.spans[first].opened and state.history:
        tags[first] = _Tag(state.history[-1], 0.85, "quote continues from the paragraph before")
    if tags[first] is None and par.continues and state.history and par.spans[first].quote:
        tags[first] = _Tag(state.history[-1], 0.8, "quote continues from the paragraph before")
    tagged = [i for i in quotes if tags[i] is not None]
    if not tagged:
        own = {v for i in quotes for v in vocs[i]}
        tags[first] = _turn(own, cast, state)
        tagged = [first] if tags[first] else []
    for i in quotes:
        if tags[i] is None and tagged:
            donor = max((j for j in tagged if j < i), default=min(tagged))
            src = tags[donor]
            if src is not None:
                tags[i] = _Tag(
                    src.speaker,
                    round(src.confidence * 0.95, 2),
                    f"same paragraph as line {par.spans[donor].line} ({src.evidence.split(':')[0]})",
                )


def _turn(own: set[str], cast: _Cast, state: _State) -> _Tag | None:
    last = state.history[-1] if state.history else None
    addressed = [v for v in state.last_vocatives if v != last and v not in own]
    if addressed:
        return _Tag(addressed[0], 0.7, f"answers '{addressed[0]}', addressed in the quote before")
    for earlier in reversed(state.history[:-1]):
        if earlier != last:
            if earlier is not None and earlier not in own:
                return _Tag(earlier, 0.6, f"turn-taking: alternates with {last}")
            if earlier in own and last is not None and last not in own:
                return _Tag(last, 0.5, f"vocative: addresses '{earlier}', so {last} goes on")
            break
    if last is not None and last not in own and _acts_alone(last, state.narration_since, cast):
        return _Tag(last, 0.5, f"monologue: the narration since is about {last} alone")
    exclude = own | ({last} if last else set())
    other = next((n for n, _ in reversed(state.mentions) if n not in exclude), None)
    if other:
        return _Tag(other, 0.4, f"turn-taking: the other party, {other}, last mentioned")
    return None


def _acts_alone(name: str, narration: str, cast: _Cast) -> bool:
    """The narration names ``name`` (or its pronoun) as a subject and no other character."""
    pronoun = {"female": "she", "male": "he"}.get(cast.gender(name) or "", "it")
    subjects = set()
    for m in re.finditer(
        rf"(?:^|[.!?;:]\s+|\b(?:and|but|then|so)\s+)({pronoun}|{cast.mention_re.pattern[3:-3]})\b", narration, re.I
    ):
        word = m.group(1)
        subjects.add(name if word.lower() == pronoun else cast.alias_of.get(word, word))
    return subjects == {name}


def _chapters(pars: list[Paragraph]) -> list[list[int]]:
    out: list[list[int]] = [[]]
    for k, p in enumerate(pars):
        if not p.quotes and p.spans and CHAPTER.match(p.spans[0].text) and len(p.spans[0].text) < 200 and out[-1]:
            out.append([])
        out[-1].append(k)
    return out


def attribute(text: str, aliases: dict[str, dict[str, Any]] | None = None) -> Script:
    """Split ``text`` into narration and quotes and give each quote its speaker.

    ``aliases``: the editable table (see :func:`deepstory.script.characters.discover`); given, it replaces discovery.
    """
    pars, warnings = split(text)
    cast = _Cast(aliases if aliases is not None else ch.discover(text))
    cast.frequency.update(cast.alias_of[m.group(1)] for m in cast.mention_re.finditer(text))
    segments: list[Segment] = []
    for chapter in _chapters(pars):
        state = _State()
        prev: Paragraph | None = None
        for k in chapter:
            par = pars[k]
            if not par.quotes and sum(len(s.text.split()) for s in par.spans) > 60:
                state.history.clear()
                state.last_vocatives = []
            segments.extend(_paragraph(par, k, prev, cast, state))
            prev = par
    for seg in segments:
        if seg.quote and seg.speaker in cast.by_name:
            cast.by_name[seg.speaker].lines += 1
    return Script(segments=segments, characters=cast.characters, warnings=warnings)


def looks_like_prose(text: str) -> bool:
    """True when the text has quoted dialogue and is not already in the ``Name: text`` line format."""
    from deepstory.story.parse import split_line

    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    tagged = sum(1 for line in lines if split_line(line)[0])
    if tagged * 2 >= len(lines):
        return False
    pars, _ = split(text)
    return any(len(s.text.split()) >= 1 for p in pars for s in p.spans if s.quote)


__all__ = ["Character", "Script", "Segment", "Span", "attribute", "looks_like_prose"]
