"""Story lines -> speakers and sentences."""

from __future__ import annotations

import pytest

from deepstory.errors import StoryError
from deepstory.story import SpeakerMapper, parse_story, split_line

SPEAKERS = ["Narrator", "Alice", "Bob", "Carol"]


# ------------------------------------------------------------------------- split_line
@pytest.mark.parametrize(
    "line, expected",
    [
        ("Alice: Hello there.", ("Alice", "Hello there.")),
        ("Alice|Hello there.", ("Alice", "Hello there.")),
        ("  Alice :   Hello there.  ", ("Alice", "Hello there.")),
        ("Mary Jane Watson: Hi.", ("Mary Jane Watson", "Hi.")),
        ("some body|whatever you say", ("some body", "whatever you say")),  # "|" always separates
        ("The sun rose over the hill.", ("", "The sun rose over the hill.")),
        ("It was 3:00 when he left.", ("", "It was 3:00 when he left.")),
        ("Note: bring tea", ("Note", "bring tea")),
        ("the end: it was over", ("", "the end: it was over")),  # lower case, not configured
        ("R2D2: beep", ("", "R2D2: beep")),  # digits: not a name
        ("One Two Three Four Five: too many words", ("", "One Two Three Four Five: too many words")),
        ("Alice:", ("Alice", "")),
    ],
)
def test_split_line(line: str, expected: tuple[str, str]) -> None:
    assert split_line(line) == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        ("bob: hi there", ("bob", "hi there")),
        ("BOB: hi there", ("BOB", "hi there")),
        ("narrator: once upon a time", ("narrator", "once upon a time")),
        ("dr who: not configured", ("", "dr who: not configured")),
    ],
)
def test_split_line_configured_names_are_case_insensitive(line: str, expected: tuple[str, str]) -> None:
    assert split_line(line, known=SPEAKERS) == expected


def test_split_line_lower_case_name_needs_configuration() -> None:
    assert split_line("bob: hi there") == ("", "bob: hi there")


# ------------------------------------------------------------------------- SpeakerMapper
def test_narration_goes_to_default() -> None:
    mapper = SpeakerMapper(SPEAKERS, "Narrator")
    assert mapper("") == "Narrator"


@pytest.mark.parametrize("character", ["Alice", "alice", "ALICE", "Ａｌｉｃｅ", " Alice "])
def test_configured_name_matches_exactly_case_and_nfkc_insensitive(character: str) -> None:
    mapper = SpeakerMapper(SPEAKERS, "Narrator")
    assert mapper(character) == "Alice"


def test_explicit_speaker_map() -> None:
    mapper = SpeakerMapper(SPEAKERS, "Narrator", speaker_map={"Holmes": "Carol", "Watson": "Narrator"})
    assert mapper("Holmes") == "Carol"
    assert mapper("HOLMES") == "Carol"
    assert mapper("Watson") == "Narrator"
    # An explicitly mapped name does not use up a round-robin slot.
    assert mapper("Zed") == "Alice"


def test_configured_name_wins_over_speaker_map() -> None:
    mapper = SpeakerMapper(SPEAKERS, "Narrator", speaker_map={"Alice": "Bob"})
    assert mapper("Alice") == "Alice"


def test_round_robin_over_non_default_in_first_appearance_order() -> None:
    mapper = SpeakerMapper(SPEAKERS, "Narrator")
    names = ["Zed", "Yan", "Xia", "Wu", "Vic"]
    assert [mapper(n) for n in names] == ["Alice", "Bob", "Carol", "Alice", "Bob"]
    # Asking again (any case) gives the same answer, not the next slot.
    assert [mapper(n.upper()) for n in reversed(names)] == ["Bob", "Alice", "Carol", "Bob", "Alice"]
    assert mapper("Uma") == "Carol"


def test_round_robin_default_placement_in_list_does_not_matter() -> None:
    mapper = SpeakerMapper(["Alice", "Bob", "Narrator"], "Narrator")
    assert [mapper(n) for n in ["Zed", "Yan", "Xia"]] == ["Alice", "Bob", "Alice"]


def test_only_default_speaker_gets_everyone() -> None:
    mapper = SpeakerMapper(["Narrator"], "Narrator")
    assert [mapper(n) for n in ["", "Zed", "Yan"]] == ["Narrator"] * 3


def test_unknown_default_speaker_is_an_error() -> None:
    with pytest.raises(StoryError, match="Nobody"):
        SpeakerMapper(SPEAKERS, "Nobody")


