"""deepstory.script: the rules added after the held-out measurement (ranks, head nouns, titled first names, the
first-person narrator, pronouns, who is spoken to), each on a small hand-written passage."""

from __future__ import annotations

from deepstory.script import Script, attribute, discover
from deepstory.script.characters import narrator_name


def cast(*names: str) -> dict[str, dict]:
    genders = {"Harriet": "female", "Emma": "female", "Becky": "female"}
    return {n: {"aliases": [n], "gender": genders.get(n, "male")} for n in names}


def speakers(script: Script) -> list[str | None]:
    return [s.speaker for s in script.segments if s.quote]


def test_a_rank_after_the_is_a_character_and_a_pronoun_finds_it():
    text = (
        "The hall was full.\n\n“Bring me the map,” said the Duchess.\n\n“Here it is,” said Robin.\n\n"
        "The Duchess looked at it for a long while, and then she said:\n\n“We ride at dawn.”"
    )
    table = discover(text)
    assert table["Duchess"]["gender"] == "female"
    assert speakers(attribute(text)) == ["Duchess", "Robin", "Duchess"]
    # a lone title with no "the" is no name
    assert "Mr" not in discover("“Hello,” said Mr. Grey.\n\n“Hello,” said Mr. Grey again.")


def test_a_head_noun_joins_its_longer_name():
    text = (
        "Then the Spotted Owl flew down.\n\n“Who are you?” said the Owl.\n\n“Nobody,” said Mirren.\n\n"
        "“Then go home,” the Owl said."
    )
    table = discover(text)
    assert "Owl" not in table and table["Spotted Owl"]["aliases"] == ["Spotted Owl", "Owl"]
    assert speakers(attribute(text)) == ["Spotted Owl", "Mirren", "Spotted Owl"]
    # two longer names end in the same word: ambiguous, no join
    two = "the Grey Owl sat by the Spotted Owl.\n\n“Hoo,” said the Owl.\n\n“Hoo,” said the Owl."
    assert "Owl" in discover(two)


def test_a_title_before_a_first_name_or_nickname_joins_that_character():
    text = (
        "“Come, Miss Eliza,” said Mr. Grey.\n\n“No,” said Elizabeth.\n\n“Miss Elizabeth Hale!” cried Mr. Grey.\n\n"
        "“No,” said Elizabeth again.\n\n“Miss Eliza, please,” said Mr. Grey, “dance with Miss Elizabeth Hale’s friend.”"
    )
    table = discover(text)
    assert {"Miss Eliza", "Miss Elizabeth Hale"} <= set(table["Elizabeth"]["aliases"])
    # a title before a surname joins the first name the text pairs with it
    lucas = "“Yes,” said Miss Lucas.\n\n“No,” said Charlotte.\n\nCharlotte Lucas smiled."
    assert discover(lucas)["Charlotte"]["aliases"] == ["Charlotte", "Miss Lucas"]


def test_a_known_first_name_used_often_is_a_character_without_a_tag():
    text = (
        "Joe sat by the window. Tom drew a line on Joe's slate. Joe laughed. Joe was angry then. Said he:\n\n"
        "“Leave it, Tom.”\n\n“I won't,” said Tom."
    )
    assert "Joe" in discover(text)
    assert speakers(attribute(text)) == ["Joe", "Tom"]


def test_first_person_narrator_is_named_by_the_others():
    text = (
        "Marlow came in and sat down.\n\n“You look tired, Hastings,” he said.\n\n“I am,” I answered.\n\n"
        "“Sit down, Hastings. You worked late.”\n\n“Very late,” said I.\n\n“Go to bed,” said Marlow."
    )
    assert narrator_name(text) == (2, "Hastings")
    # the narration never names "I": the character is "I", and the name the others call it an alias
    table = discover(text)
    assert table["I"]["aliases"] == ["I", "Hastings"]
    assert speakers(attribute(text)) == ["Marlow", "I", "Marlow", "I", "Marlow"]
    # the narration names it too ("My name is Hastings"): that name is the character's
    named = "My name is Hastings, and I keep this record.\n\n" + text
    assert discover(named)["Hastings"]["aliases"] == ["Hastings", "I"]
    # nobody names the narrator: the character is "I"; and "he" never means the narrator
    plain = "“Late,” I said.\n\nMarlow frowned.\n\n“Very,” said I.\n\n“Go,” he said."
    table = discover(plain)
    assert table["I"]["aliases"] == ["I"]
    assert speakers(attribute(plain, {**table, **cast("Marlow")})) == ["I", "I", "Marlow"]


