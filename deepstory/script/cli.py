"""``python -m deepstory.script BOOK [--chapter N] --out DIR``: a chapter as the author wrote it -> a script to render.

Writes into ``DIR``:

* ``story.txt``: the chapter in the story format, one utterance per line (``Name|"quote"``; the
  narration and the said-tags as ``Narrator|...``);
* ``speakers.yaml``: the proposed cast: the narrator (the bundled owl) and one entry per character,
  with its line count, aliases and guessed gender in comments, a drawn portrait (``portraits/``)
  and a voice chosen to sound unlike the others;
* ``aliases.yaml``: the alias table (edit it and pass it back with ``--aliases``);
* ``attribution.html``: every quote with its speaker, evidence and confidence, the doubtful first.

Then: ``python run.py story.text_path=DIR/story.txt speakers_file=DIR/speakers.yaml``.
A render can also read the book directly (``story.text_path=book.epub story.chapter=3``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepstory.errors import DeepstoryError
from deepstory.files import write_text
from deepstory.script.html import DOUBTFUL, page
from deepstory.script.source import load, speakers_of, tagged_lines

NARRATOR = "Narrator"


def _narrator_entry() -> Any:
    """The bundled narrator (the owl) as the demo's speakers file has it, interpolations kept."""
    from omegaconf import DictConfig, OmegaConf

    from deepstory.voices import config_dir

    speakers = OmegaConf.load(config_dir() / "speakers" / "chapter3.yaml")
    assert isinstance(speakers, DictConfig)
    return speakers[NARRATOR]


def speakers_yaml(entries: dict[str, dict], notes: dict[str, list[str]]) -> str:
    """The speakers file: the narrator, then each character's entry under its comment lines."""
    from omegaconf import OmegaConf

    parts = [
        "# The proposed cast (python -m deepstory.script): edit any value.  To show a picture instead of a drawn",
        "# portrait, set its image and delete its face and mouths (they place the drawing's own mouth sprites).",
        "# Render: python run.py story.text_path=<this folder>/story.txt speakers_file=<this folder>/speakers.yaml",
        OmegaConf.to_yaml({NARRATOR: _narrator_entry()}).rstrip(),
    ]
    for name, entry in entries.items():
        block = OmegaConf.to_yaml({name: entry}).rstrip()
        parts.append("\n".join(f"# {line}" for line in notes.get(name, [])) + "\n" + block)
    return "\n".join(parts) + "\n"


def write_script(book: Path, out: Path, chapter: int | str | None, aliases: str | None, voices: list[str]):
    """Everything the module says, into ``out``; returns the script and its figures."""
    import yaml

    started = time.perf_counter()
    # The portraits' paths in speakers.yaml are absolute: relative ones would depend on where a render starts.
    out = out.resolve()
    source = load(book, chapter=chapter, format="prose", aliases=aliases, narrator=NARRATOR)
    script = source.script
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "story.txt", tagged_lines(script, NARRATOR))
    characters = speakers_of(source, NARRATOR)
    from deepstory.script.cast import propose

    entries, warnings = propose(characters, out / "portraits", narrator=NARRATOR, user_voices=voices)
    notes = {}
    for character in script.characters:
        if character.name in entries:
            others = [a for a in character.aliases if a != character.name]
            also = f"; also called {', '.join(others)}" if others else ""
            notes[character.name] = [f"{character.lines} lines; gender {character.gender or 'unknown'}{also}"]
    write_text(out / "speakers.yaml", speakers_yaml(entries, notes))
    write_text(out / "aliases.yaml", yaml.safe_dump(script.alias_table(), sort_keys=False, allow_unicode=True))
    title = (
        f"{book.name}"
        + (f", chapter {chapter}" if chapter is not None else "")
        + (f": {source.title}" if source.title else "")
    )
    write_text(out / "attribution.html", page(script, f"Who says what: {title}"))
    return script, characters, warnings + list(script.warnings), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepstory.script",
        description="A book's chapter (text, Markdown or EPUB) -> story.txt, speakers.yaml, attribution.html.",
    )
    parser.add_argument("book", type=Path, help="a text, Markdown or EPUB file")
    parser.add_argument("--chapter", help="an EPUB's chapter: its number (from 1) or its title")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write into")
    parser.add_argument("--aliases", help="an alias table (YAML, as aliases.yaml is written) to group names")
    parser.add_argument("--voices", nargs="*", default=[], help="Piper .onnx voice files to cast first")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    chapter: int | str | None = args.chapter
    if isinstance(chapter, str) and chapter.isdigit():
        chapter = int(chapter)
    try:
        script, characters, warnings, seconds = write_script(args.book, args.out, chapter, args.aliases, args.voices)
    except DeepstoryError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc).splitlines()[0])}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except OSError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 1
    quotes = [s for s in script.segments if s.quote]
    table = Table(title=f"Cast of {escape(args.book.name)}")
    for column in ("character", "lines", "gender", "aliases"):
        table.add_column(column)
    for name, gender, lines in characters:
        aliases: list[str] = next((c.aliases for c in script.characters if c.name == name), [])
        table.add_row(escape(name), str(lines), gender or "?", escape(", ".join(a for a in aliases if a != name)))
    console.print(table)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    doubtful = [s for s in quotes if s.confidence < DOUBTFUL]
    for seg in sorted(doubtful, key=lambda s: s.confidence)[:10]:
        console.print(
            f"[yellow]check:[/] line {seg.line}: {escape(seg.speaker or 'narrator')} ({seg.confidence:.2f}) "
            f"{escape(seg.text[:70])}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"{len(quotes)} quotes, {len(doubtful)} doubtful, {len(characters)} characters in {seconds:.1f} s -> "
        f"{escape(str(args.out))}/ (story.txt, speakers.yaml, aliases.yaml, attribution.html)\n"
        f"render: python run.py story.text_path={escape(str(args.out / 'story.txt'))} "
        f"speakers_file={escape(str(args.out / 'speakers.yaml'))}",
        highlight=False,
        soft_wrap=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
