"""Prune: remove the entries no run dir uses, or not written for a while, never one a running render holds.

A run dir's keys come from its manifest; without a readable one, from the journal
its renders kept (:data:`~deepstory.cache.leases.JOURNAL`), else from the entries
its files are (by inode, or by recorded size and SHA-256).  Each entry goes under
its lock, after the leases are read again; then the leases of renders that are
gone, records without an entry and locks of entries that are gone are tidied.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterable

from filelock import FileLock, Timeout

from deepstory.cache.leases import JOURNAL, Leases, keys_in, lease_alive
from deepstory.cache.records import RECORD, file_digest, record_path
from deepstory.cache.store import RESERVED, entries, entry_lock, key_of


class _Index:
    """The entries by inode and by recorded size/SHA-256: finds which entries a run dir's files are."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_inode: dict[tuple[int, int], str] = {}
        self.by_size: dict[int, dict[str, str]] = {}
        self.built = False

    def build(self) -> None:
        self.built = True
        for path in entries(self.root):
            st = path.stat()
            self.by_inode[(st.st_dev, st.st_ino)] = key_of(path)
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                record = json.loads(record_path(path).read_text(encoding="utf-8"))
                self.by_size.setdefault(int(record["size"]), {})[str(record["sha256"])] = key_of(path)

    def keys_of(self, run: Path) -> set[str]:
        if not self.built:
            self.build()
        keys = set()
        for path in run.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            st = path.stat()
            if (st.st_dev, st.st_ino) in self.by_inode:
                keys.add(self.by_inode[(st.st_dev, st.st_ino)])
            elif st.st_size in self.by_size:
                found = self.by_size[st.st_size].get(file_digest(path))
                if found:
                    keys.add(found)
        return keys


def find_runs(roots: Iterable[Path], cache_root: Path) -> list[Path]:
    """Run dirs under ``roots``: folders with a ``temp/`` or ``export/`` (not looked into further)."""
    found = []
    skip = cache_root.resolve()
    for root in roots:
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if here.resolve() == skip:
                dirnames[:] = []
            elif "temp" in dirnames or "export" in dirnames:
                found.append(here)
                dirnames[:] = []
    return found


def run_keys(run: Path, index: _Index) -> tuple[set[str], str | None]:
    """The cache keys run dir ``run`` uses, and why its manifest could not say (``None``: it did).

    Without a readable manifest: the keys its renders listed in ``temp/cache-keys.txt``, or, for a
    run without that list, the entries its files are (by inode, or by size and SHA-256).
    """
    manifest = run / "export" / "manifest.json"
    try:
        used = json.loads(manifest.read_text(encoding="utf-8"))["cache"]["keys"]
        return {str(k) for values in used.values() for k in values}, None
    except FileNotFoundError:
        problem = f"{manifest} is missing (a render still running, or one stopped before it finished)"
    except UnicodeDecodeError:
        problem = f"{manifest} is not text"
    except ValueError as exc:
        problem = f"{manifest} is not valid JSON ({exc})"
    except OSError as exc:
        problem = f"{manifest} cannot be read ({exc.strerror})"
    except (KeyError, TypeError, AttributeError):
        problem = f"{manifest} lists no cache keys"
    journal = run / JOURNAL
    try:
        return keys_in(journal.read_text(encoding="utf-8", errors="replace").splitlines()), (
            f"{problem}; kept the entries its renders listed in {journal}"
        )
    except OSError:
        return index.keys_of(run), f"{problem}; kept the entries its files are"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _remove(root: Path, path: Path, leases: Leases) -> bool:
    """Remove an entry and its record under its lock, unless a render is making or using it."""
    stage, key = path.parent.parent.name, key_of(path)
    try:
        with entry_lock(root, stage, key, 0):
            leases.refresh()  # a render that started using it since the leases were read
            if leases.holds(key):
                return False
            path.unlink(missing_ok=True)
            record_path(path).unlink(missing_ok=True)
    except Timeout:
        return False
    return True


