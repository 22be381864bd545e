"""The studio's workspace folder (``outputs/studio/`` by default): the story and speakers files it renders.

    story.txt          the story in the tagged format (``Name|text`` a line), as the writer edits it
    attribution.json   per line of story.txt: the attribution's confidence and evidence (a book's prose), or null
    speakers.yaml      the cast: image, voice and face of every character (the ``speakers_file=`` of a render)
    source/            the uploaded book (``book.epub``) a chapter is read from
    portraits/         uploaded portraits, re-encoded as PNG under names the server makes
    previews/          each portrait with its face drawn (deepstory.face)
    auditions/         each character's audition line
    contacts/          each character's contact sheet of mouth shapes, by portrait, face and animator
    voices/            uploaded Piper voices (``.onnx`` and ``.onnx.json``), under names the server makes
    history/           the versions before each change (undo) and after each undo (redo): ``<n>-story.txt``,
                       ``<n>-attribution.json``, ``<n>-speakers.yaml`` and ``<n>.json`` (what changed)
    jobs/              the job registry (deepstory.studio.jobs)

Every file is written atomically (deepstory.files), so a crash leaves the last whole version.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from deepstory.files import write_bytes, write_json, write_text
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
#: The files one undo step restores (names in the workspace), and how many steps are kept.
VERSIONED = ("story.txt", "attribution.json", "speakers.yaml")
HISTORY = 50
#: ``voice.model``'s value from the Cast page that leaves a model set by hand as it is.
KEEP = "keep"


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
        for sub in (
            "source",
            "portraits",
            "previews",
            "auditions",
            "contacts",
            "voices",
            "jobs",
            "history/undo",
            "history/redo",
        ):
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

    # -- undo and redo ---------------------------------------------------------------------------------
    def state(self) -> dict[str, bytes | None]:
        """The versioned files as they are now (``None``: absent)."""
        return {name: (self.root / name).read_bytes() if (self.root / name).is_file() else None for name in VERSIONED}

    @contextlib.contextmanager
    def undoable(self, what: str) -> Iterator[None]:
        """A change the user can undo: where the block changed the story or the cast, the version before it is
        kept as the newest undo step (and the redo steps are dropped, as in any editor).  A block that changed
        nothing (a voice saved as it was) or raised keeps no step."""
        before = self.state()
        yield
        if self.state() != before:
            self._push("undo", before, what)
            for old in self._steps("redo"):
                self._drop("redo", old)

    def history(self) -> dict[str, str | None]:
        """What the next undo and redo would take back (their labels), ``None`` where there is none."""
        out: dict[str, str | None] = {}
        for kind in ("undo", "redo"):
            steps = self._steps(kind)
            out[kind] = self._about(kind, steps[-1]).get("what", "a change") if steps else None
        return out

    def undo(self) -> str:
        """The story and cast back to the version before the newest change; returns what was undone."""
        return self._swap("undo", "redo")

    def redo(self) -> str:
        return self._swap("redo", "undo")

    def _swap(self, take: str, give: str) -> str:
        steps = self._steps(take)
        if not steps:
            raise ValueError(f"nothing to {take}")
        n = steps[-1]
        what = str(self._about(take, n).get("what", "a change"))
        restored = {name: self._read_step(take, n, name) for name in VERSIONED}
        self._push(give, self.state(), what)
        for name, data in restored.items():
            if data is None:
                (self.root / name).unlink(missing_ok=True)
            else:
                write_bytes(self.root / name, data)
        self._drop(take, n)
        return what

    def _steps(self, kind: str) -> list[int]:
        """The step numbers of ``kind`` (undo or redo) whose record is whole, oldest first."""
        found = []
        for path in (self.root / "history" / kind).glob("*.json"):
            if path.stem.isdigit():
                found.append(int(path.stem))
        return sorted(found)

    def _about(self, kind: str, n: int) -> dict[str, Any]:
        try:
            about = json.loads((self.root / "history" / kind / f"{n}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return about if isinstance(about, dict) else {}

    def _read_step(self, kind: str, n: int, name: str) -> bytes | None:
        if name not in self._about(kind, n).get("files", []):
            return None
        return (self.root / "history" / kind / f"{n}-{name}").read_bytes()

    def _push(self, kind: str, state: dict[str, bytes | None], what: str) -> None:
        """A step: its files first, then its record (``<n>.json``), so that a crash leaves no half step."""
        steps = self._steps(kind)
        n = steps[-1] + 1 if steps else 1
        folder = self.root / "history" / kind
        for name, data in state.items():
            if data is not None:
                write_bytes(folder / f"{n}-{name}", data)
        about = {"what": what, "time": time.time(), "files": [k for k, v in state.items() if v is not None]}
        write_json(folder / f"{n}.json", about)
        for old in steps[: max(0, len(steps) + 1 - HISTORY)]:
            self._drop(kind, old)

    def _drop(self, kind: str, n: int) -> None:
        folder = self.root / "history" / kind
        (folder / f"{n}.json").unlink(missing_ok=True)  # the record first: a half-dropped step is no step
        for name in VERSIONED:
            (folder / f"{n}-{name}").unlink(missing_ok=True)

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
        write_json(self.attribution, notes or [])
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

    # -- voice files -------------------------------------------------------------------------------------
    def voices(self) -> list[dict[str, Any]]:
        """The Piper voices the studio offers: the bundled one (id ``""``), then each uploaded one (id: its file
        name in ``voices/``), with its speakers' names for ``voice.speaker`` (none for a single-speaker voice)."""
        out: list[dict[str, Any]] = [{"id": "", "label": "the bundled voice", "speakers": []}]
        for model in sorted((self.root / "voices").glob("*.onnx")):
            config = voice_config(model)
            if config is None:
                continue
            names = sorted((dict(config.get("speaker_id_map") or {})).items(), key=lambda item: int(item[1]))
            count = int(config["num_speakers"])
            speakers = [str(n) for n, _ in names] if names else [str(n) for n in range(count)] if count > 1 else []
            out.append({"id": model.name, "label": model.stem, "speakers": speakers, "path": str(model)})
        return out

    def voice_id(self, model: Any) -> str | None:
        """The id of a ``voice.model`` value among :meth:`voices` (``""``: the bundled one), ``None``: another file
        (set by hand in speakers.yaml)."""
        if model in (None, ""):
            return ""
        for voice in self.voices()[1:]:
            if Path(str(model)) == Path(voice["path"]):
                return str(voice["id"])
        return None

    def add_voice(self, model: bytes, config: bytes) -> dict[str, Any]:
        """An uploaded Piper voice (the ``.onnx`` and its ``.onnx.json``), checked, under a name the server makes
        from its config (language, dataset, quality) and a random part; returns its entry of :meth:`voices`."""
        try:
            about = json.loads(config.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValueError("the voice's .onnx.json is not JSON") from None
        if not isinstance(about, dict):
            raise ValueError("the voice's .onnx.json is not a Piper voice config")
        language, audio = about.get("language"), about.get("audio")
        words = [
            str(language.get("code") or "") if isinstance(language, dict) else "",
            str(about.get("dataset") or ""),
            str(audio.get("quality") or "") if isinstance(audio, dict) else "",
        ]
        stem = "-".join(w for w in (re.sub(r"[^A-Za-z0-9_]+", "", w)[:16] for w in words) if w) or "voice"
        target = self.root / "voices" / f"{stem}-{secrets.token_hex(4)}.onnx"
        side = Path(f"{target}.json")
        write_bytes(side, config)
        write_bytes(target, model)
        if voice_config(target) is None:
            target.unlink(missing_ok=True)
            side.unlink(missing_ok=True)
            raise ValueError(
                "not a Piper voice: an ONNX model and its config (sample_rate, num_speakers, phoneme_id_map)"
            )
        return next(v for v in self.voices() if v["id"] == target.name)

    def set_voice(self, name: str, voice: dict[str, Any]) -> None:
        speakers = self.speakers()
        current = dict(speakers[name].get("voice") or {})
        if "model" in voice and voice["model"] != KEEP:  # an id of voices(), never a path from a request
            known = {str(v["id"]): v.get("path") for v in self.voices()}
            if not isinstance(voice["model"], (str, type(None))) or (voice["model"] or "") not in known:
                raise ValueError("voice.model: not one of the studio's voices")
            current["model"] = known[voice["model"] or ""]
            current["engine"] = "piper" if current["model"] else current.get("engine")
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
    """A prose script as tagged lines (as the story stage writes them), and per line its attribution (a quote's
    confidence and evidence)."""
    from deepstory.script.source import script_lines

    lines = script_lines(script, NARRATOR)
    notes = [
        None if quote is None else {"confidence": quote.confidence, "evidence": quote.evidence} for _, quote in lines
    ]
    return "\n".join(line for line, _ in lines) + ("\n" if lines else ""), notes


def voice_config(model: Path) -> dict[str, Any] | None:
    """A Piper voice's config, checked as the renderer checks it (an ONNX model beside a valid ``.onnx.json``);
    ``None`` where it is not one."""
    from deepstory.errors import UserError
    from deepstory.speech.piper import read_voice_config

    try:
        return read_voice_config(model, "voice")
    except (UserError, OSError):
        return None
