"""A proposed cast for a book's characters: a drawn portrait and a voice of its own for each.

The portraits are drawn from the names (:func:`deepstory.portrait.drawn.draw_character`: deterministic,
no assets needed); the voices are cast from the measured palette so that the characters heard most
sound least alike (:func:`deepstory.speech.casting.assign_voices`).  Used by ``python -m
deepstory.script`` (into its ``--out`` folder) and by a render of a prose story with ``story.cast: auto``
(into the run's ``temp/cast/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def propose(
    characters: Sequence[tuple[str, str | None, int]],
    folder: Path,
    narrator: str | None = "Narrator",
    user_voices: Sequence[str] = (),
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Speakers entries ``{name: {image, face, mouths, voice}}`` for ``characters`` (``(name, gender, lines)``,
    most heard first), their portraits drawn into ``folder``; and the casting's warnings (who sound alike).
    The narrator, where named, is cast first (the clearest voice) but gets no entry here."""
    from deepstory.portrait.drawn import draw_character
    from deepstory.speech.casting import assign_voices

    voices, warnings = assign_voices(list(characters), narrator=narrator, user_voices=list(user_voices))
    folder.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    for name, gender, _ in characters:
        entry = dict(draw_character(name, gender, folder))
        entry["voice"] = voices[name]
        entries[name] = entry
    return entries, warnings
