"""Trust every byte: outputs others can read, cache entries verified before reuse, a prune that keeps
what runs need, and Ctrl-C that resumes to the same video.  Small renders (96x96, two sentences)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepstory.cache import Cache, cli, damage, entries, file_digest, record_path
from deepstory.cache.leases import host

from conftest import ROOT, decoded_digest, render_here, run_cli

pytestmark = pytest.mark.slow

SIZE = 96
STORY = "Eileen: Hello Chelsea, I am home.\nThe cat looked up and said nothing.\n"
KINDS = ("faces", "speech", "phones", "chunk", "motion", "animate", "compose", "lipsync")
DAMAGES = ("truncated", "zero-filled", "flipped byte")


def small_args(story: Path, cache: Path) -> list[str]:
    # Three video segments, so segment entries meet every kind of damage.
    return [
        f"story.text_path={story}",
        f"video.width={SIZE}",
        f"video.height={SIZE}",
        "video.segment_frames=50",
        f"cache_dir={cache}",
    ]


def cli_args(story: Path, cache: Path, run_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "run.py"), *small_args(story, cache), f"hydra.run.dir={run_dir}"]


def digest_of(run_dir: Path) -> tuple[str, str, int]:
    return decoded_digest(run_dir / "export" / "animated.mp4", SIZE)


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "export" / "manifest.json").read_text(encoding="utf-8"))


def spoil(path: Path, how: str) -> None:
    """Damage a file in place (same inode), as an interrupted copy, a sync tool or a disk error would."""
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "zero-filled":
        data = bytearray(len(data))
    else:
        data[len(data) // 2] ^= 0x01
    with open(path, "r+b") as fh:
        fh.write(data)
        fh.truncate(len(data))


def prune(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["prune", *args])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trust-story") / "two.txt"
    path.write_text(STORY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, story):
    """An uninterrupted render with an intact, fresh cache: (run dir, cache, decoded digest)."""
    base = tmp_path_factory.mktemp("trust-reference")
    render_here(base / "run", *small_args(story, base / "cache"))
    return base / "run", base / "cache", digest_of(base / "run")


def copy_cache(reference, dest: Path, kinds=None) -> Path:
    """A copy of the reference cache (new inodes), or of some of its kinds, with the records."""
    src = reference[1]
    for kind in kinds or KINDS:
        shutil.copytree(src / kind, dest / kind)
    return dest


# ------------------------------------------------------------------------------ permissions
@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_every_file_follows_the_umask(reference, story, tmp_path, umask):
    """Outputs and cache entries get the mode open() gives (0644 / 0664), directories 0755 / 0775."""
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    proc = subprocess.run(
        cli_args(story, cache, run_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(umask),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wrong = []
    for path in [run_dir, cache, *run_dir.rglob("*"), *cache.rglob("*")]:
        mode = path.lstat().st_mode & 0o7777
        want = (0o777 if path.is_dir() else 0o666) & ~umask
        if mode != want:
            wrong.append(f"{oct(mode)} {path}")
    assert not wrong, f"umask {oct(umask)}: " + "; ".join(wrong[:10])
    assert (run_dir / "export" / "animated.mp4").is_file() and any(cache.rglob("*.record"))
    assert digest_of(run_dir) == reference[2]


# ------------------------------------------------------------------------------ verified reuse
def test_a_hit_checks_the_size_always_and_the_hash_with_verify_full(tmp_path):
    root = tmp_path / "cache"
    made = Cache(root)
    out = Cache.output("speech", tmp_path / "run" / "a.wav", "hello")
    made.get(out, lambda tmp: tmp.write_bytes(b"0123456789" * 10))
    entry = made.path(out)
    assert json.loads(record_path(entry).read_text()) == {"size": 100, "sha256": file_digest(entry)}
    assert Cache(root, verify="size").has(out) and Cache(root, verify="full").has(out)
    spoil(entry, "flipped byte")
    assert Cache(root, verify="size").has(out), "size only: a flipped byte goes unseen"
    assert not Cache(root, verify="full").has(out)
    spoil(entry, "truncated")
    assert not Cache(root, verify="size").has(out)
    # A damaged hit: warned, moved aside (not deleted), made again.
    warnings: list[str] = []
    again = Cache(root, warn=warnings.append)
    assert again.get(out, lambda tmp: tmp.write_bytes(b"0123456789" * 10)) is False
    assert entry.read_bytes() == b"0123456789" * 10 and damage(entry, full=True) is None
    assert len(warnings) == 1 and "speech/" in warnings[0] and "moved to" in warnings[0]
    (aside,) = again.damaged
    assert aside.is_file() and aside.parent == root / "damaged" / "speech" and aside.read_bytes() == b"0123456789" * 5
    # An entry without a record (an older version's cache) is not trusted either: made again in place.
    record_path(entry).unlink()
    assert damage(entry, full=False) == "no record of its size and SHA-256"
    assert again.get(out, lambda tmp: tmp.write_bytes(b"made again")) is False
    assert entry.read_bytes() == b"made again" and damage(entry, full=True) is None
    assert again.unrecorded == 1 and len(warnings) == 2 and "no record" in warnings[1]


@pytest.mark.parametrize("how", DAMAGES)
def test_check_reports_every_damaged_entry(reference, tmp_path, how):
    cache = copy_cache(reference, tmp_path / "cache")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["check", "--cache-dir", str(cache)]) == 0
    assert " 0 damaged" in out.getvalue()
    spoiled = sorted(entries(cache))
    for path in spoiled:
        spoil(path, how)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["check", "--cache-dir", str(cache)]) == 1
    report = out.getvalue()
    for path in spoiled:
        assert f"damaged: {path.relative_to(cache)}" in report, (path, report)
    assert f"{len(spoiled)} damaged" in report


def test_damaged_entries_of_every_kind_are_detected_and_made_again(reference, story, tmp_path):
    """Every entry damaged in place (the three kinds of damage spread over each kind of entry): the
    re-render reports each, sets it aside, makes it again, and decodes to the same video."""
    cache = copy_cache(reference, tmp_path / "cache")
    spoiled: dict[str, str] = {}
    for k, kind in enumerate(KINDS):
        for i, path in enumerate(sorted((cache / kind).rglob("*"))):
            if path.is_file() and not path.name.endswith(".record"):
                how = DAMAGES[(i + k) % len(DAMAGES)]
                spoil(path, how)
                spoiled[path.name] = how
    assert set(spoiled.values()) == set(DAMAGES)
    assert {name.split(".")[1] for name in spoiled} >= {"wav", "json", "npy", "mp4"}
    run_dir = render_here(tmp_path / "run", *small_args(story, cache))
    assert digest_of(run_dir) == reference[2]
    warnings = manifest(run_dir)["warnings"]
    for name, how in spoiled.items():
        assert any(name in w and "damaged" in w for w in warnings), (name, how, warnings)
        (aside,) = (cache / "damaged").rglob(f"*-{name}")  # set aside, not deleted
        assert damage(cache / aside.parent.name / name[:2] / name, full=True) is None  # made again, whole
    assert sum(m.get("misses", 0) for m in manifest(run_dir)["stages"].values()) == len(spoiled)
    assert cli.main(["check", "--cache-dir", str(cache)]) == 0


# ------------------------------------------------------------------------------ prune
def test_prune_keeps_what_unreadable_runs_and_running_renders_use(reference, tmp_path, capsys):
    cache = copy_cache(reference, tmp_path / "cache")
    runs = tmp_path / "outputs"
    used = {k for keys in manifest(reference[0])["cache"]["keys"].values() for k in keys}
    # Run dirs whose manifest cannot be read: damaged JSON; missing, with the render's key list;
    # missing, with no key list (a run of an older version): its files are matched to entries.
    for name in ("broken", "journal", "files"):
        shutil.copytree(reference[0], runs / name, copy_function=shutil.copy)
    (runs / "broken" / "export" / "manifest.json").write_text('{"cache": {"keys": ', encoding="utf-8")
    (runs / "journal" / "export" / "manifest.json").unlink()
    (runs / "files" / "export" / "manifest.json").unlink()
    (runs / "files" / "temp" / "cache-keys.txt").unlink()
    # Entries no run uses: one a running render has just started using, the others unused.
    orphans = []
    for n in range(3):
        out = Cache.output("speech", tmp_path / f"o{n}.wav", "orphan", n)
        Cache(cache).make(out, lambda tmp, n=n: tmp.write_bytes(b"x" * (1000 + n)))
        orphans.append(Cache(cache).path(out))
    # A lease left behind by a render that was killed: ignored (its lock is free), then removed.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = cache / "leases" / f"{host()}.{dead.stdout.strip()}.dead.lease"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(json.dumps({"pid": int(dead.stdout), "host": host()}) + "\nspeech " + "a" * 64 + "\n")
    running = Cache(cache)
    with running.lease(tmp_path / "elsewhere"):
        running._announce(Cache.output("speech", tmp_path / "o0.wav", "orphan", 0))
        code, text = prune("--all-unused", "--cache-dir", str(cache), "--runs", str(runs), "--dry-run")
        assert code == 0 and all(p.exists() for p in orphans)
        for p in orphans[1:]:
            assert f"would remove {p.relative_to(cache)} (1000 B)" in text or str(p.relative_to(cache)) in text
        assert str(orphans[0].relative_to(cache)) not in text
        assert "would remove 2 entries, 2.0 KiB" in text
        code, text = prune("--all-unused", "--cache-dir", str(cache), "--runs", str(runs))
        assert code == 0
        assert orphans[0].exists() and not orphans[1].exists() and not orphans[2].exists()
        assert "kept 1 entries in use by a running render" in text
        assert not stale.exists() and "no longer running" in text
    for name, why in (("broken", "not valid JSON"), ("journal", "is missing"), ("files", "its files are")):
        line = next(ln for ln in text.splitlines() if f"run dir {runs / name}:" in ln)
        assert why in line and f"kept {len(used)} entries" in line, line
    for key in used:
        assert list(cache.rglob(f"{key}.*")), key
    assert not list((cache / "leases").iterdir()), "the lease is removed when its render ends"
    # Now the render has ended: its entry goes.
    assert prune("--all-unused", "--cache-dir", str(cache), "--runs", str(runs))[0] == 0
    assert not orphans[0].exists()


def test_prune_racing_a_render(reference, story, tmp_path):
    """Prunes over and over (unused entries, and everything by age) while a render runs on the same
    cache: the render finishes, its video is the one made alone, and its entries are all kept."""
    cache = copy_cache(reference, tmp_path / "cache", kinds=("speech", "phones"))
    runs = tmp_path / "outputs"
    run_dir = runs / "race"
    orphan = Cache.output("speech", tmp_path / "o.wav", "orphan")
    Cache(cache).make(orphan, lambda tmp: tmp.write_bytes(b"x" * 100))
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(cli_args(story, cache, run_dir), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    prunes = 0
    try:
        while proc.poll() is None and not (run_dir / "export" / "manifest.json").exists():
            everything = ("--older-than", "0") if prunes % 2 else ("--all-unused", "--runs", str(runs))
            assert prune("--cache-dir", str(cache), *everything)[0] == 0
            prunes += 1
            time.sleep(0.02)
        assert proc.wait(timeout=300) == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    assert prunes >= 5
    assert prune("--cache-dir", str(cache), "--all-unused", "--runs", str(runs))[0] == 0
    assert digest_of(run_dir) == reference[2]
    for kind, keys in manifest(run_dir)["cache"]["keys"].items():
        for key in keys:
            (entry,) = [p for p in (cache / kind / key[:2]).glob(f"{key}.*") if not p.name.endswith(".record")]
            assert damage(entry, full=True) is None
    assert not Cache(cache).path(orphan).exists()


# ------------------------------------------------------------------------------ Ctrl-C
@pytest.mark.parametrize("when", ["speech", "encoding", "compose"])
def test_ctrl_c_then_the_same_command_gives_the_same_video(reference, story, tmp_path, when):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    if when != "speech":  # the speech is reused: only the later stages run (and are interrupted)
        copy_cache(reference, cache, kinds=("speech", "phones"))
    marks = {
        "speech": lambda: any((run_dir / "temp" / "speech").glob("s*.wav")),
        "encoding": lambda: any((cache / "animate").rglob("*.partial.mp4")),
        "compose": lambda: (run_dir / "export" / "combined.wav").exists() or any((run_dir / "export").glob(".comb*")),
    }
    err = (tmp_path / "stderr.txt").open("w")
    # Its own session, signalled as a terminal's Ctrl-C is: the whole group (ffmpeg included).
    proc = subprocess.Popen(
        cli_args(story, cache, run_dir), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
    )
    reached, deadline = False, time.monotonic() + 120
    while not reached and proc.poll() is None and time.monotonic() < deadline:
        reached = marks[when]()
        time.sleep(0.003)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=120)
    err.close()
    assert reached, f"the render finished before reaching {when}"
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 130 and "run the same command again" in stderr, stderr[-2000:]
    again = run_cli(*small_args(story, cache), f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert digest_of(run_dir) == reference[2]
    assert "damaged" not in " ".join(manifest(run_dir)["warnings"])
