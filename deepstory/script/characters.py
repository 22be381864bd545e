"""Characters found in prose: names near speech verbs and titled names, their aliases, their gender.

The result is an alias table, a plain dict that YAML and JSON can hold and a person can edit::

    {"Elizabeth": {"aliases": ["Elizabeth", "Lizzy", "Eliza"], "gender": "female"},
     "Mr. Bennet": {"aliases": ["Mr. Bennet"], "gender": "male"}}

Feeding such a table back to :func:`deepstory.script.attribute` replaces discovery.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from deepstory.script.prose import split

SPEECH_VERBS = (
    "said says say cried replied returned answered asked added continued exclaimed remarked observed shouted "
    "whispered muttered murmured called thought began interrupted pleaded sighed grumbled repeated resumed "
    "responded rejoined retorted declared insisted urged ventured suggested explained inquired enquired "
    "demanded screamed snapped growled sobbed laughed protested persisted bawled yelled roared groaned "
    "stammered faltered whimpered went saying calling asking remarking cries replies answers asks adds thinks "
    "shouting screaming whispering muttering murmuring exclaiming replying answering announced"
).split()
# speaking by breaking into the talk: ``Jo cut in with a decided, "..."``
BREAKING_IN = ("cut in", "broke in", "chimed in", "put in")
VERB = (
    r"(?:" + "|".join([*(v.replace(" ", r"\s+") for v in BREAKING_IN), *SPEECH_VERBS]) + r")\b"
    r"(?:\s+(?:on|out|in|up|again|aloud))?"
)

MALE_TITLES = ("Mr.", "Mr", "Mister", "Sir", "Lord", "Captain", "Colonel", "Uncle", "Master", "King", "Father")
FEMALE_TITLES = ("Mrs.", "Mrs", "Miss", "Ms.", "Lady", "Aunt", "Queen", "Duchess", "Madame", "Mme.", "Mother")
NEUTRAL_TITLES = ("Dr.", "Dr", "Doctor", "Professor", "Judge", "Widow")
TITLES = MALE_TITLES + FEMALE_TITLES + NEUTRAL_TITLES
TITLE = r"(?:" + "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True)) + r")"

# first name -> its usual nicknames; a nickname joins the formal name when both are found
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Elizabeth": ("Lizzy", "Lizzie", "Eliza", "Liz", "Betsy", "Bess"),
    "Catherine": ("Kitty", "Kate", "Cathy"),
    "Katherine": ("Kitty", "Kate", "Kathy"),
    "Margaret": ("Meg", "Maggie", "Peggy"),
    "Josephine": ("Jo",),
    "Jane": ("Jenny", "Janey"),
    "Mary": ("Polly", "Molly", "Mamie"),
    "Thomas": ("Tom", "Tommy"),
    "Sidney": ("Sid", "Siddy"),
    "Benjamin": ("Ben", "Benny"),
    "William": ("Will", "Bill", "Billy"),
    "Robert": ("Bob", "Bobby", "Rob"),
    "Richard": ("Dick",),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Charles": ("Charley", "Charlie"),
    "Theodore": ("Laurie", "Teddy"),
    "Huckleberry": ("Huck",),
    "Rebecca": ("Becky",),
}
FEMALE_NAMES = frozenset(
    "Elizabeth Lizzy Eliza Jane Kitty Catherine Lydia Mary Alice Polly Becky Amy Beth Jo Meg Margaret Charlotte "
    "Emma Anne Anna Sarah Susan Harriet Georgiana Louisa Caroline Maria Jenny Lucy Marianne Elinor".split()
)
MALE_NAMES = frozenset(
    "Tom Thomas Jim James Ben Sid Sidney Huck Joe John Charles William George Henry Fitzwilliam Edward Laurie "
    "Oliver Sherlock Watson Bob Robert Peter Harry Frank Fred Jack Richard Dick".split()
)
# capitalised words that are not names
STOP = frozenset(
    "The A An And But Or So Then Now When While If As At In On Of To For With By From Into Upon After Before "
    "He She It They We I You His Her Its Their Our My Your Him Them Me Us This That These Those There Here "
    "What Who Why How Which Where Yes No Oh Ah Well Said Says Presently Finally Just Soon Once Again Still "
    "Chapter CHAPTER Not Nor Do Did Does Is Was Were Be Been Come Go Let Good God Lord Heaven Sunday Monday "
    "Saturday Friday Thursday Tuesday Wednesday Christmas Dear Nobody Everybody Somebody Nothing One Two "
    "Some Each Every Both All Any Only Even Another Such Perhaps However Indeed Whatever Ting Mars Good Everyone "
    "Someone Anyone".split()
)
# ranks that name a character on their own with "the" before them: "said the Queen", "the Count shrugged"
RANKS = frozenset(
    "King Queen Duke Duchess Count Countess Prince Princess Emperor Empress Baron Baroness Marquis Earl Colonel "
    "Captain Major General Doctor Judge Professor Sheriff Governor Abbot Bishop".split()
)
RANK_GENDER = {"King": "male", "Duke": "male", "Count": "male", "Prince": "male", "Emperor": "male", "Baron": "male",
               "Marquis": "male", "Earl": "male", "Abbot": "male", "Bishop": "male", "Queen": "female",
               "Duchess": "female", "Countess": "female", "Princess": "female", "Empress": "female",
               "Baroness": "female"}  # fmt: skip
WORD = r"[A-Z][a-z]+(?:-[A-Za-z]+)?"
NAME = rf"(?:{TITLE}\s+)?{WORD}(?:\s+{WORD}){{0,2}}"


@dataclass
class Character:
    name: str
    aliases: list[str] = field(default_factory=list)
    gender: str | None = None  # 'female', 'male' or None
    lines: int = 0  # quotes attributed


def title_gender(name: str) -> str | None:
    first = name.split()[0]
    if first in MALE_TITLES:
        return "male"
    if first in FEMALE_TITLES:
        return "female"
    return RANK_GENDER.get(first) if len(name.split()) == 1 else None


def _strip_title(name: str) -> tuple[str, str]:
    parts = name.split()
    if len(parts) > 1 and parts[0] in TITLES:
        return parts[0], " ".join(parts[1:])
    return "", name


def _trim(name: str, the: bool = False) -> str:
    """Drop stop words at either end (``Then Tom`` -> ``Tom``); a lone title is no name unless it is a rank after
    "the" (``said the Queen``)."""
    parts = [w for k, w in enumerate(name.split()) if k == 0 or w != name.split()[k - 1]]  # "Scrooge Scrooge": one
    while parts and parts[0] in STOP:
        parts.pop(0)
    while parts and parts[-1] in STOP:
        parts.pop()
    if len(parts) == 1 and (parts[0] in TITLES or parts[0] in RANKS) and not (the and parts[0] in RANKS):
        return ""
    return " ".join(parts)


def _after_the(text: str, start: int) -> bool:
    return bool(re.search(r"\b[Tt]he\s+$", text[max(0, start - 5) : start]))


def candidate_names(text: str) -> Counter[str]:
    """Names seen as speakers (next to a speech verb) or with a title, with a score."""
    found: Counter[str] = Counter()
    adverbs = r"(?:\s+\w+ly|\s+again|\s+only|\s+then|\s+at\s+once)*"
    for m in re.finditer(rf"\b{VERB}{adverbs},?\s+(?:the\s+(?:[a-z]+\s+)?)?({NAME})", text):
        found[_trim(m.group(1), _after_the(text, m.start(1)))] += 2
    for m in re.finditer(
        rf"(?:^|[.!?;,:]\s+|\b(?:the|and|a|an|one|old|young|little)\s+)({NAME}){adverbs}\s+{VERB}", text, re.M
    ):
        found[_trim(m.group(1), _after_the(text, m.start(1)))] += 2
    for m in re.finditer(
        rf"(?:^|[.!?]\s+)((?:[Tt]he\s+)?{NAME})\b[^.!?:\"“”]{{0,80}}\b{VERB}[^.!?:]{{0,20}}:", text, re.M
    ):
        name = m.group(1)
        the = name[:4].lower() == "the "
        found[_trim(name[4:] if the else name, the)] += 1
    for m in re.finditer(rf"\b{TITLE}\s+{WORD}(?:\s+{WORD})?", text):
        found[_trim(m.group(0))] += 1
    # a known first name the narration keeps using (``Joe took``, ``Joe's slate``) is a character without a tag
    for m in re.finditer(rf"\b({WORD})\b", text):
        if m.group(1) in FEMALE_NAMES or m.group(1) in MALE_NAMES:
            found[m.group(1)] += 0
    found.pop("", None)
    for name in list(found):
        if all(part in STOP for part in name.split()):
            del found[name]
    return found


def _mentions(text: str, names: Iterable[str]) -> Counter[str]:
    """Whole-word occurrences of each name (``\\bname\\b``), found with str.find: one regex pass per name over a
    book was most of discovery's time."""
    counts: Counter[str] = Counter()
    for name in names:
        n = 0
        i = text.find(name)
        while i >= 0:
            end = i + len(name)
            if not _word_char(text, i - 1) and not _word_char(text, end):
                n += 1
            i = text.find(name, i + 1)
        counts[name] = n
    return counts


