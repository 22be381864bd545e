"""deepstory.script: the rules for described speakers, scenes of three, untagged openings and calibrated confidence,
each on a small hand-written passage."""

from __future__ import annotations

from deepstory.script import Script, attribute, discover
from deepstory.script.attribute import CONFIDENCE
from deepstory.script.characters import link_descriptions


def speakers(script: Script) -> list[str | None]:
    return [s.speaker for s in script.segments if s.quote]


def rules(script: Script) -> list[str]:
    return [s.evidence.split(":")[0] for s in script.segments if s.quote]


def test_described_speaker_becomes_a_character():
    text = (
        "A man in a grey coat stood at the gate.\n\n"
        "“Is this the mill?” said the stranger.\n\n"
        "“It is,” said Harriet.\n\n"
        "“Then I am late,” the stranger said, and he looked at the sky."
    )
    table = discover(text)
    assert "the stranger" in table and table["the stranger"]["aliases"] == ["the stranger"]
    assert speakers(attribute(text)) == ["the stranger", "Harriet", "the stranger"]


def test_description_with_a_gender_and_a_capital():
    text = "“Sit down,” said the old woman.\n\n“Thank you,” said Edmund.\n\nThe old woman smiled and said:\n\n“Good.”"
    table = discover(text)
    assert table["the old woman"]["gender"] == "female"
    assert speakers(attribute(text))[-1] == "the old woman"


def test_apposition_links_a_description_to_its_name():
    text = (
        "Mrs. Hale, the old lady, came in.\n\n“You are late,” said the old lady.\n\n“I am sorry,” said Edmund.\n\n"
        "“Late again,” said Mrs. Hale."
    )
    table = discover(text)
    assert "the old lady" not in table and "the old lady" in table["Mrs. Hale"]["aliases"]
    assert speakers(attribute(text)) == ["Mrs. Hale", "Edmund", "Mrs. Hale"]


def test_repeated_co_occurrence_links_a_description():
    table = {
        "Mrs. Hale": {"aliases": ["Mrs. Hale"], "gender": "female"},
        "Edmund": {"aliases": ["Edmund"], "gender": "male"},
        "the old lady": {"aliases": ["the old lady"], "gender": "female"},
    }
    text = (
        "Mrs. Hale sat by the fire.\n\nThe old lady knitted.\n\nEdmund came home late.\n\n"
        "Mrs. Hale looked up from her work.\n\nThe old lady sighed."
    )
    assert link_descriptions(text, table) == {"the old lady": "Mrs. Hale"}
    # two people in one sentence are two people: no link
    apart = "Mrs. Hale met the old lady at the door.\n\nThe old lady bowed.\n\nMrs. Hale bowed back."
    assert link_descriptions(apart, table) == {}


def test_tag_pronoun_is_not_read_inside_her():
    cast = {
        "Mr. Hale": {"aliases": ["Mr. Hale"], "gender": "male"},
        "Mrs. Hale": {"aliases": ["Mrs. Hale"], "gender": "female"},
        "Susan": {"aliases": ["Susan"], "gender": "female"},
    }
    text = "Mr. Hale read. Susan sewed.\n\n“We shall see,” said her mother, “what he thinks.”"
    assert speakers(attribute(text, cast)) == ["Mrs. Hale", "Mrs. Hale"]


def test_kin_vocative_is_answered_by_that_relative():
    cast = {
        "Mr. Hale": {"aliases": ["Mr. Hale"], "gender": "male"},
        "Mrs. Hale": {"aliases": ["Mrs. Hale"], "gender": "female"},
        "Susan": {"aliases": ["Susan"], "gender": "female"},
    }
    text = (
        "“The rain has stopped,” said Mr. Hale.\n\n“But you forget, mamma,” said Susan, “the road is flooded.”\n\n"
        "“I forget nothing.”"
    )
    s = attribute(text, cast)
    assert speakers(s)[-1] == "Mrs. Hale" and rules(s)[-1] == "vocative answered"


def test_repeated_call_and_shouted_name():
    cast = {"Edmund": {"aliases": ["Edmund"], "gender": "male"}, "Mrs. Hale": {"aliases": ["Mrs. Hale"]}}
    text = (
        "Mrs. Hale stood at the foot of the stairs.\n\n“EDMUND!” she called.\n\nNo answer.\n\n“Edmund!”\n\n"
        "Nothing stirred."
    )
    s = attribute(text, cast)
    assert speakers(s) == ["Mrs. Hale", "Mrs. Hale"]
    assert rules(s)[-1] == "repeated call"


