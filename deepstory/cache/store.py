"""The content-addressed store itself: where each entry lives, how it is made, found and placed.

Every stage output (a sentence's speech, a chunk's audio, a motion track, a
video segment, the final mp4) is stored as ``<root>/<stage>/<k[:2]>/<k>.<ext>``
where ``k`` hashes exactly the inputs and settings that make it.  A run links
(or copies) entries into its own dir, so run dirs stay self-contained and the
cache can be pruned without breaking them.

Producing an entry happens under a per-key file lock (``filelock``) and ends
in an atomic rename, so concurrent renders sharing the cache (a parallel sweep,
two terminals) compute each entry once and never see half-written files, and a
render killed at any moment leaves only whole entries behind.  Each entry is
checked against its record before it is reused (:mod:`deepstory.cache.records`),
and a render holds a lease naming what it uses (:mod:`deepstory.cache.leases`).

A cache the render may read but not write (a team's shared cache, a read-only
mount) is found by trying to write in it (:func:`write_probe`: a file made and
removed; not ``os.access``, which root passes whatever the permission bits).
Its verified entries are used as they are, and everything the render writes
(new entries and their records, locks, its lease) goes to a writable *local
layer* (``cache.local_dir``), looked in first; a damaged entry of the read-only
cache is left there and made again in the local layer.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from filelock import FileLock

from deepstory.cache.leases import Lease, host
from deepstory.cache.records import (
    DEFAULT_VERIFY,
    NO_RECORD,
    RECORD,
    VERIFY_MODES,
    damage,
    set_aside,
    write_record,
)
from deepstory.files import atomic_path, create_new, new_file_mode

#: Folders of the cache root that hold no entries.
RESERVED = ("locks", "leases", "damaged")
#: What a write gets in a folder one may read but not write: no permission, or a read-only filesystem.
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def digest(*parts: Any) -> str:
    """A stable hash of JSON-able values (dict order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_probe(root: Path) -> str | None:
    """``None`` if files can be made in ``root`` (made, with its parents, if missing); else why not.

    Found by trying (a file created and removed), not by ``os.access``: root passes that whatever the
    permission bits say, yet cannot write on a read-only mount.  Errors other than a refusal raise.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-probe.{host()}.{os.getpid()}.{secrets.token_hex(4)}"
        os.close(create_new(probe))
        probe.unlink()
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            return exc.strerror or str(exc)
        raise
    return None


def place(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` atomically: a hard link where possible, else a copy."""
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Output:
    """One file a stage makes: its cache key (a hash of what it depends on) and where the run wants it."""

    stage: str  # the stage that makes it: the cache folder, and whose hits and misses it counts towards
    key: str
    dest: Path

    @property
    def ext(self) -> str:
        return self.dest.suffix


class Cache:
    """The store; also counts, per stage, the outputs it found (hits) and the ones that had to be made (misses).

    ``verify``: ``size`` or ``full`` (see :data:`VERIFY_MODES`); ``warn`` receives one line per damaged
    entry (the run's progress warnings, so they reach the manifest).  ``local``: where to write when
    ``root`` turns out not to be writable (the local layer); ``writable``: whether ``root`` is, when
    already known (a worker told by the render), else found by :func:`write_probe` on the first write.
    """

    def __init__(
        self,
        root: Path | str,
        lock_timeout: float = 3600.0,
        verify: str = DEFAULT_VERIFY,
        warn: Callable[[str], None] | None = None,
        local: Path | str | None = None,
        writable: bool | None = None,
    ) -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"cache.verify={verify!r}: must be one of {', '.join(VERIFY_MODES)}")
        self.root = Path(root)
        self.local = Path(local) if local is not None else None
        self._writable = writable
        self.lock_timeout = lock_timeout
        self.verify = verify
        self.warn = warn or _stderr_warning
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.used: dict[str, list[str]] = {}
        self.damaged: list[Path] = []  # where the damaged entries this cache met were moved
        self.unrecorded = 0  # entries without a record met (made again in place, one warning)
        self._lease: Lease | None = None

    @staticmethod
    def output(stage: str, dest: Path, *depends_on: Any) -> Output:
        """The output of ``stage`` at ``dest`` whose content is fixed by ``depends_on`` (JSON-able values)."""
        return Output(stage, digest(stage, *depends_on), Path(dest))

    # -- the layers: the configured cache, and a local one where it cannot be written ------------
    @property
    def writable(self) -> bool:
        """Whether ``root`` can be written (tried once; a refusal is said once, as a warning)."""
        if self._writable is None:
            why = write_probe(self.root)
            self._writable = why is None
            if why is not None:
                if self.local is None:
                    raise PermissionError(
                        errno.EACCES, f"cannot write there ({why}) and no local layer", str(self.root)
                    )
                self.warn(
                    f"cache_dir={self.root} is not writable ({why}): its entries are used as they are; "
                    f"new entries, locks and this render's lease go to cache.local_dir={self.local}"
                )
        return self._writable

    @property
    def store(self) -> Path:
        """Where this cache writes: ``root``, or the local layer when ``root`` is not writable."""
        if self.writable:
            return self.root
        assert self.local is not None
        return self.local

    def layers(self) -> list[Path]:
        """Where entries are looked for, in order: the local layer first when ``root`` is read-only."""
        return [self.root] if self.writable else [self.store, self.root]

    def path(self, out: Output) -> Path:
        """Where the entry is written (in :attr:`store`)."""
        return _entry_path(self.store, out)

    def lock(self, out: Output) -> FileLock:
        """The entry's lock: held to make it, to place it, to move it aside and to prune it."""
        return entry_lock(self.store, out.stage, out.key, self.lock_timeout)

    def has(self, out: Output) -> bool:
        """Whether the entry exists and passes the hit check (nothing is moved, counted or written)."""
        for layer in [self.root] if self._writable is not False else self.layers():
            try:
                if damage(_entry_path(layer, out), self.verify == "full") is None:
                    return True
            except FileNotFoundError:
                continue
        return False

    def _usable(self, out: Output) -> Path | None:
        """Under the entry's lock: a whole entry for ``out`` (the first layer's that has one), or ``None``.

        A damaged entry of the writable layer is moved aside and reported; one of a read-only cache is
        left there, reported, and made again in the local layer.
        """
        for layer in self.layers():
            entry = _entry_path(layer, out)
            try:
                why = damage(entry, self.verify == "full")
            except FileNotFoundError:
                continue
            if why is None:
                return entry
            if why == NO_RECORD:  # made before entries had records (or put there by hand): not trusted, replaced
                if not self.unrecorded:
                    self.warn(
                        f"cache entry {out.stage}/{entry.name} has no record of its size and SHA-256 (made by an "
                        "older version?): made again, as is every such entry this run meets"
                    )
                self.unrecorded += 1
            elif layer == self.store:
                aside = set_aside(layer, entry)
                self.damaged.append(aside)
                self.warn(f"cache entry {out.stage}/{entry.name} was damaged ({why}): moved to {aside}, made again")
            else:
                self.warn(
                    f"cache entry {out.stage}/{entry.name} of the read-only {layer} is damaged ({why}): "
                    f"left there, made again in {self.store}"
                )
        return None

    def _place_found(self, entry: Path | None, dest: Path) -> bool:
        """Place a found entry at ``dest``; False if there was none, or a read-only cache's owner removed it since."""
        if entry is None:
            return False
        try:
            place(entry, dest)
        except FileNotFoundError:
            if entry.parent.parent.parent == self.store:
                raise  # our own entry, under its lock: it cannot have gone
            return False  # the read-only cache's owner pruned it (our lease is not there to stop them)
        return True

    def _write(self, out: Output, produce: Callable[[Path], object]) -> None:
        """``produce(tmp)``, then the record, then the rename: an entry never exists without its record."""
        entry = self.path(out)
        with atomic_path(entry) as tmp:
            produce(tmp)
            write_record(entry, tmp)

    def make(self, out: Output, produce: Callable[[Path], object]) -> bool:
        """Make the entry with ``produce(tmp_path)`` unless a whole one exists; returns whether it did (a hit).

        Under the entry's file lock, so concurrent renders make it once;
        ``produce`` writes a complete file, renamed into the cache afterwards.
        Counts nothing and places nothing (remote workers call this).
        """
        with self.lock(out):
            if self._usable(out) is not None:
                return True
            self._write(out, produce)
        return False

    def get(self, out: Output, produce: Callable[[Path], object]) -> bool:
        """The entry for ``out``, made if missing or damaged, placed at ``out.dest`` and counted; True on a hit."""
        self._announce(out)
        with self.lock(out):
            hit = self._place_found(self._usable(out), out.dest)
            if not hit:
                self._write(out, produce)
                place(self.path(out), out.dest)
        self._count(out, made=not hit)
        return hit

    def reuse(self, out: Output) -> bool:
        """Place and count the entry if a whole one exists (a hit); False if it must be made."""
        self._announce(out)
        with self.lock(out):
            if not self._place_found(self._usable(out), out.dest):
                return False
        self._count(out, made=False)
        return True

    def record(self, out: Output, made: bool) -> None:
        """Place an existing entry at ``out.dest`` and count it: a miss if it was ``made`` for this run."""
        self._announce(out)
        with self.lock(out):
            entry = next((e for e in (_entry_path(layer, out) for layer in self.layers()) if e.exists()), None)
            place(entry or self.path(out), out.dest)
        self._count(out, made)

    def _count(self, out: Output, made: bool) -> None:
        self.used.setdefault(out.stage, []).append(out.key)
        (self.misses if made else self.hits)[out.stage] += 1

    def counts(self) -> dict[str, Any]:
        """What this cache counted (hits, misses, keys used, damaged entries): for :meth:`merge`."""
        return {
            "hits": dict(self.hits),
            "misses": dict(self.misses),
            "used": self.used,
            "damaged": [str(p) for p in self.damaged],
            "unrecorded": self.unrecorded,
        }

    def reset_counts(self) -> None:
        """Count afresh (a copy of this cache in a child process counts only its own work)."""
        self.hits, self.misses, self.used, self.damaged, self.unrecorded = Counter(), Counter(), {}, [], 0

    def merge(self, counts: dict[str, Any]) -> None:
        """Add what another copy of this cache counted (a stage that ran in a child process)."""
        self.hits.update(counts["hits"])
        self.misses.update(counts["misses"])
        for stage, keys in counts["used"].items():
            self.used.setdefault(stage, []).extend(keys)
        self.damaged += [Path(p) for p in counts["damaged"]]
        self.unrecorded += counts["unrecorded"]

    def summary(self) -> dict[str, dict[str, int]]:
        """``{stage: {"hits": n, "misses": m}}``."""
        stages = sorted(set(self.hits) | set(self.misses))
        return {s: {"hits": self.hits[s], "misses": self.misses[s]} for s in stages}

    # -- the lease of a running render -----------------------------------------------------------
    @contextlib.contextmanager
    def lease(self, run_dir: Path, journal: Path | None = None) -> Iterator[None]:
        """While the render runs: a lease in ``<root>/leases/`` naming every entry it uses.

        Also appends each key to ``journal`` (in the run dir), so a run that stops before its
        manifest is written still says what it used.  The lease is locked for its whole life and
        removed on exit; one left by a killed render is recognised as stale (its lock is free).
        """
        lease = Lease.start(self.store, run_dir, journal)
        self._lease = lease
        try:
            yield
        finally:
            self._lease = None
            lease.end()

    def _announce(self, out: Output) -> None:
        if self._lease is not None:
            self._lease.add(out.stage, out.key)


# ------------------------------------------------------------------------------ the entries on disk
def _entry_path(root: Path, out: Output) -> Path:
    return root / out.stage / out.key[:2] / f"{out.key}{out.ext}"


def entry_lock(root: Path, stage: str, key: str, timeout: float) -> FileLock:
    """The lock of entry ``key`` of ``stage`` in the cache at ``root`` (made, with its folder, if missing)."""
    path = root / "locks" / stage / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout, mode=new_file_mode())


def entries(root: Path) -> Iterable[Path]:
    """Every entry of the cache (not records, locks, leases, damaged entries or files being written)."""
    for kind in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in RESERVED):
        for path in kind.rglob("*"):
            if path.is_file() and ".partial" not in path.name and not path.name.endswith(RECORD):
                yield path


def key_of(path: Path) -> str:
    """The cache key of an entry (its name without the extension)."""
    return path.name.split(".")[0]
