"""Casting: a voice for every character of a book, from the measured palette and the user's own voice files.

Only one neural voice ships offline (Piper's joe); the others are shaped from
it or spoken by eSpeak NG.  ``benchmarks/palette.py`` measured a set of such
voices once (word error rate, and how alike every pair sounds by speaker
embedding) and wrote them, most distinct first, to
``deepstory/assets/voices/palette.yaml`` with a ``threshold`` similarity at
which two voices sound the same.  :func:`assign_voices` reads those figures:
it synthesizes nothing and is deterministic.

Who gets what:

1. the narrator gets the palette's first voice: joe as the bundled cast has
   it, the clearest voice for the voice heard most;
2. then the user's voice files (Piper ``.onnx``; every speaker of a
   multi-speaker file is one voice), in the order given, to the characters
   with the most lines.  They were never measured: two of them, or one of
   them and a palette voice, are taken to be distinct;
3. then the palette: each character, most lines first, gets the first voice
   in the palette's order (most distinct first) that is below the threshold
   to every voice already cast; a female character a female-labelled voice
   first, then a neutral one, a male character likewise; never one of the
   other gender while the palette has one of its own or a neutral one (even
   if shared: sounding like another character is the lesser harm).  Without
   genders this casts the palette's own order, each voice the least like
   those before it.  Once no voice is left below the threshold, the least
   similar one is taken (an already cast one last, that of the characters
   heard least, the narrator's only when nothing else is left), and a warning
   names the characters who sound alike.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

PALETTE = Path(__file__).resolve().parent.parent / "assets" / "voices" / "palette.yaml"
GENDERS = ("female", "male", "neutral")
#: The keys of a character's ``voice:`` node (conf/speakers/*.yaml), every one set in what casting returns.
VOICE_KEYS = ("engine", "model", "speaker", "pitch", "formant", "rate", "variant")


@dataclass(frozen=True)
class PaletteVoice:
    """One measured voice of the palette."""

    label: str  # a few words that say what it is ("joe +5 st f1.12")
    gender: str  # how it presents: female, male or neutral
    voice: Mapping[str, Any]  # a full speakers.<Name>.voice node
    wer: float | None = None  # pocketsphinx's word error rate on the benchmark's prose
    similarity: Mapping[str, float] = field(default_factory=dict)  # to the other palette voices, by label


@dataclass(frozen=True)
class Palette:
    """Measured voices, most distinct first, and the similarity at which two sound the same."""

    voices: tuple[PaletteVoice, ...]
    threshold: float

    def similarity(self, a: str, b: str) -> float:
        """The recorded similarity of two palette voices (1.0 for a voice with itself)."""
        if a == b:
            return 1.0
        return float(self.by_label[a].similarity[b])

    @functools.cached_property
    def by_label(self) -> dict[str, PaletteVoice]:
        return {v.label: v for v in self.voices}


def load_palette(path: str | os.PathLike[str] | None = None) -> Palette:
    """The palette file (default: the bundled one, read once), checked; a ``ValueError`` names what is wrong."""
    return _load(Path(path).expanduser().resolve() if path is not None else PALETTE)


@functools.cache
def _load(path: Path) -> Palette:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        voices = tuple(
            PaletteVoice(
                label=str(v["label"]),
                gender=str(v["gender"]),
                voice={k: v["voice"].get(k) for k in VOICE_KEYS},
                wer=None if v.get("wer") is None else float(v["wer"]),
                similarity={str(k): float(s) for k, s in (v.get("similarity") or {}).items()},
            )
            for v in data["voices"]
        )
        palette = Palette(voices=voices, threshold=float(data["threshold"]))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a voice palette ({type(exc).__name__}: {exc})") from None
    labels = [v.label for v in voices]
    if not voices or len(set(labels)) != len(labels):
        raise ValueError(f"{path}: a palette needs voices with distinct labels")
    for v in voices:
        if v.gender not in GENDERS:
            raise ValueError(f"{path}: voice {v.label!r} has gender {v.gender!r}, not one of {', '.join(GENDERS)}")
        missing = [other for other in labels if other != v.label and other not in v.similarity]
        if missing:
            raise ValueError(f"{path}: voice {v.label!r} has no similarity to {', '.join(missing)}")
    return palette


@dataclass(frozen=True)
class _Option:
    """A voice casting may give: one of the user's (``user``: measured by no one) or of the palette."""

    label: str
    gender: str | None  # None: unknown (a user's voice file says nothing of it)
    voice: Mapping[str, Any]
    user: bool
    index: int  # its place: the user's files in the order given, then the palette's order