def _word_char(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _pronoun_gender(text: str, aliases: list[str]) -> str | None:
    """Vote on the first he/she (or himself/herself) after each mention in the same sentence."""
    votes: Counter[str] = Counter()
    pattern = r"\b(?:" + "|".join(re.escape(a) for a in aliases) + r")\b(?!')([^.!?\"“”‘’]{0,80})"
    for m in re.finditer(pattern, text):
        # the next subject pronoun: "her" and "his" are as often someone else's ("peeping into her face")
        p = re.search(r"\b(he|himself|she|herself)\b", m.group(1))
        if p:
            votes["male" if p.group(1).startswith(("he", "hi")) and p.group(1) != "her" else "female"] += 1
    if not votes:
        return None
    (best, n), *rest = votes.most_common()
    return best if not rest or n >= 2 * rest[0][1] else None


PERSON_NOUNS: dict[str, str | None] = {
    "lady": "female", "woman": "female", "girl": "female", "maid": "female", "widow": "female",
    "man": "male", "boy": "male", "gentleman": "male", "lad": "male", "fellow": "male",
    "stranger": None, "child": None, "youth": "male", "servant": None, "visitor": None,
    "nephew": "male", "niece": "female", "cousin": None, "clerk": None, "landlady": "female", "landlord": "male",
    "nurse": "female",
}  # fmt: skip
# "the old lady", "the new boy", "the stranger": a lower-case description headed by a person noun
DESCRIPTION = rf"[Tt]he\s+(?:(?!the\b|and\b|of\b)[a-z]+\s+){{0,2}}(?:{'|'.join(PERSON_NOUNS)})\b"
# "Scrooge's nephew": a possessor's name and a person noun describe a character of their own ("the nephew"), never
# the possessor
POSSESSED = rf"{WORD}['’]s\s+(?:(?!the\b|and\b|of\b)[a-z]+\s+)?(?:{'|'.join(PERSON_NOUNS)})\b"


def description_gender(description: str) -> str | None:
    return PERSON_NOUNS.get(description.split()[-1].lower())


def described_speakers(text: str) -> Counter[str]:
    """Descriptions seen next to a speech verb (``said the stranger``, ``The new boy ... said:``), scored like names."""
    found: Counter[str] = Counter()
    adverbs = r"(?:\s+\w+ly|\s+again|\s+only|\s+then|\s+at\s+once)*"
    either = rf"(?:{DESCRIPTION}|\b{POSSESSED})"
    patterns = (
        (rf"\b{VERB}{adverbs},?\s+({either})", 2),
        (rf"({either}){adverbs}\s+{VERB}", 2),
        (rf"(?:^|[.!?]\s+)({either})[^.!?:\"“”]{{0,80}}\b{VERB}[^.!?:]{{0,20}}:", 1),
    )
    for pattern, weight in patterns:
        for m in re.finditer(pattern, text, re.M):
            found["the " + m.group(1).split(None, 1)[1]] += weight
    return found


def possessed_forms(text: str, description: str) -> list[str]:
    """The possessive forms of a description in the text (``the nephew`` -> ``Scrooge's nephew``)."""
    noun = description.split(None, 1)[1]
    pattern = rf"\b{WORD}['’]s\s+" + r"\s+".join(map(re.escape, noun.split())) + r"\b"
    return sorted({" ".join(m.group(0).split()) for m in re.finditer(pattern, text)})


def _ranked_names(text: str, min_score: int) -> list[str]:
    """Candidate names that pass the score, long names first, then the most mentioned."""
    scores = candidate_names(text)
    counts = _mentions(text, scores)
    names = [n for n, s in scores.items() if s + min(counts[n], 4) >= min_score + 1 and counts[n] >= 1]
    # a known first name mentioned three times or more needs no tag
    names += [
        n for n, s in scores.items() if n not in names and (n in FEMALE_NAMES or n in MALE_NAMES) and counts[n] >= 3
    ]
    # long names first: "Elizabeth Bennet" claims "Elizabeth" before "Elizabeth" stands alone
    names.sort(key=lambda n: (-len(n.split()), -counts[n], n))
    return names


class _Table:
    """The alias table being built: canonical name -> entry, and alias -> canonical name."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str] = {}

    def new(self, name: str, gender: str | None) -> None:
        self.entries[name] = {"aliases": [], "gender": gender}
        self.add(name, name)

    def add(self, canonical: str, alias: str) -> None:
        if alias not in self.owner:
            self.owner[alias] = canonical
            self.entries[canonical]["aliases"].append(alias)

    def remove(self, name: str) -> None:
        for alias in self.entries.pop(name)["aliases"]:
            self.owner.pop(alias, None)


def _short_form_target(name: str, entries: dict[str, dict[str, Any]]) -> str | None:
    """A first name's full name, a nickname's formal name, a bare surname's one titled form."""
    title, bare = _strip_title(name)
    if title or len(bare.split()) != 1:
        return None
    fulls = [c for c in entries if _strip_title(c)[0] == "" and c.split()[0] == bare and len(c.split()) > 1]
    formal = [c for c in entries if bare in NICKNAMES.get(c.split()[0], ())]
    titled = [c for c in entries if _strip_title(c)[0] and _strip_title(c)[1].split()[-1] == bare]
    return next((group[0] for group in (fulls, formal, titled) if len(group) == 1), None)


def _group_names(names: list[str], table: _Table) -> None:
    for name in names:
        if name in table.owner:
            continue
        target = _short_form_target(name, table.entries)
        if target is None:
            table.new(name, title_gender(name))
        else:
            table.add(target, name)


def _join_nicknames(table: _Table, text: str) -> None:
    """Nicknames join a formal name (Lizzy -> Elizabeth); a lone nickname keeps its own entry."""
    for canonical in list(table.entries):
        first = _strip_title(canonical)[1].split()[0] if not _strip_title(canonical)[0] else ""
        for nick in NICKNAMES.get(first, ()):
            entry = table.entries.get(nick)
            if entry is not None and nick != canonical and len(entry["aliases"]) == 1:
                table.remove(nick)
                table.add(canonical, nick)
            elif nick not in table.owner and re.search(rf"\b{nick}\b", text):
                table.add(canonical, nick)


def _join_head_nouns(table: _Table, text: str) -> None:
    """A one-word name that is the head of one longer capitalised name in the text joins it, and the longer name
    becomes the character's name (``Rabbit`` / ``the White Rabbit``, ``Cat`` / ``the Cheshire Cat``).  The modifier
    must follow "the" or a lower-case word (not a sentence start), and be the only one seen with that head."""
    heads: dict[str, set[str]] = {}  # head word -> the longer names it ends
    for m in re.finditer(rf"(?:\b[Tt]he|[a-z,])\s+({WORD})\s+(?=({WORD})\b)", text):
        if m.group(1) not in STOP and m.group(1) not in TITLES and m.group(1) != m.group(2):
            heads.setdefault(m.group(2), set()).add(f"{m.group(1)} {m.group(2)}")
    for name in list(table.entries):
        if len(name.split()) != 1 or name in TITLES or name in FEMALE_NAMES or name in MALE_NAMES:
            continue
        longer = heads.get(name, set())
        if len(longer) != 1:
            continue
        (full,) = longer
        if full in table.owner:
            continue
        entry = table.entries.pop(name)
        table.entries[full] = {"aliases": [full, *entry["aliases"]], "gender": entry["gender"]}
        for alias in table.entries[full]["aliases"]:
            table.owner[alias] = full


def _join_titled_first_names(table: _Table, text: str) -> None:
    """A title before a character's first name or nickname is that character (``Miss Eliza``, ``Miss Elizabeth
    Bennet`` -> ``Elizabeth``); a title before a surname joins the first name the text pairs with it (``Miss Lucas``
    -> ``Charlotte`` where ``Charlotte Lucas`` was seen).  Genders must agree."""
    pairs = {(m.group(1), m.group(2)) for m in re.finditer(rf"\b({WORD})\s+(?=({WORD})\b)", text)}
    firsts: dict[str, list[str]] = {}
    for name in table.entries:
        if _strip_title(name)[0] or name.startswith("the "):
            continue
        first = name.split()[0]
        for form in (first, *NICKNAMES.get(first, ())):
            firsts.setdefault(form, []).append(name)
    for name in list(table.entries):
        title, bare = _strip_title(name)
        if not title or title not in MALE_TITLES + FEMALE_TITLES or name not in table.entries:
            continue
        targets = firsts.get(bare.split()[0], [])
        if not targets:  # a surname: the character whose first name the text puts right before it
            targets = [n for n in table.entries if not _strip_title(n)[0] and (n.split()[0], bare) in pairs]
        targets = [t for t in dict.fromkeys(targets) if t != name]
        gender = title_gender(name)
        if len(targets) != 1 or table.entries[targets[0]]["gender"] not in (None, gender):
            continue
        aliases = table.entries[name]["aliases"]
        table.remove(name)
        for alias in aliases:
            table.add(targets[0], alias)


def _guess_genders(table: _Table, text: str) -> None:
    for canonical, entry in table.entries.items():
        if entry["gender"] is not None:
            continue
        first = _strip_title(canonical)[1].split()[0]
        if first in FEMALE_NAMES:
            entry["gender"] = "female"
        elif first in MALE_NAMES:
            entry["gender"] = "male"
        elif canonical.startswith("the "):
            entry["gender"] = description_gender(canonical) or _pronoun_gender(text, entry["aliases"])
        else:
            entry["gender"] = _pronoun_gender(text, entry["aliases"])


def _sentences(text: str) -> list[list[str]]:
    """Paragraphs as lists of sentences (rough: split after . ! ? and before a capital or a quote)."""
    end = r"(?<!\bMr\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bMs\.)(?<=[.!?])[\"”’']?\s+(?=[A-Z\"“‘'])"
    return [re.split(end, par) for par in re.split(r"\n\s*\n", text) if par.strip()]


def link_descriptions(text: str, table: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Description -> the named character it stands for, where the text makes that clear.

    An apposition (``Aunt Polly, the old lady,`` / ``the old lady, Aunt Polly``) links at once.  Otherwise a
    description links to a name of a compatible gender that appears within two paragraphs of the description at least
    twice, never in the same sentence as the description (two people, then), and at
    least twice as often as any other compatible name.
    """
    described = [c for c in table if c.startswith("the ")]
    named = [c for c in table if not c.startswith("the ")]
    links: dict[str, str] = {}
    pars = _sentences(text)
    for desc in described:
        gender = table[desc]["gender"]
        # never the possessor of the description ("Scrooge's nephew" is not Scrooge)
        owners = {a.split("'")[0].split("’")[0] for a in table[desc]["aliases"] if not a.startswith("the ")}
        fits = [
            n
            for n in named
            if (gender is None or table[n]["gender"] == gender)
            and not owners & set(table[n]["aliases"])
            and NARRATOR not in table[n]["aliases"]  # the narrator sees "the stranger"; it is never described so
        ]
        found = _apposition(text, desc, fits, table) or _co_occurring(pars, desc, fits, table)
        if found:
            links[desc] = found
    return links


def _alias_pattern(aliases: list[str]) -> str:
    return r"\b(?:" + "|".join(f"[{a[0].upper()}{a[0].lower()}]{re.escape(a[1:])}" for a in aliases) + r")\b"


def _apposition(text: str, desc: str, fits: list[str], table: dict[str, dict[str, Any]]) -> str | None:
    d = _alias_pattern([desc])
    # only the neighbourhood of each mention of the description can hold the apposition
    windows = [text[max(0, m.start() - 80) : m.end() + 80] for m in re.finditer(d, text)]
    for name in fits:
        n = _alias_pattern(table[name]["aliases"])
        if any(re.search(rf"{n},\s+{d}\s*[,;.]|{d},\s+{n}\s*[,;.]", w) for w in windows):
            return name
    return None


def _co_occurring(pars: list[list[str]], desc: str, fits: list[str], table: dict[str, dict[str, Any]]) -> str | None:
    d = re.compile(_alias_pattern([desc]))
    patterns = {n: re.compile(_alias_pattern(table[n]["aliases"])) for n in fits}
    near: Counter[str] = Counter()
    apart = set()
    for k, sentences in enumerate(pars):
        if not any(d.search(s) for s in sentences):
            continue
        # names in dialogue paragraphs do not count: two people talking are mentioned side by side
        window = " ".join(" ".join(p) for p in pars[max(0, k - 2) : k + 3] if not _dialogue(p))
        for name, pattern in patterns.items():
            if pattern.search(window):
                near[name] += 1
            if any(d.search(s) and pattern.search(s) for s in sentences):
                apart.add(name)
    ranked = [(n, c) for n, c in near.most_common() if n not in apart]
    if not ranked or ranked[0][1] < 2:
        return None
    best, count = ranked[0]
    if any(c * 2 > count for n, c in near.items() if n != best):
        return None
    return best


def _dialogue(sentences: list[str]) -> bool:
    par = " ".join(sentences)
    return bool(re.search(r"[\"“”]", par)) or par.lstrip()[:1] in ("'", "‘")


# a first-person speech tag in the narration right after a quote: ``said I``, ``I remarked``, ``cried I``
FIRST_PERSON_TAG = re.compile(rf"^[\s,;:.!?—–\-(]*(?:{VERB}(?:\s+\w+ly)?\s+I\b(?!['’])|I\s+(?:\w+ly\s+)?{VERB})")
# a first-person tag leading into a quote: ``I says:``, ``so I says``, ``I answered, in a low voice,``
FIRST_PERSON_LEAD = re.compile(rf"\bI\s+(?:\w+ly\s+)?{VERB}[^.!?\"“”]{{0,30}}$")
# a name set off inside a quote: ``I think, Watson, that``, ``My dear Holmes,``, ``Watson, come``
QUOTE_VOCATIVE = re.compile(
    r"(?:[,;—–]\s*|\b[Dd]ear\s+|\b[Mm]y\s+)((?:[A-Z][a-z]+\.?\s+)?[A-Z][a-z]+)(?=\s*[,!?.;:—–]|\s*$)"
    r"|^\s*((?:[A-Z][a-z]+\.?\s+)?[A-Z][a-z]+)(?=,)"
)
NARRATOR = "I"  # the alias that makes a character the first-person narrator


def narrator_name(text: str) -> tuple[int, str | None]:
    """(first-person speech tags in the narration, what the others call the narrator).

    The name is the one used most often, at least twice, as a vocative in the quote paragraphs just before and just
    after those the narrator speaks (``"I think, Watson, ..."`` / ``"Seven!" I answered.``).
    """
    pars, _ = split(text)
    quoted: list[tuple[bool, list[str]]] = []  # per quote paragraph: (the narrator tags one of its quotes, vocatives)
    lead = False  # the paragraph before is narration ending on ``I says:``
    for par in pars:
        spans = par.spans
        if not any(s.quote for s in spans):
            lead = bool(spans) and bool(FIRST_PERSON_LEAD.search(spans[-1].text.rstrip(" :,—–-")))
            lead = lead and spans[-1].text.rstrip().endswith((":", ",", "—", "-"))
            continue
        mine = (
            (lead and spans[0].quote)
            or any(
                not s.quote and k > 0 and spans[k - 1].quote and FIRST_PERSON_TAG.match(s.text)
                for k, s in enumerate(spans)
            )
            or any(
                not s.quote and k + 1 < len(spans) and spans[k + 1].quote and FIRST_PERSON_LEAD.search(s.text)
                for k, s in enumerate(spans)
            )
        )
        lead = False
        vocs = [
            name
            for s in spans
            if s.quote
            for m in QUOTE_VOCATIVE.finditer(s.text)
            for name in [m.group(1) or m.group(2)]
            if name != NARRATOR and not set(name.split()) & STOP and not name.endswith("ly")
        ]
        quoted.append((mine, vocs))
    votes: Counter[str] = Counter()
    for k, (mine, _) in enumerate(quoted):
        for j in (k - 1, k + 1) if mine else ():
            if 0 <= j < len(quoted) and not quoted[j][0]:
                votes.update(quoted[j][1])
    ranked = votes.most_common(2)
    name = ranked[0][0] if ranked and ranked[0][1] >= 2 and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]) else None
    return sum(mine for mine, _ in quoted), name


NAME_QUESTION = re.compile(r"\b(?:your|thy)\s+(?:\w+\s+)?name\b", re.I)
BARE_NAME = re.compile(r"^\s*((?:[A-Z][a-z]+\s+){0,2}[A-Z][a-z]+)[.!]?\s*$")


def narrator_self_names(text: str, pars: list[Any] | None = None) -> list[str]:
    """Names the first-person narrator gives as its own: an untagged quote that is only a name, answering a quote
    that asks for "your name" and is not the narrator's (``"What might your name be?"`` / ``"Sarah Williams."``)."""
    pars = pars if pars is not None else split(text)[0]
    found = []
    asked = False  # the quote paragraph before asks a name, and no "I" tag is on it
    for par in pars:
        spans = par.spans
        quotes = [s for s in spans if s.quote]
        if not quotes:
            continue
        narration = " ".join(s.text for s in spans if not s.quote)
        m = BARE_NAME.match(quotes[0].text) if len(quotes) == 1 and not narration.strip() else None
        if asked and m and not set(m.group(1).split()) & STOP:
            found.append(m.group(1))
        mine = FIRST_PERSON_TAG.match(narration) or FIRST_PERSON_LEAD.search(narration)
        asked = bool(NAME_QUESTION.search(quotes[-1].text)) and not mine
    return found


def _in_narration(pars: list[Any], name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return any(not s.quote and pattern.search(s.text) for p in pars for s in p.spans)


def _add_narrator(table: _Table, text: str) -> None:
    """A text whose narration tags quotes to "I" at least twice has a first-person narrator, the character "I".
    The name the others call it (:func:`narrator_name`) and the names it gives as its own
    (:func:`narrator_self_names`) are its aliases; a name the narration itself uses too names the character."""
    tags, name = narrator_name(text)
    if tags < 2 or NARRATOR in table.owner:
        return
    pars, _ = split(text)
    if name is None or not _in_narration(pars, name):
        table.new(NARRATOR, None)
        for given in [*([name] if name else []), *narrator_self_names(text, pars)]:
            for form in dict.fromkeys([given, given.split()[0]]):
                entry = table.entries.get(form)
                if entry is not None and entry["aliases"] == [form]:  # a character only by this name: the narrator
                    table.remove(form)
                    if given == name:  # what the others call it; a name it gives itself may be a disguise
                        table.entries[NARRATOR]["gender"] = entry["gender"] or _first_name_gender(name)
                if form not in table.owner:
                    table.add(NARRATOR, form)
        return
    owner = table.owner.get(name)
    if owner is None:
        short = _short_form_target(name, table.entries)
        owner = short or name
        if short is None:
            table.new(name, title_gender(name) or _first_name_gender(name))
        else:
            table.add(owner, name)
    table.add(owner, NARRATOR)


def _first_name_gender(name: str) -> str | None:
    first = _strip_title(name)[1].split()[0]
    return "female" if first in FEMALE_NAMES else "male" if first in MALE_NAMES else None


def discover(text: str, min_score: int = 2) -> dict[str, dict[str, Any]]:
    """The alias table for a text: canonical name -> {"aliases": [...], "gender": ...}.

    Described speakers (``the old lady``) become characters of their own, or aliases of the named character the
    text links them to (:func:`link_descriptions`).
    """
    table = _Table()
    _group_names(_ranked_names(text, min_score), table)
    _join_nicknames(table, text)
    _join_head_nouns(table, text)
    counts = {d: len(re.findall(_alias_pattern([d]), text)) for d in described_speakers(text)}
    for desc, score in described_speakers(text).items():
        forms = possessed_forms(text, desc)
        if score + min(counts[desc] + len(forms), 4) >= min_score + 1:
            table.new(desc, None)
            for form in forms:
                table.add(desc, form)
    _guess_genders(table, text)
    _join_titled_first_names(table, text)
    _add_narrator(table, text)
    for desc, name in link_descriptions(text, table.entries).items():
        table.remove(desc)
        table.add(name, desc)
    return table.entries


def from_table(table: dict[str, dict[str, Any]]) -> list[Character]:
    out = []
    for name, entry in table.items():
        aliases = list(dict.fromkeys([name, *(entry or {}).get("aliases", [])]))
        out.append(Character(name=name, aliases=aliases, gender=(entry or {}).get("gender")))
    return out
