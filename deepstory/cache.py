"""A content-addressed store shared by runs: work is done once, keyed by what it depends on.

Every stage output (a sentence's speech, a chunk's audio, a motion track, a
video segment, the final mp4) is stored as ``<root>/<stage>/<k[:2]>/<k>.<ext>``
where ``k`` hashes exactly the inputs and settings that make it.  A run links
(or copies) entries into its own dir, so run dirs stay self-contained and the
cache can be pruned without breaking them.

Producing an entry happens under a per-key file lock (``filelock``) and ends
in an atomic rename, so concurrent renders sharing the cache (a parallel sweep,
two terminals) compute each entry once and never see half-written files, and a
render killed at any moment leaves only whole entries behind.

Every byte is checked before it is reused, as a build tool's shared cache does:

* each entry has a *record* beside it (``<entry>.record``: its size and SHA-256),
  written atomically *before* the entry is renamed into place, so an entry only
  exists with its record; an entry without one is not trusted;
* a hit checks the size against the record, and the SHA-256 too with
  ``cache.verify=full``; a damaged entry is moved aside to
  ``<root>/damaged/<stage>/<time>-<name>`` (kept for inspection), reported as a
  warning of the run, and made again;
* a render holds a *lease* (``<root>/leases/<host>.<pid>.<id>.lease``, locked for
  as long as the render runs) listing every key it uses, and places a hit under
  the entry's lock: prune never removes what a running render needs.

A cache the render may read but not write (a team's shared cache, a read-only
mount) is found by trying to write in it (:func:`write_probe`: a file made and
removed; not ``os.access``, which root passes whatever the permission bits).
Its verified entries are used as they are, and everything the render writes
(new entries and their records, locks, its lease) goes to a writable *local
layer* (``cache.local_dir``), looked in first; a damaged entry of the read-only
cache is left there and made again in the local layer.

    python -m deepstory.cache info  [--cache-dir DIR]
    python -m deepstory.cache check [--cache-dir DIR] [--move-aside]
    python -m deepstory.cache prune [--cache-dir DIR] [--all-unused [--runs DIR ...]] [--older-than DAYS]
                                    [--damaged] [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from filelock import FileLock, Timeout

from deepstory.files import atomic_path, create_new, new_file_mode, write_json

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: leases are kept and judged by their pid alone
    fcntl = None  # type: ignore[assignment]

#: How a hit is checked: the size against the record (a stat), or the size and the SHA-256 (a read).
VERIFY_MODES = ("size", "full")
DEFAULT_VERIFY = "full"  # a small part of a warm re-run of the demo: benchmarks/cached.py, benchmarks/README.md
#: Folders of the cache root that hold no entries.
RESERVED = ("locks", "leases", "damaged")
RECORD = ".record"
NO_RECORD = "no record of its size and SHA-256"
LEASE = ".lease"
#: What a write gets in a folder one may read but not write: no permission, or a read-only filesystem.
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
#: A run dir's list of the cache keys its renders used (kept when the manifest is missing).
JOURNAL = Path("temp") / "cache-keys.txt"


def digest(*parts: Any) -> str:
    """A stable hash of JSON-able values (dict order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_probe(root: Path) -> str | None:
    """``None`` if files can be made in ``root`` (made, with its parents, if missing); else why not.

    Found by trying (a file created and removed), not by ``os.access``: root passes that whatever the
    permission bits say, yet cannot write on a read-only mount.  Errors other than a refusal raise.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-probe.{_host()}.{os.getpid()}.{secrets.token_hex(4)}"
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


def record_path(entry: Path) -> Path:
    """Where the size and SHA-256 of ``entry`` are recorded."""
    return entry.with_name(entry.name + RECORD)


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
        self._lease: _Lease | None = None

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
        return _lock(self.store, out.stage, out.key, self.lock_timeout)

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
            write_json(record_path(entry), {"size": tmp.stat().st_size, "sha256": file_digest(tmp)})

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
        lease = _Lease.start(self.store, run_dir, journal)
        self._lease = lease
        try:
            yield
        finally:
            self._lease = None
            lease.end()

    def _announce(self, out: Output) -> None:
        if self._lease is not None:
            self._lease.add(out.stage, out.key)


def _entry_path(root: Path, out: Output) -> Path:
    return root / out.stage / out.key[:2] / f"{out.key}{out.ext}"


def _lock(root: Path, stage: str, key: str, timeout: float) -> FileLock:
    path = root / "locks" / stage / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout, mode=new_file_mode())


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


class _Lease:
    """The lease file of one running render (see :meth:`Cache.lease`)."""

    def __init__(self, path: Path, fd: int, journal: Path | None) -> None:
        self.path, self.fd, self.journal = path, fd, journal
        self.keys: set[str] = set()
        self._journal_fd: int | None = None

    @classmethod
    def start(cls, root: Path, run_dir: Path, journal: Path | None) -> "_Lease":
        folder = root / "leases"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{_host()}.{os.getpid()}.{secrets.token_hex(4)}"
        # Locked before it gets its final name, so prune never sees it unlocked while its render lives.
        tmp = folder / f".{name}.partial"
        fd = create_new(tmp, os.O_WRONLY | os.O_APPEND)
        try:
            if fcntl is not None:
                with contextlib.suppress(OSError):  # a filesystem without locks: judged by pid
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = {
                "pid": os.getpid(),
                "host": _host(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "run_dir": str(Path(run_dir).resolve()),
            }
            os.write(fd, (json.dumps(header) + "\n").encode("utf-8"))
            final = folder / f"{name}{LEASE}"
            os.replace(tmp, final)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return cls(final, fd, journal)

    def add(self, stage: str, key: str) -> None:
        if key in self.keys:
            return
        self.keys.add(key)
        line = f"{stage} {key}\n".encode("ascii")
        os.write(self.fd, line)  # before the entry is looked at: a prune reading the lease after this keeps it
        if self.journal is not None:
            if self._journal_fd is None:
                self.journal.parent.mkdir(parents=True, exist_ok=True)
                self._journal_fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            os.write(self._journal_fd, line)

    def end(self) -> None:
        self.path.unlink(missing_ok=True)  # unlinked while still locked
        os.close(self.fd)
        if self._journal_fd is not None:
            os.close(self._journal_fd)


# ------------------------------------------------------------------------------ maintenance
def entries(root: Path) -> Iterable[Path]:
    """Every entry of the cache (not records, locks, leases, damaged entries or files being written)."""
    for kind in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in RESERVED):
        for path in kind.rglob("*"):
            if path.is_file() and ".partial" not in path.name and not path.name.endswith(RECORD):
                yield path


def _key(path: Path) -> str:
    return path.name.split(".")[0]


def _keys_in(lines: Iterable[str]) -> set[str]:
    """Keys of ``stage key`` lines (a line cut short by a crash is left out)."""
    keys = set()
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[1]):
            keys.add(parts[1])
    return keys


@dataclass
class LeaseInfo:
    """A lease as prune sees it."""

    path: Path
    header: dict[str, Any]
    keys: set[str] = field(default_factory=set)
    size: int = -1

    def describe(self) -> str:
        h = self.header
        return f"pid {h.get('pid')} on {h.get('host')}, started {h.get('started')}, run dir {h.get('run_dir')}"


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True  # another user's process (or an odd pid: keep, to be safe)
    return True


def _lease_alive(path: Path, header: dict[str, Any]) -> bool:
    """A lease is live while its render holds its lock; without working locks, while its pid runs (same host)."""
    same_host = header.get("host") == _host()
    if fcntl is not None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False  # nobody holds it: its render is gone (the kernel releases locks of dead processes)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return True
        finally:
            os.close(fd)
    return _pid_alive(header.get("pid")) if same_host else True


class LeaseUnreadable(Exception):
    """A lease prune cannot read: it cannot know what that render uses."""


class Leases:
    """The leases of the renders running on a cache, re-read when they grow."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "leases"
        self.live: dict[Path, LeaseInfo] = {}
        self.stale: list[LeaseInfo] = []
        self.refresh()

    def refresh(self) -> None:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{LEASE}")):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                self.live.pop(path, None)
                continue
            known = self.live.get(path)
            if known is not None and known.size == size:
                continue
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except FileNotFoundError:
                continue
            except OSError as exc:  # its keys cannot be known: nothing may go
                raise LeaseUnreadable(f"cannot read the lease {path} ({exc.strerror}): prune removes nothing") from None
            try:
                header = json.loads(lines[0]) if lines else {}
                assert isinstance(header, dict)
            except (ValueError, AssertionError):
                header = {}
            info = LeaseInfo(path, header, _keys_in(lines[1:]), size)
            if known is None and not _lease_alive(path, header):
                if all(s.path != path for s in self.stale):
                    self.stale.append(info)
                continue
            self.live[path] = info

    def holds(self, key: str) -> bool:
        return any(key in lease.keys for lease in self.live.values())


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
            self.by_inode[(st.st_dev, st.st_ino)] = _key(path)
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                record = json.loads(record_path(path).read_text(encoding="utf-8"))
                self.by_size.setdefault(int(record["size"]), {})[str(record["sha256"])] = _key(path)

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
        return _keys_in(journal.read_text(encoding="utf-8", errors="replace").splitlines()), (
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


def _info(root: Path) -> None:
    by_kind: dict[str, list[int]] = {}
    for path in entries(root):
        stats = by_kind.setdefault(path.parent.parent.name, [0, 0])
        stats[0] += 1
        stats[1] += path.stat().st_size
    print(f"cache {root}")
    for kind, (count, size) in sorted(by_kind.items()):
        print(f"  {kind:10s} {count:7d} entries {size / 2**20:10.1f} MiB")
    total = sum(s for _, s in by_kind.values())
    print(f"  {'total':10s} {sum(c for c, _ in by_kind.values()):7d} entries {total / 2**20:10.1f} MiB")
    damaged = [p for p in (root / "damaged").rglob("*") if p.is_file() and not p.name.endswith(RECORD)]
    if damaged:
        size = sum(p.stat().st_size for p in damaged)
        print(f"  {'damaged':10s} {len(damaged):7d} set aside {size / 2**20:8.1f} MiB  (prune --damaged removes them)")
    leases = Leases(root)
    for lease in leases.live.values():
        print(f"  in use by a running render: {lease.describe()}")


def _check(root: Path, move_aside: bool) -> int:
    """Verify every entry's size and SHA-256; report the damaged ones (and move them aside if asked)."""
    checked = bad = 0
    for path in list(entries(root)):
        checked += 1
        try:
            why = damage(path, full=True)
            if why is not None:  # a render may be replacing it now: look again under its lock
                with _lock_if_writable(root, path.parent.parent.name, _key(path), 60.0):
                    why = damage(path, full=True)
                    if why is not None and move_aside:
                        why += f"; moved to {set_aside(root, path)}"
        except (FileNotFoundError, Timeout):
            continue
        if why is not None:
            bad += 1
            print(f"damaged: {path.relative_to(root)}: {why}")
    print(f"checked {checked} entries in {root}: {bad} damaged")
    if bad and not move_aside:
        print("a render with the default cache.verify=full moves them aside and makes them again (or: --move-aside)")
    return 1 if bad else 0


def _lock_if_writable(root: Path, stage: str, key: str, timeout: float) -> contextlib.AbstractContextManager[Any]:
    """The entry's lock; none in a cache that cannot be written (no render writes there either)."""
    try:
        return _lock(root, stage, key, timeout)
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            return contextlib.nullcontext()
        raise


def _remove(root: Path, path: Path, leases: Leases) -> bool:
    """Remove an entry and its record under its lock, unless a render is making or using it."""
    stage, key = path.parent.parent.name, _key(path)
    try:
        with _lock(root, stage, key, 0):
            leases.refresh()  # a render that started using it since the leases were read
            if leases.holds(key):
                return False
            path.unlink(missing_ok=True)
            record_path(path).unlink(missing_ok=True)
    except Timeout:
        return False
    return True


def _prune(root: Path, runs: list[Path] | None, older_than: float | None, dry_run: bool, damaged: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    keep: set[str] = set()
    if runs is not None:
        index = _Index(root)  # built only if a run dir needs it
        for run in find_runs(runs, root):
            keys, problem = run_keys(run, index)
            keep |= keys
            if problem:
                print(f"kept {len(keys)} entries used by run dir {run}: {problem}")
    leases = Leases(root)
    for lease in leases.live.values():
        print(f"kept {len(lease.keys)} entries in use by a running render ({lease.describe()})")
    now = time.time()
    removed = freed = busy = 0
    for path in list(entries(root)):
        key = _key(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        unused = runs is not None and key not in keep
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
    set_aside_ = 0
    if damaged:
        for path in sorted(p for p in (root / "damaged").rglob("*") if p.is_file() and not p.name.endswith(RECORD)):
            record = record_path(path)
            size = path.stat().st_size
            if dry_run:
                print(f"{verb} {path.relative_to(root)} ({_size(size)})")
            else:
                path.unlink()
                record.unlink(missing_ok=True)
            set_aside_ += 1
            freed += size
    if not dry_run:
        _tidy(root, leases)
    print(
        f"{verb} {removed} entries"
        + (f" and {set_aside_} damaged ones set aside" if damaged else "")
        + f", {_size(freed)}"
        + (f"; kept {busy} that a render was using" if busy else "")
    )


def _tidy(root: Path, leases: Leases) -> None:
    """Stale leases, records without an entry, and locks of entries that are gone."""
    for lease in leases.stale:
        if not _lease_alive(lease.path, lease.header):
            lease.path.unlink(missing_ok=True)
            print(f"removed the lease of a render that is no longer running ({lease.describe()})")
    for kind in (p for p in root.iterdir() if p.is_dir() and p.name not in RESERVED):
        for record in kind.rglob(f"*{RECORD}"):
            entry = record.with_name(record.name[: -len(RECORD)])
            if entry.exists():
                continue
            with contextlib.suppress(Timeout), _lock(root, kind.name, _key(entry), 0):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepstory.cache", description="Inspect, verify or prune the render cache."
    )
    parser.add_argument("command", choices=["info", "check", "prune"])
    parser.add_argument("--cache-dir", default="outputs/cache", help="the cache (default: outputs/cache)")
    parser.add_argument(
        "--runs",
        nargs="*",
        type=Path,
        default=None,
        help="prune --all-unused: keep entries used by the run dirs under these folders (default: outputs)",
    )
    parser.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="prune: also remove entries not written for this many days",
    )
    parser.add_argument("--all-unused", action="store_true", help="prune: remove entries no run dir uses")
    parser.add_argument("--damaged", action="store_true", help="prune: remove the damaged entries set aside")
    parser.add_argument("--dry-run", action="store_true", help="prune: list what would be removed, remove nothing")
    parser.add_argument("--move-aside", action="store_true", help="check: move damaged entries to <cache>/damaged/")
    args = parser.parse_args(argv)
    root = Path(args.cache_dir)
    if not root.is_dir():
        print(f"error: --cache-dir {root}: no such cache", file=sys.stderr)
        return 2
    if args.command == "info":
        _info(root)
        return 0
    if args.command == "check" and not args.move_aside:
        return _check(root, False)
    if args.command == "prune":
        if not args.all_unused and args.older_than is None and not args.damaged:
            print("error: prune needs --all-unused, --older-than DAYS and/or --damaged", file=sys.stderr)
            return 2
        if args.older_than is not None and not args.older_than >= 0:
            print(f"error: --older-than {args.older_than}: must be 0 or more days", file=sys.stderr)
            return 2
    why = None if args.command == "prune" and args.dry_run else write_probe(root)
    if why is not None:
        what = "check --move-aside moves" if args.command == "check" else "prune removes"
        print(f"error: --cache-dir {root}: cannot write there ({why}): {what} nothing", file=sys.stderr)
        return 1
    if args.command == "check":
        return _check(root, True)
    runs = (args.runs if args.runs is not None else [Path("outputs")]) if args.all_unused else None
    try:
        _prune(root, runs, args.older_than, args.dry_run, args.damaged)
    except LeaseUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
