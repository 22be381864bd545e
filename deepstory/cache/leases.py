"""The leases of running renders: what each one uses, so prune never removes it.

A render holds a *lease* (``<root>/leases/<host>.<pid>.<id>.lease``, locked for
as long as the render runs) listing every key it uses, and places a hit under
the entry's lock: prune never removes what a running render needs.  The lease
also keeps the run dir's *journal* (:data:`JOURNAL`), which says what a run used
when it stopped before writing its manifest.  A lease whose lock is free (its
render was killed) is stale; without working locks, one is judged by whether its
pid runs (a lease from another host is kept).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from deepstory.files import create_new

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: leases are kept and judged by their pid alone
    fcntl = None  # type: ignore[assignment]

#: The extension of a lease file.
LEASE = ".lease"
#: A run dir's list of the cache keys its renders used (kept when the manifest is missing).
JOURNAL = Path("temp") / "cache-keys.txt"


def host() -> str:
    """This machine's name as lease (and write probe) file names carry it."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


class Lease:
    """The lease file of one running render (see :meth:`~deepstory.cache.store.Cache.lease`)."""

    def __init__(self, path: Path, fd: int, journal: Path | None) -> None:
        self.path, self.fd, self.journal = path, fd, journal
        self.keys: set[str] = set()
        self._journal_fd: int | None = None

    @classmethod
    def start(cls, root: Path, run_dir: Path, journal: Path | None) -> "Lease":
        folder = root / "leases"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{host()}.{os.getpid()}.{secrets.token_hex(4)}"
        # Locked before it gets its final name, so prune never sees it unlocked while its render lives.
        tmp = folder / f".{name}.partial"
        fd = create_new(tmp, os.O_WRONLY | os.O_APPEND)
        try:
            if fcntl is not None:
                with contextlib.suppress(OSError):  # a filesystem without locks: judged by pid
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = {
                "pid": os.getpid(),
                "host": host(),
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


def keys_in(lines: Iterable[str]) -> set[str]:
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


def lease_alive(path: Path, header: dict[str, Any]) -> bool:
    """A lease is live while its render holds its lock; without working locks, while its pid runs (same host)."""
    same_host = header.get("host") == host()
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
            info = LeaseInfo(path, header, keys_in(lines[1:]), size)
            if known is None and not lease_alive(path, header):
                if all(s.path != path for s in self.stale):
                    self.stale.append(info)
                continue
            self.live[path] = info

    def holds(self, key: str) -> bool:
        return any(key in lease.keys for lease in self.live.values())
