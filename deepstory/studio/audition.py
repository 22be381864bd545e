"""One character's audition for the studio, in a process of its own (the speech engines stay out of the server):

    python -m deepstory.studio.audition SPEAKERS_YAML NAME OUT_DIR

Writes ``OUT_DIR/01-<Name>.wav``: the audition line of ``python -m deepstory.voices``, in the voice the
speakers file gives ``NAME``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from deepstory.errors import DeepstoryError
from deepstory.run.config import register_schemas
from deepstory.voices import LINE, audition_config, config_dir


def main(argv: list[str] | None = None) -> int:
    speakers_file, name, out = (argv if argv is not None else sys.argv[1:])[:3]
    console = Console(stderr=True)
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config")
    speakers = OmegaConf.load(speakers_file)
    if not isinstance(speakers, DictConfig) or name not in speakers:
        console.print(f"error: {name!r} is not in {speakers_file}")
        return 2
    cfg.speakers = OmegaConf.create({name: speakers[name]})
    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        audition_config(cfg, Path(out), LINE, console)
    except DeepstoryError as exc:
        console.print(f"error: {exc}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