def test_the_one_spoken_to_is_not_the_pronoun():
    text = (
        "Harriet and Emma walked home together.\n\n“What does he mean,” said she to Emma, “by staring so?”\n\n"
        "“Nothing at all.”"
    )
    assert speakers(attribute(text, cast("Harriet", "Emma"))) == ["Harriet", "Harriet", "Emma"]


def test_a_pronoun_takes_the_name_in_its_own_clause_and_skips_objects():
    text = (
        "“Sing for us,” said Harriet.\n\n"
        "Harriet would not stop, which at last provoking Emma to do it, she turned to the piano and said,--\n\n"
        "“Very well.”\n\n"
        "Tom gave Becky the knob and passed it around her so that she could see it, and said:\n\n“Take it.”"
    )
    assert speakers(attribute(text, cast("Harriet", "Emma", "Tom", "Becky"))) == ["Harriet", "Emma", "Tom"]
    # a name after a preposition is no antecedent: she is the one smiling
    smiled = "“Well,” said Harriet.\n\nEmma smiled at Harriet, and she said:\n\n“Indeed.”"
    assert speakers(attribute(smiled, cast("Harriet", "Emma"))) == ["Harriet", "Emma"]


def test_a_tag_to_someone_makes_them_answer_and_accosted_by_speaks():
    text = (
        "“Sir,” said Mr. Grey, “a word.”\n\n“Yes?” said Robin.\n\n"
        "The Captain came in, and said to Robin, “Your horse is ready.”\n\n“Thank you.”\n\n"
        "Robin was thinking of the road, when thus accosted by Mr. Grey,--\n\n“You ride tonight?”\n\n“I do.”"
    )
    table = cast("Mr. Grey", "Robin", "Captain")
    assert speakers(attribute(text, table)) == [
        "Mr. Grey",
        "Mr. Grey",
        "Robin",
        "Captain",
        "Robin",
        "Mr. Grey",
        "Robin",
    ]


def test_a_plural_subject_is_a_group():
    text = "“Are they gone?” shouted the Captain.\n\n“They are gone, sir!” the soldiers shouted in reply."
    assert speakers(attribute(text)) == ["Captain", None]


def test_a_capital_letter_named_in_narration_is_not_speech():
    text = "“Look,” said Robin.\n\nI held it up and saw a large “E” with a small “g,” woven into the paper.\n\n“Well?”"
    script = attribute(text)
    quotes = [(s.text, s.speaker) for s in script.segments if s.quote]
    assert ("E", None) in quotes and ("g,", None) in quotes


def test_a_reply_to_a_name_keeps_its_pronoun_tag():
    text = (
        "Emma and Harriet sat at the piano.\n\n“Sing, Emma,” said Harriet.\n\n"
        "“You are a strange friend!” On Harriet’s pressing, however, she added, “Very well.”"
    )
    assert speakers(attribute(text, cast("Harriet", "Emma"))) == ["Harriet", "Emma", "Emma"]


#: The splits of chapters labelled by annotators who never saw the attributor, not yet measured (or measured once).
HELD_OUT = ("heldout3",)


def test_all_ten_labelled_chapters_do_not_regress():
    """A guard on development data (all fourteen chapters are in-sample now): the ten first chapters 0.92 or better
    over all and 0.78 each, the third annotator's four 0.75 each renamed one to one.  It says nothing about new books;
    the fourth annotator's set does."""
    import json
    import sys
    from pathlib import Path

    data = Path(__file__).parent.parent / "benchmarks" / "data" / "attribution"
    sys.path.insert(0, str(data.parent.parent))
    from attribution import score  # benchmarks/attribution.py

    right = count = 0
    for path in sorted(data.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if text.splitlines()[0].split(" | ")[3] in HELD_OUT:
            continue  # measured once by benchmarks/attribution.py, never a target
        labels = json.loads(path.with_suffix(".labels.json").read_text(encoding="utf-8"))
        correct, total, _, _, _, _, _, fixed = score(text, labels, attribute(text))
        if "heldout2" in text.splitlines()[0]:  # the third annotator's four: names the chapter never gives (Huck
            assert fixed / total >= 0.75, f"{path.stem}: {fixed}/{total} renamed"  # as "Sarah") count renamed
            continue
        assert correct / total >= 0.78, f"{path.stem}: {correct}/{total}"
        right, count = right + correct, count + total
    assert count >= 650 and right / count >= 0.92, f"{right}/{count}"
