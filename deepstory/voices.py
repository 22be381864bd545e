"""Audition the cast before a long render: one short line per character, in a minute.

    python -m deepstory.voices                                   # the configured cast
    python -m deepstory.voices speakers.Eileen.voice.pitch=4 speakers.Eileen.voice.formant=1.2
    python -m deepstory.voices speakers=mine --line "Where were you last night?"

Writes ``outputs/voices/<NN>-<Name>.wav`` (``--out`` to change) and prints
each character's engine and voice, pitch, formant, rate and how many seconds
of synthesis a second of speech took.  Overrides are the same as ``run.py``'s.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

import deepstory.config  # noqa: F401  (registers the resolvers)
from deepstory.config import instantiate
from deepstory.errors import DeepstoryError
from deepstory.media import write_wav
from deepstory.speech.base import Voice
from deepstory.speech.stage import SpeechStage

LINE = "Hello, I am {name}. I have a story for you, and it begins on a quiet Tuesday morning."


def config_dir() -> Path:
    """``conf/`` of this checkout (next to the package), else of the current directory."""
    beside = Path(__file__).resolve().parent.parent / "conf"
    return beside if (beside / "config.yaml").is_file() else Path.cwd() / "conf"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "speaker"


def audition(overrides: list[str], out: Path, line: str, console: Console) -> Table:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    stage = instantiate(cfg.stages.speech, "stages.speech")
    assert isinstance(stage, SpeechStage)
    rate = int(cfg.sample_rate)
    table = Table(title="Deepstory voices")
    for column in ("character", "engine and voice", "pitch", "formant", "rate", "s per s", "file"):
        table.add_column(column)
    try:
        for n, name in enumerate(cfg.speakers, start=1):
            try:
                voice = Voice.from_config(cfg.speakers[name].get("voice"), str(name))
            except ValueError as exc:
                raise DeepstoryError(f"speakers.{name}.voice: {exc}") from None
            engine = stage.engine_for(voice)
            for warning in engine.prepare(voice):
                console.print(f"[yellow]warning:[/] {warning}", highlight=False)
            started = time.perf_counter()
            audio = engine.synthesize(line.format(name=name), voice)
            seconds = time.perf_counter() - started
            path = out / f"{n:02d}-{safe_name(str(name))}.wav"
            write_wav(path, audio, rate)
            table.add_row(
                str(name),
                engine.describe(voice),
                f"{voice.pitch:+.1f}",
                f"{voice.formant:.2f}",
                f"{voice.rate:.2f}",
                f"{seconds / max(len(audio) / rate, 1e-9):.2f}",
                str(path),
            )
            engine.release(voice)
    finally:
        stage.close()
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepstory.voices", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, as for run.py (speakers=..., models/tts=...)")
    parser.add_argument("--out", type=Path, default=Path("outputs/voices"), help="where the lines go")
    parser.add_argument("--line", default=LINE, help="what every character says ({name} is the character)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        table = audition(args.overrides, args.out, args.line, console)
    except DeepstoryError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except (HydraException, OmegaConfBaseException) as exc:
        console.print(f"[bold red]error:[/] config: {str(exc).splitlines()[0]}", highlight=False, soft_wrap=True)
        return 2
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
