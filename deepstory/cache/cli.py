"""The command line of the cache: see what it holds, verify every entry, prune it.

    python -m deepstory.cache info  [--cache-dir DIR]
    python -m deepstory.cache check [--cache-dir DIR] [--move-aside]
    python -m deepstory.cache prune [--cache-dir DIR] [--all-unused [--runs DIR ...]] [--older-than DAYS]
                                    [--damaged] [--dry-run]

Exit status 2 for a wrong argument or a missing cache; 1 when check finds a damaged entry, or when
the cache cannot be written (check --move-aside, prune) or a lease cannot be read (prune); else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from filelock import Timeout

from deepstory.cache.leases import Leases, LeaseUnreadable
from deepstory.cache.prune import prune
from deepstory.cache.records import RECORD, damage, set_aside
from deepstory.cache.store import NOT_WRITABLE, entries, entry_lock, key_of, write_probe


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
                with _lock_if_writable(root, path.parent.parent.name, key_of(path), 60.0):
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
        return entry_lock(root, stage, key, timeout)
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            return contextlib.nullcontext()
        raise


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
        prune(root, runs, args.older_than, args.dry_run, args.damaged)
    except LeaseUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
