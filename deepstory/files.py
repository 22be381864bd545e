"""Atomic file writes: a file either exists complete under its final name or not at all.

New files get the permissions ``open()`` would give them (``0o666`` less the umask: ``-rw-r--r--``
under the usual umask 022, ``-rw-rw-r--`` under 002), so a video, a manifest or a shared cache
entry is readable by whoever the user's umask lets read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, hence the last resort)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def create_new(path: Path | str, flags: int = os.O_WRONLY) -> int:
    """Create ``path`` (it must not exist) as ``open()`` would: mode ``0o666`` filtered by the umask."""
    return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place on success.

    The temporary name keeps the final suffix (ffmpeg picks formats from it) and
    lives in the same directory, so the rename is atomic on POSIX filesystems.
    On any exception the temporary file is removed and ``final`` is untouched.
    The file is created as ``open()`` would create it (unlike ``tempfile.mkstemp``'s
    private 0600), and keeps that mode even if the writer replaced it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp_path = final.parent / f".{final.stem}.{secrets.token_hex(4)}.partial{suffix or final.suffix}"
        try:
            fd = create_new(tmp_path)
            break
        except FileExistsError:
            continue
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    try:
        yield tmp_path
        now = os.lstat(tmp_path)
        if stat.S_ISREG(now.st_mode) and now.st_nlink == 1 and stat.S_IMODE(now.st_mode) != mode:
            os.chmod(tmp_path, mode)  # a writer that replaced the file (not a hard link: that keeps its own)
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(final: Path | str, data: bytes) -> Path:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def write_text(final: Path | str, text: str) -> Path:
    return write_bytes(final, text.encode("utf-8"))


def write_json(final: Path | str, obj: Any) -> Path:
    return write_text(final, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_npy(final: Path | str, array: np.ndarray) -> Path:
    with atomic_path(final) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    return Path(final)


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_yaml(path: Path | str, setting: str, what: str) -> Any:
    """The YAML file a user named in ``setting``, parsed; a missing, unreadable or malformed one is a one-line
    :class:`deepstory.errors.UserError` naming ``setting``, the file and ``what`` it should be."""
    import yaml

    from deepstory.errors import UserError

    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise UserError(f"{setting}={file}: no such file")
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{setting}={file}: not {what} ({str(exc).splitlines()[0]})") from None
