"""The studio's workspace folder (``outputs/studio/`` by default): the story and speakers files it renders.

    story.txt          the story in the tagged format (``Name|text`` a line), as the writer edits it
    attribution.json   per line of story.txt: the attribution's confidence and evidence (a book's prose), or null
    speakers.yaml      the cast: image, voice and face of every character (the ``speakers_file=`` of a render)
    source/            the uploaded book (``book.epub``) a chapter is read from
    portraits/         uploaded portraits, re-encoded as PNG under names the server makes
    previews/          each portrait with its face drawn (deepstory.face)
    auditions/         each character's audition line
    jobs/              the job registry (deepstory.studio.jobs)

Every file is written atomically (deepstory.files), so a crash leaves the last whole version.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deepstory.files import write_text
from deepstory.tagged import split_line

NARRATOR = "Narrator"
#: The checkout's conf/ and run.py, beside the package: renders run the same command line as by hand.
ROOT = Path(__file__).resolve().parent.parent.parent
CONF = ROOT / "conf"
#: A speaker's name as the studio accepts it: words of letters (any script), digits, spaces, ' . -
NAME = re.compile(r"^[^\W\d_][\w' .-]{0,39}$")
#: Voice settings the cast page edits, with their types.
VOICE_KEYS = {"engine": str, "speaker": str, "pitch": float, "formant": float, "rate": float, "variant": str}
ENGINES = ("piper", "espeak")


def valid_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not NAME.match(name) or "|" in name or ":" in name:
        raise ValueError(f"not a speaker name: {name[:40]!r} (letters, digits, spaces, ' . - ; up to 40)")
    return name


@dataclass(frozen=True)
class Line:
    index: int  # line number in story.txt, from 0
    speaker: str  # the narrator's name for narration
    text: str
    confidence: float | None = None  # the attribution's, for a quote of a book's prose
    evidence: str = ""


class Workspace:
    """The studio's files (see the module); all paths below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        for sub in ("source", "portraits", "previews", "auditions", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.story = self.root / "story.txt"
        self.attribution = self.root / "attribution.json"
        self.speakers_file = self.root / "speakers.yaml"

    def secret(self) -> str:
        """The CSRF token, kept across restarts so that an open page goes on working."""
        path = self.root / ".csrf"
        if not path.is_file():
            write_text(path, secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    # -- the story ---------------------------------------------------------------------------------------
    def story_text(self) -> str:
        return self.story.read_text(encoding="utf-8") if self.story.is_file() else ""

    def lines(self) -> list[Line]:
        """The story's utterances as the story stage reads them: speaker (narration: the narrator) and text."""
        known = list(self.speakers())
        notes = self._notes()
        out = []
        for i, raw in enumerate(self.story_text().splitlines()):
            if not raw.strip():
                continue
            character, text = split_line(raw, known)
            note = notes[i] if i < len(notes) and isinstance(notes[i], dict) else {}
            out.append(Line(i, character or NARRATOR, text, note.get("confidence"), str(note.get("evidence", ""))))
        return out

    def _notes(self) -> list[Any]:
        if not self.attribution.is_file():
            return []
        try:
            notes = json.loads(self.attribution.read_text(encoding="utf-8"))
        except ValueError:
            return []
        return notes if isinstance(notes, list) else []

    def save_story(self, text: str, notes: list[Any] | None = None) -> None:
        """The story's new text (tagged lines), with the attribution per line where it came from a book."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        write_text(self.story, text if text.endswith("\n") or not text else text + "\n")
        write_text(self.attribution, json.dumps(notes or []))
        self.ensure_cast()

    def reassign(self, index: int, speaker: str) -> None:
        """Line ``index`` is spoken by ``speaker`` now (the narrator: narration); saved as a tagged line."""
        speaker = valid_name(speaker)
        raw = self.story_text().splitlines()
        if not 0 <= index < len(raw) or not raw[index].strip():
            raise ValueError(f"no utterance at line {index}")
        _, text = split_line(raw[index], list(self.speakers()))
        raw[index] = f"{speaker}|{text}"
        notes = self._notes()
        notes += [None] * (len(raw) - len(notes))
        notes[index] = {"confidence": 1.0, "evidence": "set by hand in the studio"}
        self.save_story("\n".join(raw), notes)

    def characters(self) -> list[str]:
        """Who speaks in the story, in order of first line (the narrator where there is narration)."""
        seen: dict[str, None] = {}
        for line in self.lines():
            seen.setdefault(line.speaker, None)
        return list(seen)

    # -- the cast ----------------------------------------------------------------------------------------
    def speakers(self) -> dict[str, dict[str, Any]]:
        if not self.speakers_file.is_file():
            return {}
        data = yaml.safe_load(self.speakers_file.read_text(encoding="utf-8")) or {}
        return data if isinstance(data, dict) else {}

    def save_speakers(self, speakers: dict[str, dict[str, Any]]) -> None:
        header = "# The studio's cast (python -m deepstory.studio): a speakers file, as conf/speakers/*.yaml.\n"
        write_text(self.speakers_file, header + yaml.safe_dump(speakers, sort_keys=False, allow_unicode=True))

    def ensure_cast(self) -> None:
        """A speakers entry for every character of the story who has none: a bundled portrait and voice."""
        speakers = self.speakers()
        missing = [c for c in self.characters() if c not in speakers]
        if not missing and speakers:
            return
        defaults = bundled_cast()
        others = [v for k, v in defaults.items() if k != NARRATOR]
        for n, name in enumerate(missing or [NARRATOR]):
            if name in defaults:
                entry = json.loads(json.dumps(defaults[name]))
            else:
                entry = json.loads(json.dumps(others[n % len(others)]))
                entry["voice"]["pitch"] = float(entry["voice"].get("pitch") or 0.0) + (n // len(others)) * 2 - 1
            # A copy in the workspace: the pages show only the workspace's and outputs/' files.
            copy = self.new_file("portraits", name, Path(str(entry["image"])).suffix.lower() or ".png")
            shutil.copyfile(str(entry["image"]), copy)
            entry["image"] = str(copy)
            speakers[name] = entry
        self.save_speakers(speakers)

    def set_face(self, name: str, face: dict[str, Any]) -> None:
        speakers = self.speakers()
        entry = speakers[name]
        entry["face"] = face
        entry.pop("mouths", None)  # drawn mouths belong to the bundled owl's face
        self.save_speakers(speakers)

    def set_voice(self, name: str, voice: dict[str, Any]) -> None:
        speakers = self.speakers()
        current = dict(speakers[name].get("voice") or {})
        for key, kind in VOICE_KEYS.items():
            if key not in voice:
                continue
            value = voice[key]
            if value in (None, ""):
                current[key] = None
                continue
            if kind is float:
                number = float(value)
                if not -24 <= number <= 24:
                    raise ValueError(f"voice.{key}: {number} is out of range")
                current[key] = number
            else:
                text = str(value)
                if not re.match(r"^[A-Za-z0-9_-]{1,40}$", text) or (key == "engine" and text not in ENGINES):
                    raise ValueError(f"voice.{key}: {text[:40]!r} is not allowed")
                current[key] = text
        speakers[name]["voice"] = current
        self.save_speakers(speakers)

    def set_portrait(self, name: str, image: Path) -> None:
        speakers = self.speakers()
        entry = speakers.setdefault(name, {})
        entry["image"] = str(image)
        for key in ("crop", "face", "mouths"):
            entry.pop(key, None)
        self.save_speakers(speakers)

    def new_file(self, folder: str, stem: str, suffix: str) -> Path:
        """A fresh file name in ``folder`` made by the server (never from a request)."""
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:24] or "file"
        return self.root / folder / f"{safe}-{secrets.token_hex(6)}{suffix}"


def bundled_cast() -> dict[str, dict[str, Any]]:
    """The demo chapter's speakers (conf/speakers/chapter3.yaml), resolved: the studio's first cast."""
    from omegaconf import OmegaConf

    import deepstory.config  # noqa: F401  (registers ${asset:...})

    loaded = OmegaConf.to_container(OmegaConf.load(CONF / "speakers" / "chapter3.yaml"), resolve=True)
    assert isinstance(loaded, dict)
    return {str(k): v for k, v in loaded.items()}


def from_book(script: Any) -> tuple[str, list[Any]]:
    """A prose script as tagged lines, and per line its attribution (a quote's confidence and evidence)."""
    from deepstory.script.source import EMPHASIS

    lines: list[tuple[str | None, str, dict[str, Any] | None]] = []
    previous = None
    for seg in script.segments:
        joins = previous is not None and not seg.quote and not previous.quote and previous.paragraph == seg.paragraph
        if joins and lines:
            lines[-1] = (None, lines[-1][1] + " " + seg.text, None)
        else:
            note = {"confidence": seg.confidence, "evidence": seg.evidence} if seg.quote else None
            lines.append((seg.speaker if seg.quote else None, seg.text, note))
        previous = seg
    text, notes = [], []
    for speaker, words, note in lines:
        words = " ".join(EMPHASIS.sub("", str(words)).split())
        if words:
            text.append(f"{speaker or NARRATOR}|{words}")
            notes.append(note)
    return "\n".join(text) + ("\n" if text else ""), notes
