"""A cache the render can read but not write: its entries are used, new ones go to the local layer, no pixel changes.

The tests run as root in CI, and root writes whatever the permission bits say, so the copy of the cache is
made truly read-only for the render's process: a read-only bind mount in a private mount namespace
(``unshare -m``; ``unshare -rm`` as another user), or, for a user other than root where that is not allowed,
permission bits.  Either way, a write into it is tried first and must fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, decoded_digest, tiny_args

MOUNT_RO = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
WRITE = "import os, sys; os.close(os.open(os.path.join(sys.argv[1], '.probe'), os.O_CREAT | os.O_WRONLY))"


def _refused(prefix: list[str], folder: Path) -> bool:
    """Whether a write into ``folder`` fails when run under ``prefix``."""
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", WRITE, str(folder)], capture_output=True, timeout=60)
    except OSError:
        return False
    (folder / ".probe").unlink(missing_ok=True)
    return proc.returncode != 0 and ("Read-only" in proc.stderr.decode() or "ermission" in proc.stderr.decode())


def read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written (checked by trying), or skip saying why.

    Under ``CI=true`` it fails instead of skipping: CI runs as root on machines where the mount works.
    """
    for unshare in (["unshare", "-m"], ["unshare", "-rm"]) if os.geteuid() == 0 else (["unshare", "-rm"],):
        prefix = [*unshare, "sh", "-c", MOUNT_RO, "sh", str(folder)]
        if shutil.which("unshare") and _refused(prefix, folder):
            return prefix
    if os.geteuid() != 0:  # permission bits hold for everyone but root
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        if _refused([], folder):
            return []
    reason = f"cannot make {folder} read-only here (no read-only bind mount: unshare -m / -rm failed)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def writable_again(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under ``folder``: kind, mode, size, mtime and, for files, the SHA-256."""
    found = {}
    for path in sorted([folder, *folder.rglob("*")]):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        found[str(path.relative_to(folder))] = (st.st_mode, st.st_size if digest else 0, st.st_mtime_ns, digest)
    return found


def entries(cache: Path) -> dict[str, set[str]]:
    """The entries of a cache by stage (names only; records, locks and leases left out)."""
    out: dict[str, set[str]] = {}
    for path in cache.glob("*/??/*"):
        if path.parent.parent.name not in ("locks", "leases", "damaged") and not path.name.endswith(".record"):
            out.setdefault(path.parent.parent.name, set()).add(path.name)
    return out


def render_read_only(prefix: list[str], run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_read_only_cache_is_used_and_new_entries_go_to_the_local_layer(tiny_render, tiny_story, tmp_path):
    """tiny_render's full cache, copied and made read-only: same video; what is missing is made locally."""
    expected = decoded_digest(tiny_render / "export" / "animated.mp4")
    shared = tmp_path / "shared"
    shutil.copytree(tiny_render.parent / "cache", shared)
    shutil.rmtree(shared / "leases", ignore_errors=True)
    # One sentence's speech (and its record) gone from the shared cache: it must be made, and go elsewhere.
    gone = sorted((shared / "speech").glob("*/*.wav"))[0]
    gone.unlink()
    gone.with_name(gone.name + ".record").unlink()
    before = snapshot(shared)
    prefix = read_only(shared)
    try:
        # 1. The cut_size of the cached render, local layer by default (in the run dir).
        first = tmp_path / "first"
        proc = render_read_only(prefix, first, *tiny_args(tiny_story, shared), "cut_size=30000")
        assert proc.returncode == 0, proc.stderr[-3000:]
        said = [line for line in (proc.stdout + proc.stderr).splitlines() if "is not writable" in line]
        assert len(said) == 1 and str(shared) in said[0] and str(first / "cache") in said[0], said
        assert decoded_digest(first / "export" / "animated.mp4") == expected
        stages = json.loads((first / "export" / "manifest.json").read_text(encoding="utf-8"))["stages"]
        assert stages["speech"]["misses"] == 1 and stages["speech"]["hits"] > 0, stages["speech"]
        for stage in ("chunk", "motion", "animate", "compose", "faces"):
            assert stages[stage]["misses"] == 0 and stages[stage]["hits"] > 0, (stage, stages[stage])
        assert entries(first / "cache") == {"speech": {gone.name}}  # the one new entry, with its record
        assert (first / "cache" / "speech" / gone.parent.name / (gone.name + ".record")).is_file()
        assert snapshot(shared) == before, "the read-only cache changed"

        # 2. Another cut_size: new chunk entries (and what follows from them) go to a configured local layer.
        second, local = tmp_path / "second", tmp_path / "local"
        proc = render_read_only(
            prefix, second, *tiny_args(tiny_story, shared), "cut_size=800000", f"cache.local_dir={local}"
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert decoded_digest(second / "export" / "animated.mp4") == expected  # cut_size never changes a pixel
        made = entries(local)
        assert made.get("chunk") and not (made["chunk"] & entries(shared)["chunk"]), made
        manifest = json.loads((second / "export" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["cache"]["read_only"] and manifest["cache"]["local_dir"] == str(local)
        assert not (local / "leases").exists() or not list((local / "leases").iterdir())  # the lease was ended
        assert snapshot(shared) == before, "the read-only cache changed"

        # 3. The cache tools on the read-only cache: info and check work, prune says it cannot write.
        tool = [*prefix, sys.executable, "-m", "deepstory.cache"]
        info = subprocess.run([*tool, "info", "--cache-dir", str(shared)], capture_output=True, text=True, cwd=ROOT)
        assert info.returncode == 0 and "speech" in info.stdout, info.stderr
        check = subprocess.run([*tool, "check", "--cache-dir", str(shared)], capture_output=True, text=True, cwd=ROOT)
        assert check.returncode == 0 and "0 damaged" in check.stdout, check.stderr
        prune = subprocess.run(
            [*tool, "prune", "--older-than", "0", "--cache-dir", str(shared)], capture_output=True, text=True, cwd=ROOT
        )
        assert prune.returncode == 1 and prune.stdout == "", (prune.stdout, prune.stderr)
        assert prune.stderr.count("\n") == 1 and f"--cache-dir {shared}: cannot write there" in prune.stderr
        assert snapshot(shared) == before, "the read-only cache changed"
    finally:
        if not prefix:
            writable_again(shared)
