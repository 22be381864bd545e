"""The command line: one render per Hydra job; problems end in one line and an exit code.

* a user error (bad story, image, config value): one line naming it, exit 2;
* Hydra's own config errors (unknown key, missing option): condensed to one line, exit 2;
* an environment failure (disk full, no permission, ffmpeg failing): one line, exit 1;
* Ctrl-C: how to resume, exit 130.

Tracebacks only with ``debug=true`` or Hydra's ``hydra.verbose``.  Every file is
written atomically, so whatever stops a render leaves only whole files behind.
"""

from __future__ import annotations

import errno
import io
import sys
from pathlib import Path
from typing import Callable

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape

from deepstory.errors import DeepstoryError, EnvironmentFailure, UserError

USER_ERROR, ENVIRONMENT_ERROR, INTERRUPTED = UserError.exit_code, EnvironmentFailure.exit_code, 130


class _HeldStderr(io.TextIOBase):
    """Holds what is written to stderr until the app starts (Hydra's own errors), then passes through."""

    def __init__(self, real):
        self.real, self.held, self.passing = real, [], False

    def write(self, text: str) -> int:
        if self.passing:
            return self.real.write(text)
        self.held.append(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    def release(self) -> None:
        self.passing = True
        self.real.write("".join(self.held))
        self.held = []

    def one_line(self) -> str:
        text = "".join(self.held).split("Config search path:")[0]
        lines = [ln.strip() for ln in text.splitlines()]
        useful = [
            ln for ln in lines if ln and "HYDRA_FULL_ERROR" not in ln and not ln.startswith(("full_key", "object_type"))
        ]
        return " ".join(useful)


def run(hydra_main: Callable[[], None]) -> None:
    """Run a ``@hydra.main`` function with one-line config errors."""
    held = _HeldStderr(sys.stderr)
    sys.stderr = held
    try:
        hydra_main()
    except SystemExit as exc:
        if not held.passing and exc.code not in (0, None):
            message, held.held = held.one_line(), []
            sys.stderr = held.real
            print(f"error: config: {message}", file=sys.stderr)
            raise SystemExit(USER_ERROR) from None
        raise
    finally:
        if not held.passing:
            held.release()
        sys.stderr = held.real


def _environment_message(exc: OSError) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno == errno.ENOSPC:
        return f"disk full{where}: free some space, then run the same command again to resume"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write{where}: choose another hydra.run.dir or cache_dir"
    return f"{exc.strerror or exc}{where}"


def main(cfg: DictConfig) -> None:
    if isinstance(sys.stderr, _HeldStderr):
        sys.stderr.release()
    console = Console(stderr=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    verbose = bool(cfg.get("debug")) or bool(HydraConfig.get().verbose)
    say = lambda kind, text: console.print(f"[bold red]{kind}:[/] {escape(text)}", highlight=False, soft_wrap=True)  # noqa: E731
    from deepstory.run.render import render

    try:
        render(cfg, run_dir, console)
    except KeyboardInterrupt:
        say("interrupted", "finished work is kept in the cache; run the same command again to resume")
        sys.exit(INTERRUPTED)
    except DeepstoryError as exc:
        if verbose:
            raise
        say("error", str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:
        if verbose:
            raise
        say("error", _environment_message(exc))
        sys.exit(ENVIRONMENT_ERROR)