def test_scene_look_ahead_names_the_other_party():
    cast = {"Edmund": {"aliases": ["Edmund"], "gender": "male"}, "the new boy": {"aliases": ["the new boy"]}}
    text = (
        "Edmund said:\n\n“Who are you?”\n\n“Nobody.”\n\n“Where from?”\n\n“Nowhere.”\n\n"
        "The new boy shrugged and said:\n\n“Leave me be.”"
    )
    s = attribute(text, cast)
    assert speakers(s) == ["Edmund", "the new boy", "Edmund", "the new boy", "the new boy"]
    assert rules(s)[1] == "scene look-ahead"


def test_untagged_opening_takes_the_first_speaker_the_scene_names():
    cast = {"Edmund": {"aliases": ["Edmund"], "gender": "male"}, "Mrs. Hale": {"aliases": ["Mrs. Hale"]}}
    text = "“Edmund!”\n\nNo answer.\n\nMrs. Hale put down her basket and said:\n\n“Where is that boy?”"
    s = attribute(text, cast)
    assert speakers(s) == ["Mrs. Hale", "Mrs. Hale"]
    assert rules(s)[0] == "scene look-ahead"


def test_other_party_is_the_one_present_not_the_last_speaker():
    cast = {
        "Edmund": {"aliases": ["Edmund"], "gender": "male"},
        "Harriet": {"aliases": ["Harriet"], "gender": "female"},
        "Susan": {"aliases": ["Susan"], "gender": "female"},
    }
    # Susan was mentioned long ago, then a long narration paragraph opened a new scene with Edmund and Harriet
    long = " ".join(["The orchard was quiet in the evening light and the birds were still."] * 6)
    text = f"Susan went home.\n\n{long} Harriet sat under a tree.\n\n“Hello,” said Edmund.\n\n“Hello yourself.”"
    s = attribute(text, cast)
    assert speakers(s) == ["Edmund", "Harriet"]
    assert rules(s)[1] == "other party"


def test_narration_beat_gives_the_quote_to_the_one_who_acts():
    cast = {
        "Edmund": {"aliases": ["Edmund"], "gender": "male"},
        "Harriet": {"aliases": ["Harriet"], "gender": "female"},
        "Mrs. Hale": {"aliases": ["Mrs. Hale"], "gender": "female"},
    }
    text = (
        "“I will go,” said Edmund.\n\n“You will not,” said Harriet.\n\n"
        "Mrs. Hale said nothing more, but began scolding the cat.\n\n“Get off the table, you.”"
    )
    s = attribute(text, cast)
    assert speakers(s)[-1] == "Mrs. Hale" and rules(s)[-1] == "narration beat"


def test_scare_quote_is_narration_voice():
    text = "Edmund's hat was built for “style,” not use.\n\n“Nice hat,” said Harriet."
    s = attribute(text)
    assert speakers(s) == [None, "Harriet"] and rules(s)[0] == "scare quote"


def test_confidence_is_the_rule_table():
    text = "“Is he married?” said Edmund.\n\n“Oh, single!” said Harriet.\n\n“How so?”"
    s = attribute(text)
    quotes = [seg for seg in s.segments if seg.quote]
    assert [q.confidence for q in quotes] == [
        CONFIDENCE["tag after"],
        CONFIDENCE["tag after"],
        CONFIDENCE["turn-taking"],
    ]
    assert all(0.0 < c <= 1.0 for c in CONFIDENCE.values())


def test_possessed_description_is_its_own_character_and_no_doubled_name():
    text = (
        "The firm was still known as Hartley Hartley, though only one Hartley was left.\n\n"
        "“Good morning, uncle!” said Hartley's nephew.\n\n"
        "“Nonsense,” said Hartley.\n\n"
        "“You cannot mean it,” returned the nephew."
    )
    table = discover(text)
    assert "Hartley Hartley" not in table
    assert "the nephew" in table and "Hartley's nephew" in table["the nephew"]["aliases"]
    assert table["the nephew"]["gender"] == "male"
    assert speakers(attribute(text)) == ["the nephew", "Hartley", "the nephew"]


def test_exit_and_entry_change_the_pair_taking_turns():
    text = (
        "“Stay for supper,” said the nephew.\n\n“No,” said Hartley.\n\n“Then good night,” said the nephew.\n\n"
        "“Good night.”\n\n"
        "His nephew left the room without a word.\n\n"
        "A moment later a gentleman came in, hat in hand.\n\n"
        "“Have I the honour of addressing the owner?”\n\n"
        "“You have,” said Hartley.\n\n"
        "“We are collecting for the poor,” said the gentleman."
    )
    got = speakers(attribute(text))
    assert got[3] == "Hartley"
    assert got[4] != "the nephew"  # he has left: the newcomer speaks
    assert got[4] == "the gentleman"


