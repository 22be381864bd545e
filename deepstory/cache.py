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

    python -m deepstory.cache info  [--cache-dir DIR]
    python -m deepstory.cache prune [--cache-dir DIR] [--runs DIR ...] [--older-than DAYS]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from filelock import FileLock

from deepstory.files import atomic_path


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


def place(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` atomically: a hard link where possible, else a copy."""
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


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
    """The store; also counts, per stage, the outputs it found (hits) and the ones that had to be made (misses)."""

    def __init__(self, root: Path | str, lock_timeout: float = 3600.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.used: dict[str, list[str]] = {}

    @staticmethod
    def output(stage: str, dest: Path, *depends_on: Any) -> Output:
        """The output of ``stage`` at ``dest`` whose content is fixed by ``depends_on`` (JSON-able values)."""
        return Output(stage, digest(stage, *depends_on), Path(dest))

    def path(self, out: Output) -> Path:
        return self.root / out.stage / out.key[:2] / f"{out.key}{out.ext}"

    def has(self, out: Output) -> bool:
        return self.path(out).is_file()

    def make(self, out: Output, produce: Callable[[Path], object]) -> bool:
        """Make the entry with ``produce(tmp_path)`` unless it exists; returns whether it existed (a hit).

        Under the entry's file lock, so concurrent renders make it once;
        ``produce`` writes a complete file, renamed into the cache afterwards.
        Counts nothing and places nothing (remote workers call this).
        """
        entry = self.path(out)
        if entry.is_file():
            return True
        lock_path = self.root / "locks" / out.stage / f"{out.key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path), timeout=self.lock_timeout):
            if entry.is_file():  # someone else made it while we waited
                return True
            with atomic_path(entry) as tmp:
                produce(tmp)
        return False

    def get(self, out: Output, produce: Callable[[Path], object]) -> bool:
        """The entry for ``out``, made if missing, placed at ``out.dest`` and counted; returns whether it was a hit."""
        hit = self.make(out, produce)
        self.record(out, made=not hit)
        return hit

    def record(self, out: Output, made: bool) -> None:
        """Place an existing entry at ``out.dest`` and count it: a miss if it was ``made`` for this run."""
        self.used.setdefault(out.stage, []).append(out.key)
        (self.misses if made else self.hits)[out.stage] += 1
        place(self.path(out), out.dest)

    def summary(self) -> dict[str, dict[str, int]]:
        """``{stage: {"hits": n, "misses": m}}``."""
        stages = sorted(set(self.hits) | set(self.misses))
        return {s: {"hits": self.hits[s], "misses": self.misses[s]} for s in stages}


# ------------------------------------------------------------------------------ maintenance
def entries(root: Path) -> Iterable[Path]:
    for kind in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "locks"):
        for path in kind.rglob("*"):
            if path.is_file() and ".partial" not in path.name:
                yield path


def referenced_keys(run_roots: Iterable[Path]) -> set[str]:
    """Cache keys listed by the manifests of the run dirs under ``run_roots``."""
    keys: set[str] = set()
    for root in run_roots:
        for manifest in Path(root).rglob("export/manifest.json"):
            try:
                used = json.loads(manifest.read_text(encoding="utf-8")).get("cache", {}).get("keys", {})
            except (OSError, ValueError):
                continue
            for values in used.values():
                keys.update(values)
    return keys


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


def _prune(root: Path, runs: list[Path], older_than: float | None, dry_run: bool) -> None:
    keep = referenced_keys(runs) if runs else None
    now = time.time()
    removed = freed = 0
    for path in list(entries(root)):
        key = path.name.split(".")[0]
        unused = keep is not None and key not in keep
        old = older_than is not None and now - path.stat().st_mtime > older_than * 86400
        if unused or old:
            freed += path.stat().st_size
            removed += 1
            if not dry_run:
                path.unlink()
    locks = root / "locks"
    if not dry_run and locks.is_dir():
        for lock in locks.rglob("*.lock"):
            lock.unlink(missing_ok=True)
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {removed} entries, {freed / 2**20:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepstory.cache", description="Inspect or prune the render cache.")
    parser.add_argument("command", choices=["info", "prune"])
    parser.add_argument("--cache-dir", default="outputs/cache", help="the cache (default: outputs/cache)")
    parser.add_argument(
        "--runs",
        nargs="*",
        type=Path,
        default=None,
        help="prune: keep entries used by the run dirs under these folders (default: outputs)",
    )
    parser.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="prune: also remove entries not written for this many days",
    )
    parser.add_argument("--all-unused", action="store_true", help="prune: remove entries no run dir uses")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.cache_dir)
    if not root.is_dir():
        print(f"error: --cache-dir {root}: no such cache", file=sys.stderr)
        return 2
    if args.command == "info":
        _info(root)
        return 0
    if not args.all_unused and args.older_than is None:
        print("error: prune needs --all-unused and/or --older-than DAYS", file=sys.stderr)
        return 2
    runs = (args.runs if args.runs is not None else [Path("outputs")]) if args.all_unused else []
    _prune(root, runs, args.older_than, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
