"""Renders as subprocesses, and a registry of them on disk, so that a reload or a restart loses nothing.

A job is ``python run.py story.text_path=... speakers_file=... hydra.run.dir=... [overrides]`` (or a sweep,
``-m``), started in its own process group.  Its record, ``<workspace>/jobs/<id>.json``, holds the command,
the run (or sweep) dir relative to ``outputs/``, the pid and, once the studio saw it end, its exit code.
A job's state comes from what is true now, never from memory alone:

* ``running``: its pid is alive and is still that render (its command line names the run dir);
* else its exit code (0 done, 130 interrupted, else failed) where this server saw it end, or else the last
  state in ``temp/progress.jsonl`` that the renderer itself wrote; ``stopped`` if neither says.

Cancel is Ctrl-C: SIGINT to the job's process group; the render exits 130 and keeps its finished work in
the cache.  Resume runs the same command again in the same run dir, which takes finished work from the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepstory.files import write_json
from deepstory.kernel.progress import PROGRESS_FILE, RENDER
from deepstory.studio.workspace import ROOT, Workspace

EXIT_STATES = {0: "done", 130: "interrupted", -signal.SIGINT: "interrupted"}
#: The pipeline's stages in the order they run, and words of the progress bars each names
#: ("Speaking sentences" is the speech stage's): the Render page lists stage rows in this order.
PIPELINE = (
    ("story", ("story",)),
    ("speech", ("speak", "speech")),
    ("chunk", ("chunk",)),
    ("motion", ("motion",)),
    ("animate", ("animat",)),
    ("compose", ("compos",)),
    ("contact", ("contact",)),
    ("lipsync", ("lip sync", "lipsync", "lip-sync")),
    ("report", ("report",)),
)


def pipeline_place(bar: str) -> int:
    """The place of a progress bar's stage in :data:`PIPELINE`; a bar of no known stage after them all."""
    text = bar.lower()
    for place, (_, words) in enumerate(PIPELINE):
        if any(word in text for word in words):
            return place
    return len(PIPELINE)


@dataclass
class Job:
    id: str
    kind: str  # "render" or "sweep"
    run: str  # the run (or sweep) dir, relative to outputs/
    command: list[str]
    pid: int | None = None
    started: float = 0.0
    returncode: int | None = None
    ended: float | None = None
    overrides: list[str] = field(default_factory=list)

    def shell(self) -> str:
        return shlex.join(self.command)


@dataclass
class Progress:
    """What ``temp/progress.jsonl`` says of a render: per bar its latest figures, and the render's state."""

    state: str | None = None
    bars: dict[str, dict[str, Any]] = field(default_factory=dict)
    last: float | None = None  # the newest event's wall-clock time


def read_progress(path: Path) -> Progress:
    out = Progress()
    if not path.is_file():
        return out
    with contextlib.suppress(OSError):
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line being written
            out.last = event.get("time", out.last)
            if "stage" in event:
                out.bars[str(event["stage"])] = event
            elif "state" in event:
                out.state = str(event["state"])
    return out


