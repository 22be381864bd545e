"""The HTML reports: export/report.html per render and report.html per sweep, opened in a real browser.

The browser is the system Chromium (Debian's ``chromium``; ``.ci/run`` installs it),
driven over the DevTools protocol on a pipe (tests/browser.py).  Where none can be
had, the browser tests skip with a warning that says so; under ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import pytest

from browser import Browser, find_chromium
from conftest import ROOT, run_cli, skip_or_fail_in_ci, tiny_args

#: Where the browser test leaves its screenshot for a reviewer (``DEEPSTORY_REPORT_SHOTS`` to choose).
SHOTS = Path(os.environ.get("DEEPSTORY_REPORT_SHOTS", ROOT / "outputs" / "test-screenshots"))


@pytest.fixture(scope="module")
def report_run(tiny_render) -> Path:
    """The session's tiny render (several chunks, cut_size cuts among them) and its report."""
    return tiny_render


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        message = (
            "NO CHROMIUM: the report was not checked in a browser. Install it (Debian: apt-get install chromium) "
            "or point $CHROMIUM at one."
        )
        warnings.warn(message, stacklevel=1)
        skip_or_fail_in_ci(message)
    assert exe is not None
    return exe


def test_report_is_self_contained_and_shows_the_render(report_run):
    export = report_run / "export"
    page = (export / "report.html").read_text(encoding="utf-8")
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    # nothing from the network: every src/href is a file beside it, an anchor or inline data
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not re.match(r"^(https?:)?//", url), url
    assert 'src="animated.mp4"' in page and "<track" in page
    assert len(page) < 400_000
    # every chunk a clickable bar at its start, every speaker in the cast, the figures of the manifest
    bars = re.findall(r'<rect class="chunk" data-chunk="(\d+)" data-start="([\d.]+)"', page)
    assert [int(i) for i, _ in bars] == [c["index"] for c in manifest["chunks"]]
    for (_, start), chunk in zip(bars, manifest["chunks"]):
        assert float(start) == pytest.approx(chunk["first_sample"] / 22050, abs=1e-3)
    assert "✂" in page  # cut_size=30000 cuts Eileen's long lines
    for speaker in ("Eileen", "Narrator"):
        assert f"</span>{speaker}</h3>" in page
    assert manifest["config_hash"] in page and 'id="lipsync-plot"' in page
    assert all("peak_rss_mib" in stat for stat in manifest["stages"].values() if "seconds" in stat)
    # the WebVTT beside the SRT, cue for cue
    srt = (export / "animated.srt").read_text(encoding="utf-8")
    vtt = (export / "animated.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == srt.count(" --> ") > 0
    assert re.findall(r"(\d\d:\d\d:\d\d)[,.](\d{3})", srt) == re.findall(r"(\d\d:\d\d:\d\d)[,.](\d{3})", vtt)


def test_manifest_summary_and_report_record_the_cores_and_the_reference(report_run, tiny_story, tmp_path):
    """Every timing comes with the CPU cores it was measured on; ``report.reference_seconds`` gives the ratio."""
    import io

    from rich.console import Console

    from deepstory.run.render import render
    from deepstory.threads import cpu_cores, describe_cores

    from conftest import compose_cfg

    manifest = json.loads((report_run / "export" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cores"] == cpu_cores()
    assert manifest["cores"]["cpu_count"] == os.cpu_count()
    assert manifest["cores"]["affinity"] == len(os.sched_getaffinity(0))
    assert "reference" not in manifest  # not given, not shown
    # The same render again (the session render's cache: all hits), told its reference.
    run_dir, out = tmp_path / "again", io.StringIO()
    cfg = compose_cfg(
        *tiny_args(tiny_story, report_run.parent / "cache"), "cut_size=30000", "report.reference_seconds=2.5"
    )
    render(cfg, run_dir, Console(file=out, width=300))
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cores"] == cpu_cores()
    total = manifest["stages"]["total"]["seconds"]
    assert manifest["reference"] == {"seconds": 2.5, "ratio": pytest.approx(total / 2.5, abs=1e-3)}
    summary = out.getvalue()
    assert f"on {describe_cores()}" in summary and "x the reference (2.5 s: TTS alone + x264 alone)" in summary
    assert "floor" not in summary
    page = (run_dir / "export" / "report.html").read_text(encoding="utf-8")
    assert describe_cores() in page and "x</b> the reference (2.5 s" in page


def test_cores_are_described_with_the_affinity_only_where_it_differs():
    from deepstory.threads import describe_cores

    assert describe_cores({"cpu_count": 2, "affinity": 2}) == "2 CPU cores"
    assert describe_cores({"cpu_count": 1, "affinity": 1}) == "1 CPU core"
    assert describe_cores({"cpu_count": 16, "affinity": 2}) == "16 CPU cores, 2 usable (affinity)"


def test_report_can_be_turned_off(tmp_path, tiny_story):
    from deepstory.run.render import build_stages

    from conftest import compose_cfg

    assert "report" not in [s.name for s in build_stages(compose_cfg("report.enabled=false"))]
    assert build_stages(compose_cfg())[-1].name == "report"


CHECKS = r"""
(async () => {
  const v = document.getElementById('player');
  const until = (ok, ms, what) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    (function poll() {
      if (ok()) { resolve(); } else if (performance.now() - t0 > ms) { reject(new Error('timed out: ' + what)); }
      else { setTimeout(poll, 20); }
    })();
  });
  const seeked = () => new Promise(resolve => v.addEventListener('seeked', resolve, {once: true}));
  await until(() => v.readyState >= 2, 20000, 'video readyState >= 2');
  const out = {readyState: v.readyState, duration: v.duration, error: v.error && v.error.message};
  const track = v.querySelector('track');
  await until(() => track.readyState >= 2, 10000, 'subtitle track');
  out.trackState = track.readyState;
  out.cues = v.textTracks[0].cues ? v.textTracks[0].cues.length : -1;
  const middle = v.duration / 2, done = seeked();
  v.currentTime = middle;
  await done;
  out.middle = middle; out.afterSeek = v.currentTime; out.readyAfterSeek = v.readyState;
  return out;
})()
"""


def test_report_plays_seeks_and_navigates_in_chromium(report_run, chromium):
    export = report_run / "export"
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    srt_cues = (export / "animated.srt").read_text(encoding="utf-8").count(" --> ")
    fps = manifest["video"]["fps"]
    with Browser(chromium) as browser:
        browser.open(export / "report.html")
        found = browser.evaluate(CHECKS)
        assert found["error"] is None and found["readyState"] >= 2
        assert abs(found["duration"] - manifest["audio"]["seconds"]) <= 1 / fps, found
        assert found["afterSeek"] == pytest.approx(found["middle"], abs=1 / fps) and found["readyAfterSeek"] >= 1
        assert found["trackState"] == 2 and found["cues"] == srt_cues, found
        # a real click on a timeline bar (the third chunk) moves the video to that chunk's start
        chunk = manifest["chunks"][2]
        box = browser.evaluate(
            f"(() => {{ const bar = document.querySelector('rect.chunk[data-chunk=\"{chunk['index']}\"]');"
            " bar.scrollIntoView({block: 'center'}); const r = bar.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        browser.evaluate(
            "window.__seeked = new Promise(r => document.getElementById('player').addEventListener('seeked', r, {once: true})); 0"
        )
        browser.click(*box)
        now = browser.evaluate("window.__seeked.then(() => document.getElementById('player').currentTime)", timeout=15)
        assert now == pytest.approx(chunk["first_sample"] / manifest["audio"]["sample_rate"], abs=1 / fps)
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(SHOTS / "report.png")
        assert (SHOTS / "report.png").stat().st_size > 10_000
        assert browser.errors() == []


@pytest.fixture(scope="module")
def sweep(tiny_story, tiny_render, tmp_path_factory) -> Path:
    """A two-job sweep through run.py; the callback writes its report.html.

    It shares the tiny render's cache: the speech and (cut_size changes no picture) the video are found there.
    """
    sweep = tmp_path_factory.mktemp("sweep") / "sweep"
    result = run_cli(
        "-m",
        *tiny_args(tiny_story, tiny_render.parent / "cache"),
        "cut_size=30000,800000",
        "stages.contact.enabled=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return sweep


def test_sweep_report_lists_every_job(sweep):
    """The sweep's report.html has a row and a report link per job."""
    page = (sweep / "report.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+/export/report\.html)"', page)
    assert len(links) == 2 and all((sweep / link).is_file() for link in links)
    assert "cut_size=30000" in page and "cut_size=800000" in page and "Against cut_size" in page


def test_sweep_report_opens_in_chromium(sweep, chromium):
    """The sweep's report.html in a real browser: one table row per job, no error logged."""
    with Browser(chromium) as browser:
        browser.open(sweep / "report.html")
        rows = browser.evaluate("document.querySelectorAll('tbody tr').length")
        assert rows == 2 and browser.errors() == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(SHOTS / "sweep-report.png")
        assert (SHOTS / "sweep-report.png").stat().st_size > 10_000


def test_webvtt_escapes_markup_and_keeps_cues_whole():
    from deepstory.compose.stage import webvtt

    vtt = webvtt([(0, 22050, "Eileen: a <b> & c --> d"), (22050, 44100, "Narrator: one\n\ntwo")], 22050)
    assert vtt.splitlines()[:5] == [
        "WEBVTT",
        "",
        "1",
        "00:00:00.000 --> 00:00:01.000",
        "Eileen: a &lt;b&gt; &amp; c --&gt; d",
    ]
    assert vtt.splitlines()[6:10] == ["2", "00:00:01.000 --> 00:00:02.000", "Narrator: one", "two"]


def test_sweep_page_lists_a_failed_job_and_the_callback_can_be_off(tmp_path):
    from omegaconf import OmegaConf

    from deepstory.report.sweep import SweepReport, sweep_page

    for n, cut in enumerate((400000, 800000)):
        job = tmp_path / f"cut_size={cut}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- cut_size={cut}\n- seed=1\n", encoding="utf-8")
        (job / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {n}\n", encoding="utf-8")
    (tmp_path / "cut_size=400000" / "export").mkdir()
    manifest = {
        "stages": {"total": {"seconds": 3.0, "peak_rss_mib": 500.0}},
        "audio": {"seconds": 6.0},
        "chunks": [1],
        "cores": {"cpu_count": 16, "affinity": 4},
    }
    (tmp_path / "cut_size=400000" / "export" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    page = sweep_page(tmp_path)
    assert "failed (no manifest)" in page and "Against cut_size" in page and "0.50" in page  # RTF 3 s / 6 s
    assert "16 CPU cores, 4 usable (affinity)" in page  # the cores each job's times were measured on
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    SweepReport(enabled=False).on_multirun_end(config)
    assert not (tmp_path / "report.html").exists()
    SweepReport().on_multirun_end(config)
    assert (tmp_path / "report.html").is_file()
