"""Story text -> an ordered list of sentences, each with its configured speaker.

Line format (one utterance per line):

* ``Name: text`` or ``Name|text`` is spoken by ``Name``;
* any other line is spoken by the default speaker (the narrator).

``Name:`` is taken as a speaker prefix only when the name looks like one
(1 to 4 words, each starting with a capital letter, no digits), or when it
names a configured speaker; ``|`` always separates a speaker.  So
``Note: bring tea`` becomes speaker ``Note`` but ``It was 3:00`` stays
narration.  Names not configured are mapped onto configured speakers by
round robin in order of first appearance, unless ``speaker_map`` says
otherwise.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from deepstory.errors import StoryError
from deepstory.story.sentences import LINE_PAUSE, limit_length, pause_after, split_sentences
from deepstory.tagged import norm as _norm
from deepstory.tagged import split_line


@dataclass(frozen=True)
class Sentence:
    index: int  # position in the story, 0-based
    line: int  # 1-based line number in the story file
    character: str  # the name as written in the story ("" for narration)
    speaker: str  # the configured speaker who voices it
    text: str
    pause_before: float  # seconds of silence before the speech
    pause_after: float  # seconds of silence after the speech
    image: int = 0  # which of the speaker's images shows this line


@dataclass
class Story:
    sentences: list[Sentence]
    speaker_of: dict[str, str] = field(default_factory=dict)  # character -> speaker
    skipped_lines: list[int] = field(default_factory=list)  # lines with nothing to say
    skipped_text: list[tuple[int, str]] = field(default_factory=list)  # (line, text the voices cannot say)

    @property
    def speakers(self) -> list[str]:
        """Configured speakers that actually speak, in order of first appearance."""
        return list(dict.fromkeys(s.speaker for s in self.sentences))


_KEEP_SYMBOLS = set("$€£¥%&@#+=*/°'\"-–—…")


def _speakable_char(c: str) -> bool:
    if c.isspace() or c in _KEEP_SYMBOLS or ("0" <= c <= "9"):
        return True
    category = unicodedata.category(c)
    if category.startswith("P"):
        return True
    if category.startswith("L") or category.startswith("M"):
        return unicodedata.name(c, "").startswith(("LATIN", "COMBINING"))
    return False


def speakable(text: str) -> tuple[str, list[str]]:
    """``text`` with what the (Latin-script) voices cannot say removed, and the removed pieces.

    Letters of other scripts, emoji and other symbols are dropped; each
    maximal run of dropped characters is reported (kept as written).
    """
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    dropped: list[str] = []
    run: list[str] = []
    for c in text:
        if _speakable_char(c):
            if run:
                dropped.append("".join(run))
                run = []
            kept.append(c if not unicodedata.category(c).startswith("C") else " ")
        elif unicodedata.category(c).startswith("C"):  # control characters: a space, not worth a report
            kept.append(" ")
        else:
            run.append(c)
            kept.append(" ")
    if run:
        dropped.append("".join(run))
    return " ".join("".join(kept).split()), dropped


class SpeakerMapper:
    """Characters in the story -> configured speakers, deterministically.

    A configured name written exactly wins, then a case and Unicode-normalisation insensitive
    match (two configured names that differ only in case, ``Eve`` and ``eve``, stay two
    speakers: each is matched by its own spelling), then the
    explicit ``speaker_map``, then round robin over the configured speakers
    (narrator last, so characters get their own voices first).
    """

    def __init__(self, speakers: Sequence[str], default: str, speaker_map: Mapping[str, str] | None = None):
        if not speakers:
            raise StoryError("no speakers configured (speakers=...)")
        if default not in speakers:
            raise StoryError(f"story.default_speaker '{default}' is not a configured speaker ({', '.join(speakers)})")
        self.speakers = list(speakers)
        self.default = default
        self._exact = set(self.speakers)
        self._by_norm: dict[str, str] = {}
        for s in speakers:
            self._by_norm.setdefault(_norm(s), s)  # an inexact spelling goes to the first configured
        self._explicit = {}
        for character, speaker in (speaker_map or {}).items():
            if speaker not in speakers:
                raise StoryError(f"story.speaker_map.{character} = '{speaker}' is not a configured speaker")
            self._explicit[_norm(character)] = speaker
        order = [s for s in speakers if s != default] or [default]
        self._cycle = order
        self._assigned: dict[str, str] = {}

    def __call__(self, character: str) -> str:
        if not character:
            return self.default
        if character in self._exact:
            return character
        key = _norm(character)
        if key in self._by_norm:
            return self._by_norm[key]
        if key in self._explicit:
            return self._explicit[key]
        if key not in self._assigned:
            self._assigned[key] = self._cycle[len(self._assigned) % len(self._cycle)]
        return self._assigned[key]


def parse_story(
    text: str, mapper: SpeakerMapper, images: Mapping[str, int] | None = None, max_words: int = 25
) -> Story:
    """Parse the whole story text (already decoded) into sentences.

    ``images`` gives how many images each speaker has: a speaker's lines use
    them in turn (line 1 the first image, line 2 the second, ...).
    """
    lines_of: dict[str, int] = {}
    sentences: list[Sentence] = []
    speaker_of: dict[str, str] = {}
    skipped: list[int] = []
    skipped_text: list[tuple[int, str]] = []
    known = list(mapper.speakers) + list(mapper._explicit)
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        character, body = split_line(raw, known)
        body, dropped = speakable(body)
        skipped_text.extend((number, d) for d in dropped)
        parts = [
            piece for p in split_sentences(body) if any(c.isalnum() for c in p) for piece in limit_length(p, max_words)
        ]
        if not parts:
            skipped.append(number)
            continue
        speaker = mapper(character)
        speaker_of.setdefault(character or "(narration)", speaker)
        image = lines_of.get(speaker, 0) % max(1, (images or {}).get(speaker, 1))
        lines_of[speaker] = lines_of.get(speaker, 0) + 1
        for k, part in enumerate(parts):
            sentences.append(
                Sentence(
                    index=len(sentences),
                    line=number,
                    character=character,
                    speaker=speaker,
                    text=part,
                    pause_before=LINE_PAUSE if k == 0 else 0.0,
                    pause_after=pause_after(part),
                    image=image,
                )
            )
    return Story(sentences=sentences, speaker_of=speaker_of, skipped_lines=skipped, skipped_text=skipped_text)
