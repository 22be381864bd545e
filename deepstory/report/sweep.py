"""``report.html`` in a sweep's directory: one row per job, and time and memory against each swept value.

Written by a Hydra callback when the sweep ends (``on_multirun_end``), registered
in ``conf/config.yaml`` under ``hydra.callbacks``.  It reads each job's
``.hydra/overrides.yaml`` and ``export/manifest.json``; a job without a manifest
(it failed) is listed as such.  Jobs may sit in nested folders (an override such
as ``models/tts=espeak`` names a folder inside a folder), so the sweep directory
is searched for every job's ``.hydra`` folder.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepstory.report.html import PALETTE, Raw, details, esc, line_plot, page, table
from deepstory.threads import describe_cores

log = logging.getLogger(__name__)

try:  # Hydra's callback interface; a plain base where Hydra is absent (the page can still be written)
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[assignment,misc]


@dataclass
class Job:
    """One job of a sweep, as its run dir tells it."""

    dir: Path
    overrides: list[str]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, str]:
        return dict(o.lstrip("+~").split("=", 1) for o in self.overrides if "=" in o)

    @property
    def seconds(self) -> float | None:
        return self.manifest.get("stages", {}).get("total", {}).get("seconds")

    @property
    def peak_mib(self) -> float | None:
        return self.manifest.get("stages", {}).get("total", {}).get("peak_rss_mib")

    @property
    def audio_seconds(self) -> float:
        return float(self.manifest.get("audio", {}).get("seconds", 0.0))

    @property
    def rtf(self) -> float | None:
        return self.seconds / self.audio_seconds if self.seconds is not None and self.audio_seconds else None

    @property
    def cache(self) -> tuple[int, int]:
        stages = self.manifest.get("stages", {}).values()
        return sum(s.get("hits", 0) for s in stages), sum(s.get("hits", 0) + s.get("misses", 0) for s in stages)


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every job under ``sweep_dir`` (a folder holding ``.hydra/overrides.yaml``), in Hydra's job order."""
    import yaml

    jobs = []
    for overrides in sorted(Path(sweep_dir).rglob(".hydra/overrides.yaml")):
        run_dir = overrides.parent.parent
        listed = yaml.safe_load(overrides.read_text(encoding="utf-8")) or []
        manifest_path = run_dir / "export" / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        job_num = _job_num(run_dir)
        jobs.append((job_num, Job(run_dir, [str(o) for o in listed], manifest)))
    return [job for _, job in sorted(jobs, key=lambda pair: (pair[0], str(pair[1].dir)))]


def _job_num(run_dir: Path) -> int:
    """The job's number in the sweep (``.hydra/hydra.yaml``: ``hydra.job.num``); jobs without one go last."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        import yaml

        try:
            num = yaml.safe_load(hydra_yaml.read_text(encoding="utf-8"))["hydra"]["job"]["num"]
            return int(num)
        except (KeyError, TypeError, ValueError, yaml.YAMLError):
            pass
    return 1 << 30


def swept(jobs: list[Job]) -> dict[str, list[str]]:
    """The override keys whose value differs between jobs, each with its values in job order."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.values))
    out = {}
    for key in keys:
        values = [job.values.get(key, "") for job in jobs]
        if len(set(values)) > 1:
            out[key] = values
    return out


def _numbers(values: list[str]) -> list[float] | None:
    try:
        found = [float(v) for v in values]
    except ValueError:
        return None
    return found if all(math.isfinite(v) for v in found) else None


def plots(jobs: list[Job], key: str, values: list[str]) -> str:
    """Wall time and peak memory against ``key``'s values (numbers on a numeric axis, else one place per value)."""
    numeric = _numbers(values)
    if numeric is not None:
        order = sorted(range(len(jobs)), key=lambda i: numeric[i])
        xs, categories = [numeric[i] for i in order], None
    else:
        names = list(dict.fromkeys(values))
        order = sorted(range(len(jobs)), key=lambda i: names.index(values[i]))
        xs, categories = [float(names.index(values[i])) for i in order], names
    seconds = [jobs[i].seconds for i in order]
    memory = [jobs[i].peak_mib for i in order]
    time_plot = line_plot(
        xs, [("wall time", PALETTE[0], seconds)], x_label=key, y_label="seconds", categories=categories
    )
    memory_plot = line_plot(
        xs, [("peak memory", PALETTE[1], memory)], x_label=key, y_label="MiB", categories=categories
    )
    return f'<h3>Against {esc(key)}</h3><div class="cast">{time_plot}{memory_plot}</div>'


def sweep_page(sweep_dir: Path) -> str:
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    varying = swept(jobs)
    rows = []
    for n, job in enumerate(jobs):
        rel = job.dir.relative_to(sweep_dir)
        report = job.dir / "export" / "report.html"
        link = (
            Raw(f'<a href="{esc((rel / "export" / "report.html").as_posix())}">report</a>') if report.is_file() else ""
        )
        hits, outputs = job.cache
        shown = [o for o in job.overrides if o.lstrip("+~").split("=", 1)[0] in varying] or job.overrides
        rows.append(
            (
                n,
                Raw("<br>".join(f"<code>{esc(o)}</code>" for o in shown)),
                "failed (no manifest)" if not job.manifest else f"{job.seconds:.1f}",
                f"{job.peak_mib:.0f}" if job.peak_mib is not None else "",
                len(job.manifest.get("chunks", [])) if job.manifest else "",
                f"{hits}/{outputs}" if outputs else "",
                f"{job.rtf:.2f}" if job.rtf is not None else "",
                f"{job.audio_seconds:.1f}" if job.manifest else "",
                describe_cores(job.manifest["cores"]) if job.manifest.get("cores") else "",
                link,
            )
        )
    common = [o for o in (jobs[0].overrides if jobs else []) if o.lstrip("+~").split("=", 1)[0] not in varying]
    body = [
        "<h1>Deepstory sweep</h1>",
        f'<p class="muted">{esc(sweep_dir)} · {len(jobs)} jobs</p>',
        "<h2>Jobs</h2>",
        table(
            ["job", "overrides", "wall s", "peak MiB", "chunks", "cache hits", "RTF", "story s", "cores", ""],
            rows,
            numeric=(0, 2, 3, 4, 5, 6, 7),
        ),
        '<p class="muted">Wall time: the render, from its manifest; peak memory: the render process\'s resident set; '
        "RTF: wall time per second of story; cache hits: outputs found in the cache of all outputs; cores: the CPU "
        "cores of the machine the job ran on (from its manifest).</p>",
    ]
    if common:
        body.append(details("Overrides every job shares", "<pre>" + esc("\n".join(common)) + "</pre>"))
    if varying and any(job.manifest for job in jobs):
        body.append("<h2>Time and memory</h2>")
        body += [plots(jobs, key, values) for key, values in varying.items()]
    return page("Deepstory sweep", "\n".join(body))


class SweepReport(Callback):
    """Writes ``report.html`` in the sweep directory when a sweep ends (``report.enabled=false``: not)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        from deepstory.files import write_text

        try:
            dest = write_text(sweep_dir / "report.html", sweep_page(sweep_dir))
        except (OSError, ValueError, KeyError) as exc:  # a report never fails a finished sweep
            log.warning("sweep report not written: %s", exc)
            return
        log.info("sweep report: %s", dest)
