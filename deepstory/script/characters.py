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

SPEECH_VERBS = (
    "said says say cried replied returned answered asked added continued exclaimed remarked observed shouted "
    "whispered muttered murmured called thought began interrupted pleaded sighed grumbled repeated resumed "
    "responded rejoined retorted declared insisted urged ventured suggested explained inquired enquired "
    "demanded screamed snapped growled sobbed laughed protested persisted bawled yelled roared groaned "
    "stammered faltered whimpered went saying calling asking remarking cries replies answers asks adds thinks"
).split()
VERB = r"(?:" + "|".join(SPEECH_VERBS) + r")\b(?:\s+(?:on|out|in|up|again|aloud))?"

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
    "Some Each Every Both All Any Only Even Another Such Perhaps However Indeed Whatever Ting Mars Good".split()
)
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
    return None


def _strip_title(name: str) -> tuple[str, str]:
    parts = name.split()
    if len(parts) > 1 and parts[0] in TITLES:
        return parts[0], " ".join(parts[1:])
    return "", name


def _trim(name: str) -> str:
    """Drop stop words at either end (``Then Tom`` -> ``Tom``)."""
    parts = name.split()
    while parts and parts[0] in STOP:
        parts.pop(0)
    while parts and parts[-1] in STOP:
        parts.pop()
    if len(parts) == 1 and parts[0] in TITLES:
        return ""
    return " ".join(parts)


def candidate_names(text: str) -> Counter[str]:
    """Names seen as speakers (next to a speech verb) or with a title, with a score."""
    found: Counter[str] = Counter()
    adverbs = r"(?:\s+\w+ly|\s+again|\s+only|\s+then|\s+at\s+once)*"
    for m in re.finditer(rf"\b{VERB}{adverbs},?\s+(?:the\s+(?:[a-z]+\s+)?)?({NAME})", text):
        found[_trim(m.group(1))] += 2
    for m in re.finditer(
        rf"(?:^|[.!?;,:]\s+|\b(?:the|and|a|an|one|old|young|little)\s+)({NAME}){adverbs}\s+{VERB}", text, re.M
    ):
        found[_trim(m.group(1))] += 2
    for m in re.finditer(rf"(?:^|[.!?]\s+)({NAME})\b[^.!?:\"“”]{{0,80}}\b{VERB}[^.!?:]{{0,20}}:", text, re.M):
        found[_trim(m.group(1))] += 1
    for m in re.finditer(rf"\b{TITLE}\s+{WORD}(?:\s+{WORD})?", text):
        found[_trim(m.group(0))] += 1
    found.pop("", None)
    for name in list(found):
        if all(part in STOP for part in name.split()):
            del found[name]
    return found


def _mentions(text: str, names: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for name in names:
        counts[name] = len(re.findall(rf"\b{re.escape(name)}\b", text))
    return counts


def _pronoun_gender(text: str, aliases: list[str]) -> str | None:
    """Vote on the first pronoun after each mention in the same sentence."""
    votes: Counter[str] = Counter()
    pattern = r"\b(?:" + "|".join(re.escape(a) for a in aliases) + r")\b(?!')([^.!?\"“”‘’]{0,80})"
    for m in re.finditer(pattern, text):
        p = re.search(r"\b(he|his|him|himself|she|her|hers|herself)\b", m.group(1))
        if p:
            votes["male" if p.group(1).startswith(("he", "hi")) and p.group(1) != "her" else "female"] += 1
    if not votes:
        return None
    (best, n), *rest = votes.most_common()
    return best if not rest or n >= 2 * rest[0][1] else None


def discover(text: str, min_score: int = 2) -> dict[str, dict[str, Any]]:  # noqa: C901 (to be split into named steps)
    """The alias table for a text: canonical name -> {"aliases": [...], "gender": ...}."""
    scores = candidate_names(text)
    counts = _mentions(text, scores)
    names = [n for n, s in scores.items() if s + min(counts[n], 4) >= min_score + 1 and counts[n] >= 1]
    # long names first: "Elizabeth Bennet" claims "Elizabeth" before "Elizabeth" stands alone
    names.sort(key=lambda n: (-len(n.split()), -counts[n], n))
    table: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}

    def add(canonical: str, alias: str) -> None:
        if alias not in owner:
            owner[alias] = canonical
            table[canonical]["aliases"].append(alias)

    for name in names:
        if name in owner:
            continue
        title, bare = _strip_title(name)
        parts = bare.split()
        target = None
        if not title and len(parts) == 1:
            # a first name: the full name that starts with it, or the formal name of a nickname
            fulls = [c for c in table if _strip_title(c)[0] == "" and c.split()[0] == bare and len(c.split()) > 1]
            formal = [c for c in table if bare in NICKNAMES.get(c.split()[0], ())]
            titled = [c for c in table if _strip_title(c)[0] and _strip_title(c)[1].split()[-1] == bare]
            for group in (fulls, formal, titled):
                if len(group) == 1:
                    target = group[0]
                    break
        if target is None:
            table[name] = {"aliases": [], "gender": title_gender(name)}
            target = name
        add(target, name)
    # nicknames join a formal name (Lizzy -> Elizabeth); a lone nickname keeps its own entry
    for canonical in list(table):
        first = _strip_title(canonical)[1].split()[0] if not _strip_title(canonical)[0] else ""
        for nick in NICKNAMES.get(first, ()):
            if nick in table and nick != canonical and len(table[nick]["aliases"]) == 1:
                del table[nick]
                owner.pop(nick, None)
                add(canonical, nick)
            elif nick not in owner and re.search(rf"\b{nick}\b", text):
                add(canonical, nick)
    for canonical, entry in table.items():
        if entry["gender"] is None:
            first = _strip_title(canonical)[1].split()[0]
            if first in FEMALE_NAMES:
                entry["gender"] = "female"
            elif first in MALE_NAMES:
                entry["gender"] = "male"
            else:
                entry["gender"] = _pronoun_gender(text, entry["aliases"])
    return table


def from_table(table: dict[str, dict[str, Any]]) -> list[Character]:
    out = []
    for name, entry in table.items():
        aliases = list(dict.fromkeys([name, *(entry or {}).get("aliases", [])]))
        out.append(Character(name=name, aliases=aliases, gender=(entry or {}).get("gender")))
    return out
