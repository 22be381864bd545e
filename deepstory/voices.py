"""Audition the cast before a long render: one short line per character, in a minute.

    python -m deepstory.voices                                   # the configured cast
    python -m deepstory.voices speakers.Eileen.voice.pitch=4 speakers.Eileen.voice.formant=1.2
    python -m deepstory.voices speakers=mine --line "Where were you last night?"
    python -m deepstory.voices --speakers ~/voices/en_US-libritts_r-medium.onnx   # its speakers' names

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
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

import deepstory.config  # noqa: F401  (registers the resolvers)
from deepstory.config import instantiate
from deepstory.errors import DeepstoryError
from deepstory.media import write_wav
from deepstory.run.config import register_schemas
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
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return audition_config(cfg, out, line, console)


def audition_config(cfg: DictConfig, out: Path, line: str, console: Console) -> Table:
    """One line per speaker of ``cfg.speakers`` into ``out/<NN>-<Name>.wav`` (the studio auditions one)."""
    stage = instantiate(cfg.stages.speech, "stages.speech")
    assert isinstance(stage, SpeechStage)
    rate = int(cfg.sample_rate)
    table = Table(title="Deepstory voices")
    for column in ("character", "engine and voice", "pitch", "formant", "rate", "s per s", "file"):
        table.add_column(column)
    try:
        voices = []  # every voice checked before any synthesis: a bad one fails at once
        for name in cfg.speakers:
            try:
                voice = Voice.from_config(cfg.speakers[name].get("voice"), str(name))
            except ValueError as exc:
                raise DeepstoryError(f"speakers.{name}.voice: {exc}") from None
            engine = stage.engine_for(voice)
            for warning in engine.prepare(voice):
                console.print(f"[yellow]warning:[/] {warning}", highlight=False)
            voices.append((str(name), voice, engine))
        for n, (name, voice, engine) in enumerate(voices, start=1):
            started = time.perf_counter()
            audio = engine.synthesize(line.format(name=name), voice)
            seconds = time.perf_counter() - started
            path = out / f"{n:02d}-{safe_name(name)}.wav"
            write_wav(path, audio, rate)
            table.add_row(
                name,
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


def speakers_table(model: Path) -> Table:
    """The speakers of a Piper voice file: each name (for ``voice.speaker``) and its number."""
    from deepstory.speech.piper import read_voice_config

    config = read_voice_config(model.expanduser(), "--speakers")
    names = dict(config.get("speaker_id_map") or {})
    count = int(config["num_speakers"])
    table = Table(title=f"{model.name}: {count} speaker{'s' if count != 1 else ''}")
    table.add_column("voice.speaker (name)")
    table.add_column("number")
    for name, number in sorted(names.items(), key=lambda item: int(item[1])):
        table.add_row(str(name), str(number))
    if not names:
        table.add_row("(no names)", "0" if count <= 1 else f"0..{count - 1}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepstory.voices", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, as for run.py (speakers=..., models/tts=...)")
    parser.add_argument("--out", type=Path, default=Path("outputs/voices"), help="where the lines go")
    parser.add_argument("--line", default=LINE, help="what every character says ({name} is the character)")
    parser.add_argument(
        "--speakers", type=Path, metavar="VOICE.onnx", help="list a Piper voice file's speakers, then stop"
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        table = (
            speakers_table(args.speakers) if args.speakers else audition(args.overrides, args.out, args.line, console)
        )
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
