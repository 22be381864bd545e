"""The command line: one render per Hydra job, user errors as one line and exit code 2."""
from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console

from deepstory.config import DeepstoryError
from deepstory.pipeline import render


def main(cfg: DictConfig) -> None:
    console = Console(stderr=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        render(cfg, run_dir, console)
    except DeepstoryError as exc:
        if cfg.get("debug"):
            raise
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