def prune(root: Path, runs: list[Path] | None, older_than: float | None, dry_run: bool, damaged: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    keep = _kept_by_runs(root, runs) if runs is not None else set()
    leases = Leases(root)
    for lease in leases.live.values():
        print(f"kept {len(lease.keys)} entries in use by a running render ({lease.describe()})")
    removed, freed, busy = _prune_entries(root, leases, keep if runs is not None else None, older_than, dry_run, verb)
    set_aside_ = 0
    if damaged:
        set_aside_, damaged_size = _prune_damaged(root, dry_run, verb)
        freed += damaged_size
    if not dry_run:
        _tidy(root, leases)
    print(
        f"{verb} {removed} entries"
        + (f" and {set_aside_} damaged ones set aside" if damaged else "")
        + f", {_size(freed)}"
        + (f"; kept {busy} that a render was using" if busy else "")
    )


def _kept_by_runs(root: Path, runs: list[Path]) -> set[str]:
    """The keys of the entries the run dirs ``runs`` use (saying where a run dir's list is incomplete)."""
    keep: set[str] = set()
    index = _Index(root)  # built only if a run dir needs it
    for run in find_runs(runs, root):
        keys, problem = run_keys(run, index)
        keep |= keys
        if problem:
            print(f"kept {len(keys)} entries used by run dir {run}: {problem}")
    return keep


def _prune_entries(
    root: Path, leases: Leases, keep: set[str] | None, older_than: float | None, dry_run: bool, verb: str
) -> tuple[int, int, int]:
    """Remove the entries unused by the run dirs (``keep``, when given) or older than ``older_than`` days.

    Returns how many were removed, their bytes, and how many were kept because a render was using them.
    """
    now = time.time()
    removed = freed = busy = 0
    for path in list(entries(root)):
        key = key_of(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        unused = keep is not None and key not in keep
        old = older_than is not None and now - st.st_mtime > older_than * 86400
        if not (unused or old) or leases.holds(key):
            continue
        if dry_run:
            print(f"{verb} {path.relative_to(root)} ({_size(st.st_size)})")
        elif not _remove(root, path, leases):
            busy += 1
            continue
        removed += 1
        freed += st.st_size
    return removed, freed, busy


def _prune_damaged(root: Path, dry_run: bool, verb: str) -> tuple[int, int]:
    """Remove the entries set aside as damaged (and their records): how many, and their bytes."""
    count = freed = 0
    for path in sorted(p for p in (root / "damaged").rglob("*") if p.is_file() and not p.name.endswith(RECORD)):
        record = record_path(path)
        size = path.stat().st_size
        if dry_run:
            print(f"{verb} {path.relative_to(root)} ({_size(size)})")
        else:
            path.unlink()
            record.unlink(missing_ok=True)
        count += 1
        freed += size
    return count, freed


def _tidy(root: Path, leases: Leases) -> None:
    """Stale leases, records without an entry, and locks of entries that are gone."""
    for lease in leases.stale:
        if not lease_alive(lease.path, lease.header):
            lease.path.unlink(missing_ok=True)
            print(f"removed the lease of a render that is no longer running ({lease.describe()})")
    for kind in (p for p in root.iterdir() if p.is_dir() and p.name not in RESERVED):
        for record in kind.rglob(f"*{RECORD}"):
            entry = record.with_name(record.name[: -len(RECORD)])
            if entry.exists():
                continue
            with contextlib.suppress(Timeout), entry_lock(root, kind.name, key_of(entry), 0):
                if not entry.exists():  # not one whose entry is being renamed into place right now
                    record.unlink(missing_ok=True)
    locks = root / "locks"
    if locks.is_dir():
        for lock in list(locks.rglob("*.lock")):
            key = lock.name[: -len(".lock")]
            if any((root / lock.parent.name / key[:2]).glob(f"{key}.*")):
                continue
            with contextlib.suppress(Timeout), FileLock(str(lock), timeout=0):
                lock.unlink(missing_ok=True)  # while held: a waiter that gets the unlinked file retries