class Jobs:
    """The job registry of a workspace; renders go under ``outputs/`` (``outputs/studio-runs/<time>/``)."""

    def __init__(self, workspace: Workspace, outputs: Path, defaults: list[str] | None = None) -> None:
        self.ws, self.outputs = workspace, Path(outputs).resolve()
        self.defaults = list(defaults or [])  # overrides every render gets (a test's cache_dir, say)
        self.folder = workspace.root / "jobs"
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # -- the registry ------------------------------------------------------------------------------------
    def save(self, job: Job) -> None:
        write_json(self.folder / f"{job.id}.json", asdict(job))

    def get(self, job_id: str) -> Job | None:
        if not job_id.replace("-", "").replace("_", "").isalnum():
            return None
        path = self.folder / f"{job_id}.json"
        if not path.is_file():
            return None
        return Job(**json.loads(path.read_text(encoding="utf-8")))

    def all(self) -> list[Job]:
        jobs = []
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(ValueError, TypeError, OSError):
                jobs.append(Job(**json.loads(path.read_text(encoding="utf-8"))))
        return sorted(jobs, key=lambda j: j.started, reverse=True)

    def run_dir(self, job: Job) -> Path:
        return self.outputs / job.run

    # -- starting, cancelling, resuming --------------------------------------------------------------------
    def new_id(self, prefix: str = "") -> str:
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        name, n = f"{prefix}{stamp}", 1
        while (self.folder / f"{name}.json").exists() or (self.outputs / "studio-runs" / name).exists():
            n += 1
            name = f"{prefix}{stamp}-{n}"
        return name

    def start_render(self, overrides: list[str], sweep: list[str] | None = None, inputs: Path | None = None) -> Job:
        """A render (or with ``sweep``, a sweep: ``-m`` and those overrides) of the workspace's story and cast
        (or those in ``inputs``, a re-render's), from a copy of both in the run dir (``studio/``), so that its
        ``.hydra/`` command re-runs it whatever the workspace holds later."""
        story = inputs / "story.txt" if inputs else self.ws.story
        speakers = inputs / "speakers.yaml" if inputs else self.ws.speakers_file
        job_id = self.new_id("sweep-" if sweep else "")
        run = self.outputs / "studio-runs" / job_id
        inputs = run / "studio"
        inputs.mkdir(parents=True)
        shutil.copyfile(story, inputs / "story.txt")
        shutil.copyfile(speakers, inputs / "speakers.yaml")
        command = [sys.executable, str(ROOT / "run.py")]
        if sweep:
            command.append("-m")
        command += [
            f"story.text_path={inputs / 'story.txt'}",
            "story.format=tagged",
            f"speakers_file={inputs / 'speakers.yaml'}",
            f"hydra.{'sweep' if sweep else 'run'}.dir={run}",
            *self.defaults,
            *overrides,
            *(sweep or []),
        ]
        job = Job(job_id, "sweep" if sweep else "render", str(run.relative_to(self.outputs)), command)
        job.overrides = list(overrides)
        return self._spawn(job)

    def _spawn(self, job: Job) -> Job:
        log = self.run_dir(job) / "studio" / "render.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(log, "ab") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "120"}
            proc = subprocess.Popen(
                job.command,
                cwd=Path.cwd(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Cancel signals the render and its workers
                env=env,
            )
            job.pid, job.started, job.returncode, job.ended = proc.pid, time.time(), None, None
            self._procs[job.id] = proc
            self.save(job)
        threading.Thread(target=self._wait, args=(job.id, proc), daemon=True).start()
        return job

    def _wait(self, job_id: str, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self._lock:
            job = self.get(job_id)
            if job is not None and job.pid == proc.pid:
                job.returncode, job.ended = code, time.time()
                self.save(job)
            self._procs.pop(job_id, None)

    def alive(self, job: Job) -> bool:
        """Whether the job's process still runs and is still this job (not a reused pid)."""
        if job.pid is None or job.returncode is not None:
            return False
        proc = self._procs.get(job.id)
        if proc is not None:
            return proc.poll() is None
        try:
            cmdline = Path(f"/proc/{job.pid}/cmdline").read_bytes().decode(errors="replace")
            status = Path(f"/proc/{job.pid}/status").read_text()
        except OSError:
            return False
        zombie = "\nState:\tZ" in status
        args = cmdline.split("\0")
        return not zombie and any(
            a.startswith("hydra.") and a.endswith(f"/{job.id}") and a in args for a in job.command
        )

    def cancel(self, job: Job) -> bool:
        """Ctrl-C to the job's process group; False where it is not running."""
        if not self.alive(job) or job.pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGINT)
        return True

    def resume(self, job: Job) -> Job:
        if self.alive(job):
            raise ValueError("the render is still running")
        return self._spawn(job)

    # -- what a page shows -----------------------------------------------------------------------------
    def progress_file(self, job: Job) -> Path | None:
        """The render's progress events; a sweep's newest job's."""
        run = self.run_dir(job)
        if job.kind == "render":
            return run / "temp" / PROGRESS_FILE
        found = sorted(run.glob(f"*/temp/{PROGRESS_FILE}"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def state(self, job: Job, progress: Progress | None = None) -> str:
        if self.alive(job):
            return "running"
        if job.returncode is not None:
            return EXIT_STATES.get(job.returncode, "failed")
        if job.kind == "sweep":
            return "done" if (self.run_dir(job) / "report.html").is_file() else "stopped"
        progress = progress or read_progress(self.progress_file(job) or Path("/nonexistent"))
        return progress.state if progress.state in ("done", "interrupted", "failed") else "stopped"

    def status(self, job: Job) -> dict[str, Any]:
        """The job for the page: its state, each stage's latest figures and the whole render's row."""
        file = self.progress_file(job)
        progress = read_progress(file) if file is not None else Progress()
        run = self.run_dir(job)
        # In pipeline order, not in the order the events came (stages side by side start bars in any order).
        named = sorted(
            ((name, bar) for name, bar in progress.bars.items() if name != RENDER),
            key=lambda item: pipeline_place(item[0]),
        )
        bars = [{**bar, "place": pipeline_place(name)} for name, bar in named]
        video = run / "export" / "animated.mp4"
        state = self.state(job, progress)
        return {
            "id": job.id,
            "kind": job.kind,
            "run": job.run,
            "state": state,
            "command": job.shell(),
            "started": job.started,
            "overall": progress.bars.get(RENDER),
            "stages": bars,
            "last_event": progress.last,
            "video": f"/files/out/{job.run}/export/animated.mp4" if video.is_file() and state == "done" else None,
            "report": (
                f"/files/out/{job.run}/{'report.html' if job.kind == 'sweep' else 'export/report.html'}"
                if state == "done"
                else None
            ),
            "log_tail": _tail(run / "studio" / "render.log"),
        }


def _tail(path: Path, lines: int = 6) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])
