"""The record of each cache entry (its size and SHA-256), and what becomes of an entry that does not match it.

Every byte is checked before it is reused, as a build tool's shared cache does:

* each entry has a *record* beside it (``<entry>.record``: its size and SHA-256),
  written atomically *before* the entry is renamed into place, so an entry only
  exists with its record; an entry without one is not trusted;
* a hit checks the size against the record, and the SHA-256 too with
  ``cache.verify=full``; a damaged entry is moved aside to
  ``<root>/damaged/<stage>/<time>-<name>`` (kept for inspection), reported as a
  warning of the run, and made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from pathlib import Path

from deepstory.files import write_json

#: How a hit is checked: the size against the record (a stat), or the size and the SHA-256 (a read).
VERIFY_MODES = ("size", "full")
DEFAULT_VERIFY = "full"  # a small part of a warm re-run of the demo: benchmarks/cached.py, benchmarks/README.md
#: The extension of the record beside each entry, and what damage() says of an entry without one.
RECORD = ".record"
NO_RECORD = "no record of its size and SHA-256"


def file_digest(path: Path | str) -> str:
    """The SHA-256 of a file's bytes (hex), as its record holds it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_path(entry: Path) -> Path:
    """Where the size and SHA-256 of ``entry`` are recorded."""
    return entry.with_name(entry.name + RECORD)


def write_record(entry: Path, made: Path) -> None:
    """Record the size and SHA-256 of ``made``, the file about to be renamed to ``entry`` (atomically)."""
    write_json(record_path(entry), {"size": made.stat().st_size, "sha256": file_digest(made)})


def damage(entry: Path, full: bool) -> str | None:
    """Why ``entry`` cannot be trusted, or ``None`` when it matches its record.

    The size is always compared; with ``full`` the SHA-256 too.  Raises ``FileNotFoundError``
    when there is no entry.
    """
    size = entry.stat().st_size
    try:
        record = json.loads(record_path(entry).read_text(encoding="utf-8"))
        want_size, want_hash = int(record["size"]), str(record["sha256"])
    except FileNotFoundError:
        return NO_RECORD
    except (OSError, ValueError, KeyError, TypeError):
        return "its record is unreadable"
    if size != want_size:
        return f"{size} bytes, {want_size} recorded"
    if full and file_digest(entry) != want_hash:
        return "its SHA-256 differs from the one recorded"
    return None


def set_aside(root: Path, entry: Path) -> Path:
    """Move a damaged ``entry`` (and its record) to ``<root>/damaged/<stage>/<UTC time>-<name>``; returns where."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = root / "damaged" / entry.parent.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        aside = folder / f"{stamp}-{secrets.token_hex(2)}-{entry.name}"
        if not aside.exists():
            break
    os.replace(entry, aside)
    with contextlib.suppress(FileNotFoundError):
        os.replace(record_path(entry), record_path(aside))
    return aside
