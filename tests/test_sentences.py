"""The rule-based sentence splitter and the pause after each sentence."""

from __future__ import annotations

import pytest

from deepstory.story.sentences import LINE_PAUSE, pause_after, split_sentences


# ------------------------------------------------------------------------- quotes
@pytest.mark.parametrize(
    "text, expected",
    [
        ('"Stop!" he cried.', ['"Stop!" he cried.']),
        ("“Stop!” he cried.", ["“Stop!” he cried."]),
        ('"Wait..." She turned.', ['"Wait..."', "She turned."]),
        ('He ran! "Why?" she asked.', ["He ran!", '"Why?" she asked.']),
        ('He said. "Go!" she said. Then silence.', ["He said.", '"Go!" she said.', "Then silence."]),
        ("He left (quietly.) Nobody saw.", ["He left (quietly.)", "Nobody saw."]),
        ('Is it? "yes" he whispered.', ['Is it? "yes" he whispered.']),
    ],
)
def test_quotes(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# ------------------------------------------------------------------------- ellipses
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Wait... what is that?", ["Wait... what is that?"]),
        ("Wait… what is that?", ["Wait… what is that?"]),
        ("Wait... There it is.", ["Wait...", "There it is."]),
        ("Wait… There it is.", ["Wait…", "There it is."]),
        ("Well… maybe. Then… He left.", ["Well… maybe.", "Then…", "He left."]),
    ],
)
def test_ellipses(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# ------------------------------------------------------------------------- abbreviations
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith met Mrs. Jones. They talked.", ["Mr. Smith met Mrs. Jones.", "They talked."]),
        ("Dr. Watson arrived. Holmes was out.", ["Dr. Watson arrived.", "Holmes was out."]),
        ("We saw cities, e.g. Paris and Rome. Then we left.", ["We saw cities, e.g. Paris and Rome.", "Then we left."]),
        ("The culprit, i.e. Bob, ran. Nobody followed.", ["The culprit, i.e. Bob, ran.", "Nobody followed."]),
        ("Ask MR. Brown. He knows.", ["Ask MR. Brown.", "He knows."]),
    ],
)
def test_abbreviations(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_initials() -> None:
    assert split_sentences("J. R. R. Tolkien wrote it. He died in 1973.") == [
        "J. R. R. Tolkien wrote it.",
        "He died in 1973.",
    ]


def test_ordinary_word_before_capital_still_splits() -> None:
    # Only known abbreviations and single letters suppress a split.
    assert split_sentences("He met Smith. Jones came later.") == ["He met Smith.", "Jones came later."]


# ------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "text, expected",
    [
        ("It is 3.5 metres long. Really.", ["It is 3.5 metres long.", "Really."]),
        ("We had 1,200 men. Enough.", ["We had 1,200 men.", "Enough."]),
        ("It costs $3.50 today. Cheap.", ["It costs $3.50 today.", "Cheap."]),
        ("He counted. 3 men came.", ["He counted.", "3 men came."]),
        ("Pi is 3.14159 or so", ["Pi is 3.14159 or so"]),
    ],
)
def test_numbers(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# ------------------------------------------------------------------------- ? and !
@pytest.mark.parametrize(
    "text, expected",
    [
        ("What?! Really?? Yes!!! Ok.", ["What?!", "Really??", "Yes!!!", "Ok."]),
        ("Who? Me? Yes.", ["Who?", "Me?", "Yes."]),
        ("What? no way.", ["What? no way."]),
        ("Run! now!", ["Run! now!"]),
    ],
)
def test_question_and_exclamation_sequences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# ------------------------------------------------------------------------- whitespace / empty
def test_whitespace_is_normalised() -> None:
    assert split_sentences("  Hello   world.\n\tNext \u00a0 one.  ") == ["Hello world.", "Next one."]


def test_no_terminal_punctuation_is_one_sentence() -> None:
    assert split_sentences("no punctuation at all") == ["no punctuation at all"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_input(text: str) -> None:
    assert split_sentences(text) == []


def test_sentences_rejoin_to_normalised_text() -> None:
    text = 'Mr. Smith said "Hi!" to J. Doe. It cost $3.50... She paid! Why? Because… She could.'
    parts = split_sentences(text)
    assert parts == [
        'Mr. Smith said "Hi!" to J. Doe.',
        "It cost $3.50...",
        "She paid!",
        "Why?",
        "Because…",
        "She could.",
    ]
    assert " ".join(parts) == " ".join(text.split())


# ------------------------------------------------------------------------- pauses
@pytest.mark.parametrize(
    "sentence, pause",
    [
        ("It ended.", 0.3),
        ("And then,", 0.15),
        ("Stop!", 0.3),
        ("Why?", 0.4),
        ("Wait…", 0.6),
        ("Wait...", 0.6),
        ("As follows:", 0.15),
        ("First part;", 0.2),
        ("no punctuation", 0.0),
        ("", 0.0),
        ("It ended.  ", 0.3),
    ],
)
def test_pause_after_punctuation(sentence: str, pause: float) -> None:
    assert pause_after(sentence) == pytest.approx(pause)


@pytest.mark.parametrize(
    "sentence, pause",
    [
        ('"It ended."', 0.35),
        ('"Why?"', 0.45),
        ("“Stop!”", 0.35),
        ("'Wait...'", 0.65),
        ("‘Wait…’", 0.65),
        ("«Fin.»", 0.35),
        ('"Then,"', 0.20),
    ],
)
def test_pause_after_quoted(sentence: str, pause: float) -> None:
    assert pause_after(sentence) == pytest.approx(pause)


@pytest.mark.parametrize("sentence, pause", [("(It ended.)", 0.3), ("[Why?]", 0.4)])
def test_closing_bracket_is_not_a_quote(sentence: str, pause: float) -> None:
    assert pause_after(sentence) == pytest.approx(pause)


def test_line_pause() -> None:
    assert LINE_PAUSE == pytest.approx(0.5)  # noqa: SIM300  LINE_PAUSE is the value under test (a constant by name only)