def user_options(paths: Sequence[str | os.PathLike[str]]) -> list[_Option]:
    """Every speaker of every Piper voice file given, in order (a multi-speaker file's by number)."""
    from deepstory.speech.piper import read_voice_config

    options: list[_Option] = []
    for path in paths:
        model = Path(path).expanduser()
        config = read_voice_config(model, "user voice")
        count = int(config["num_speakers"])
        names = sorted((dict(config.get("speaker_id_map") or {})).items(), key=lambda item: int(item[1]))
        speakers: list[tuple[str | int | None, str]]
        if names:  # by name, as voice.speaker takes it (python -m deepstory.voices --speakers lists them)
            speakers = [(str(name), f"{model.name} {name}") for name, _ in names]
        elif count > 1:
            speakers = [(n, f"{model.name} speaker {n}") for n in range(count)]
        else:
            speakers = [(None, model.name)]
        for speaker, label in speakers:
            voice = {"engine": "piper", "model": str(model), "speaker": speaker, "pitch": 0.0, "formant": 1.0}
            voice.update(rate=1.0, variant=None)
            options.append(_Option(label, None, voice, True, len(options)))
    return options


def assign_voices(
    characters: Sequence[tuple[str, str | None, int]],
    narrator: str | None = "Narrator",
    user_voices: Sequence[str | os.PathLike[str]] = (),
    palette: Palette | str | os.PathLike[str] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A voice for every character, and warnings naming the characters who sound alike.

    ``characters``: ``(name, gender, lines)`` in order of importance; gender is
    ``"female"``, ``"male"``, ``"neutral"`` (a neutral voice first, then any) or
    ``None`` (any voice).  The narrator (by name;
    ``None``: there is none) may be among them or not: it is cast either way,
    first.  ``user_voices``: Piper ``.onnx`` files, cast before the palette.
    ``palette``: a :class:`Palette` or a palette file; default: the bundled one.

    Returns ``{name: voice}`` (a full ``speakers.<Name>.voice`` node, the
    narrator's first, then by importance) and the warnings.  See the module's
    doc for the rules.
    """
    if not isinstance(palette, Palette):
        palette = load_palette(palette)
    for name, gender, _ in characters:
        if gender is not None and gender not in GENDERS:
            raise ValueError(f"character {name!r}: gender {gender!r} is not one of {', '.join(GENDERS)}, or None")
    options = user_options(user_voices)
    options += [_Option(v.label, v.gender, v.voice, False, len(options) + i) for i, v in enumerate(palette.voices)]
    first_palette = options[len(options) - len(palette.voices)]

    def similarity(a: _Option, b: _Option) -> float:
        if a.label == b.label:
            return 1.0
        return 0.0 if a.user or b.user else palette.similarity(a.label, b.label)

    cast: dict[str, _Option] = {}
    weight: dict[str, float] = {}  # how much a character is heard: its lines (the narrator: most of all)
    if narrator is not None:
        cast[narrator], weight[narrator] = first_palette, math.inf
    warnings: list[str] = []
    for name, gender, lines in sorted(characters, key=lambda c: -int(c[2])):  # stable: as given among equals
        if name == narrator:
            continue
        if name in cast:
            raise ValueError(f"character {name!r} is listed twice")

        def rank(option: _Option, gender: str | None = gender) -> tuple:
            conflicts = [(similarity(option, cast[other]), other) for other in cast]
            worst = max((s for s, _ in conflicts), default=0.0)
            alike = worst >= palette.threshold
            opposite = {gender, option.gender} == {"female", "male"}
            unmatched = gender is not None and option.gender != gender
            heard = sum(weight[other] for s, other in conflicts if s >= palette.threshold)
            distinct = (option.index,) if not alike else (round(worst, 6), heard, option.index)
            return (opposite, alike, not option.user, unmatched, *distinct)

        chosen = min(options, key=rank)
        alike = [(similarity(chosen, cast[other]), other) for other in cast]
        alike = [(s, other) for s, other in alike if s >= palette.threshold]
        if alike:
            s, other = max(alike, key=lambda item: (item[0], weight[item[1]]))
            warnings.append(_warning(other, cast[other], name, chosen, s, palette.threshold))
        cast[name], weight[name] = chosen, float(lines)
    return {name: dict(option.voice) for name, option in cast.items()}, warnings


def _warning(first: str, a: _Option, second: str, b: _Option, similarity: float, threshold: float) -> str:
    if a.label == b.label:
        return f"{first} and {second} share voice '{a.label}' (similarity {similarity:.2f} >= {threshold:.2f})"
    return (
        f"{first} and {second} sound alike: voices '{a.label}' and '{b.label}' "
        f"(similarity {similarity:.2f} >= {threshold:.2f})"
    )