def test_unknown_speaker_map_target_is_an_error() -> None:
    with pytest.raises(StoryError, match="Ghost"):
        SpeakerMapper(SPEAKERS, "Narrator", speaker_map={"Holmes": "Ghost"})


def test_no_speakers_is_an_error() -> None:
    with pytest.raises(StoryError):
        SpeakerMapper([], "Narrator")


def test_story_error_is_a_value_error() -> None:
    assert issubclass(StoryError, ValueError)


# ------------------------------------------------------------------------- parse_story
STORY = """Once upon a time. There was a fox.

Zed: Hello! Who are you?
Alice: I am Alice.
Yan|Nice to meet you
It was 3:00 when the fox left.
Bob:
...
ZED: Goodbye."""


def _parse(text: str = STORY, **kw):
    return parse_story(text, SpeakerMapper(SPEAKERS, "Narrator", **kw))


def test_parse_story_sentences() -> None:
    story = _parse()
    rows = [(s.index, s.line, s.character, s.speaker, s.text) for s in story.sentences]
    assert rows == [
        (0, 1, "", "Narrator", "Once upon a time."),
        (1, 1, "", "Narrator", "There was a fox."),
        (2, 3, "Zed", "Alice", "Hello!"),
        (3, 3, "Zed", "Alice", "Who are you?"),
        (4, 4, "Alice", "Alice", "I am Alice."),
        (5, 5, "Yan", "Bob", "Nice to meet you"),
        (6, 6, "", "Narrator", "It was 3:00 when the fox left."),
        (7, 9, "ZED", "Alice", "Goodbye."),  # same character as "Zed"
    ]


def test_parse_story_pauses() -> None:
    story = _parse()
    assert [s.pause_before for s in story.sentences] == [0.5, 0.0, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5]
    assert [s.pause_after for s in story.sentences] == pytest.approx([0.3, 0.3, 0.3, 0.4, 0.3, 0.0, 0.3, 0.3])


def test_parse_story_skips_lines_without_words() -> None:
    story = _parse()
    assert story.skipped_lines == [7, 8]  # "Bob:" and "..."; blank line 2 is not reported
    assert all(s.line not in (2, 7, 8) for s in story.sentences)
    assert "Bob" not in story.speaker_of


def test_parse_story_speakers_in_first_appearance_order() -> None:
    story = _parse()
    assert story.speakers == ["Narrator", "Alice", "Bob"]
    assert story.speaker_of == {
        "(narration)": "Narrator",
        "Zed": "Alice",
        "Alice": "Alice",
        "Yan": "Bob",
        "ZED": "Alice",
    }

    story = _parse("Carol: first.\nBob: second.\nthird.\nCarol: again.")
    assert story.speakers == ["Carol", "Bob", "Narrator"]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_parse_story_line_endings(newline: str) -> None:
    reference = _parse()
    story = _parse(STORY.replace("\n", newline))
    assert story == reference
    assert all("\r" not in s.text for s in story.sentences)


def test_parse_story_is_deterministic() -> None:
    first, second = _parse(), _parse()
    assert first == second
    mapper = SpeakerMapper(SPEAKERS, "Narrator")
    assert parse_story(STORY, mapper) == parse_story(STORY, mapper)


def test_parse_story_lower_case_unconfigured_name_is_narration() -> None:
    # Only configured names (and speaker_map names) are recognised in lower case.
    story = _parse("Zed: Hi.\nzed: bye.")
    assert [(s.character, s.speaker, s.text) for s in story.sentences] == [
        ("Zed", "Alice", "Hi."),
        ("", "Narrator", "zed: bye."),
    ]


def test_parse_story_lower_case_configured_speaker() -> None:
    story = _parse("carol: hi there.\nnarrator: and so it went.")
    assert [(s.character, s.speaker, s.text) for s in story.sentences] == [
        ("carol", "Carol", "hi there."),
        ("narrator", "Narrator", "and so it went."),
    ]


def test_parse_story_lower_case_speaker_map_name() -> None:
    story = _parse("holmes: elementary.", speaker_map={"Holmes": "Bob"})
    assert [(s.character, s.speaker, s.text) for s in story.sentences] == [("holmes", "Bob", "elementary.")]


def test_parse_story_empty() -> None:
    story = _parse("\n\n  \n")
    assert story.sentences == [] and story.speakers == [] and story.skipped_lines == []