def test_voice_named_after_the_tag():
    text = "“Good evening!” cried a cheerful voice. It was the voice of the stranger, who came up quickly.\n\n"
    text += "“Who is there?” said Hartley.\n\n“Only me,” said the stranger."
    assert speakers(attribute(text))[0] == "the stranger"


def test_first_person_lead_in_makes_a_narrator():
    text = (
        "“Come in,” says the woman, and I did.\n\n"
        "I set down. Then I says:\n\n“It is cold out.”\n\n"
        "“It is,” she says.\n\n"
        "I warmed my hands a while, and I says:\n\n“I must go.”"
    )
    table = discover(text)
    assert "I" in table
    got = speakers(attribute(text))
    assert got == ["the woman", "I", "the woman", "I"]


def test_turn_taking_among_several_present_is_a_weaker_guess():
    text = (
        "“Come to the fire,” said Beth.\n\n“I am coming,” said Amy.\n\n"
        "Meg, Jo, Beth and Amy sat by the fire.\n\n"
        "“It is cold,” said Meg.\n\n"
        "“It is not,” said Jo.\n\n"
        "“I think it is.”\n\n"
        "“Nonsense.”"
    )
    script = attribute(text)
    quotes = [s for s in script.segments if s.quote]
    assert rules(script)[4] == "turn-taking, crowded"
    assert quotes[4].confidence < CONFIDENCE["turn-taking"]
    two = "“It is cold,” said Meg.\n\n“It is not,” said Jo.\n\n“I think it is.”"
    assert rules(attribute(two))[2] == "turn-taking"


def test_a_name_talked_about_in_quotes_is_no_fallback_speaker():
    text = (
        "“What is your name?” said the woman.\n\n“Sarah. Sarah, and Sarah again, people call me Sarah.”\n\n"
        "She looked hard at me. After a while she says:\n\n“Well, Sarah, sit down.”"
    )
    assert speakers(attribute(text))[-1] == "the woman"


def test_narrator_answering_a_name_question_keeps_that_name_as_an_alias():
    text = (
        "“Come in,” says the woman, and I did.\n\n“What is your name?” she says.\n\n“Polly Hatch.”\n\n"
        "“Sit down, then.”\n\nI sat, and I says:\n\n“Thank you, mum.”\n\n“Polly is a good name,” says she.\n\n"
        "“Yes, mum,” I says.\n\nPolly was a good name, I thought, for a boy in a bonnet."
    )
    table = discover(text)
    assert "Polly Hatch" in table["I"]["aliases"] and "Polly" not in table
    assert table["I"]["gender"] is None  # a name it gives itself may be a disguise
    assert speakers(attribute(text))[:3] == ["the woman", "the woman", "I"]


def test_reported_speech_is_a_turn_and_a_third_person_answers_an_address():
    text = (
        "“Come here, child,” said Mr. Grey. “Is it true you refused him?”\n\n"
        "Harriet replied that it was.\n\n"
        "“Very well. Is it not so, Mrs. Grey?”\n\n"
        "“It is,” said Mrs. Grey.\n\n"
        "“Then you are free, Harriet.”"
    )
    assert speakers(attribute(text)) == ["Mr. Grey", "Mr. Grey", "Mr. Grey", "Mrs. Grey", "Mr. Grey"]


def test_last_speech_verb_and_negated_verb():
    text = (
        "“We must pay,” said Jo.\n\n"
        "“I am the eldest,” began Meg, but Jo cut in with a decided, “I shall pay.”\n\n"
        "Meg did not say “never,” but she thought it.\n\n“Fine,” said Meg."
    )
    script = attribute(text)
    quotes = [(s.text, s.speaker) for s in script.segments if s.quote]
    assert quotes[1][1] == "Meg" and quotes[2][1] == "Jo"
    assert ("never,", None) in quotes


def test_descriptions_stay_apart_from_each_other_and_from_the_narrator():
    text = (
        "“Who is there?” I says.\n\n“A friend,” said the stranger.\n\nI let him in, and I looked at him.\n\n"
        "“Sit,” I says.\n\nI went to the door. I saw a lady on the step.\n\n“Is he here?” said the lady.\n\n"
        "“He is,” said the stranger."
    )
    table = discover(text)
    assert {"I", "the stranger", "the lady"} <= set(table)
    assert table["I"]["aliases"] == ["I"]
    assert speakers(attribute(text)) == ["I", "the stranger", "I", "the lady", "the stranger"]
