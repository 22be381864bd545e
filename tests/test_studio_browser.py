"""The studio in a real browser, the whole path a writer takes: story, cast, audition, render, cancel, resume,
video, report, compare.

The server runs in a subprocess on a free port (``python -m deepstory.studio``), the browser is the system
Chromium driven over the DevTools pipe (tests/browser.py).  Without Chromium the test skips with a warning;
under ``CI=true`` it fails.  A screenshot of each page goes to the test's tmp dir and, where
``DEEPSTORY_SCREENSHOTS`` names a folder, there too.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from browser import Browser, find_chromium
from conftest import ROOT, TINY_STORY, skip_or_fail_in_ci

PORTRAIT = ROOT / "deepstory" / "assets" / "portraits" / "chelsea.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    for module in ("starlette", "uvicorn", "multipart", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail_in_ci(f"the studio's packages are not installed ({module}): pip install -e '.[studio]'")
    exe = find_chromium()
    if exe is None:
        message = "NO CHROMIUM: the studio was not checked in a browser. Install it (apt-get install chromium)."
        warnings.warn(message, stacklevel=1)
        skip_or_fail_in_ci(message)
    assert exe is not None
    return exe


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The studio on a free port, its outputs and cache in a tmp dir; yields (url, outputs, first-page seconds)."""
    base = tmp_path_factory.mktemp("studio")
    outputs = base / "outputs"
    command = [sys.executable, "-m", "deepstory.studio", "--no-browser", "--port", "0", "--outputs", str(outputs)]
    command += ["--override", f"cache_dir={base / 'cache'}"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[-1].rstrip("/")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + "/story", timeout=30) as page:
        assert page.status == 200
    first_page = time.perf_counter() - started
    yield url, outputs, first_page
    proc.terminate()
    proc.wait(timeout=20)


class Page:
    """The browser on the studio: go to a page, wait for a condition, take its screenshot."""

    def __init__(self, browser: Browser, url: str, shots: list[Path]) -> None:
        self.browser, self.url, self.shots = browser, url, shots

    def go(self, path: str) -> None:
        mark = len(self.browser.events)
        target = path if path.startswith("http") else self.url + path
        self.browser.send("Page.navigate", {"url": target})
        self.browser.wait_event("Page.loadEventFired", mark, 30)

    def js(self, expression: str, timeout: float = 60.0):
        return self.browser.evaluate(expression, timeout)

    def wait(self, expression: str, timeout: float = 60.0, what: str = "") -> object:
        """The value of ``expression`` once it is truthy (polled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or expression}: {self.js('document.body.innerText')[:600]}")

    def reloaded_by(self, expression: str) -> None:
        """Run ``expression`` (which reloads the page) and wait for the new page."""
        mark = len(self.browser.events)
        self.js(expression)
        self.browser.wait_event("Page.loadEventFired", mark, 30)

    def shot(self, name: str) -> None:
        for folder in self.shots:
            folder.mkdir(parents=True, exist_ok=True)
            self.browser.screenshot(folder / f"studio-{name}.png")


def choose_file(selector: str, name: str, data: bytes) -> str:
    """JavaScript that puts a file with ``data`` into the file input ``selector`` (as a user's choice would)."""
    encoded = base64.b64encode(data).decode()
    return (
        f"(() => {{ const bytes = Uint8Array.from(atob('{encoded}'), c => c.charCodeAt(0));"
        f" const list = new DataTransfer(); list.items.add(new File([bytes], {json.dumps(name)}));"
        f" document.querySelector({json.dumps(selector)}).files = list.files; return true; }})()"
    )


def failed_requests(browser: Browser) -> list[str]:
    """Requests that failed (not those a media element cancelled itself) or were answered 4xx/5xx."""
    out = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.loadingFailed" and not params.get("canceled"):
            out.append(f"failed: {params.get('errorText')} ({params.get('type')})")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            out.append(f"{params['response']['status']}: {params['response']['url']}")
    return out


def start_render(page: Page, width: int, cut_size: int) -> str:
    page.go("/render")
    before = page.js("document.querySelectorAll('.job').length")
    page.js(
        f"(() => {{ const f = document.querySelector('#render-form');"
        f" f.width.value = {width}; f.height.value = {width}; f.cut_size.value = {cut_size};"
        f" document.querySelector('#start').click(); return true; }})()"
    )
    page.wait(f"document.querySelectorAll('.job').length > {before}", 30, "the new job")
    return str(page.js("document.querySelector('.job').dataset.job"))


def wait_state(page: Page, job: str, states: tuple[str, ...], timeout: float = 120.0) -> str:
    selector = json.dumps(f'.job[data-job="{job}"]')
    expression = f"(() => {{ const b = document.querySelector({selector}); return b && b.dataset.state; }})()"
    wanted = json.dumps(list(states))
    state = page.wait(f"{wanted}.includes({expression}) && {expression}", timeout, f"{job} to be {states}")
    return str(state)


def test_the_writers_path_in_chromium(chromium, server, tmp_path):
    url, outputs, first_page = server
    workspace = outputs / "studio"
    shots = [tmp_path / "screenshots"]
    if os.environ.get("DEEPSTORY_SCREENSHOTS"):
        shots.append(Path(os.environ["DEEPSTORY_SCREENSHOTS"]))
    assert first_page < 2.0, f"the first page took {first_page:.2f} s after start"
    with Browser(chromium, width=1280, height=900) as browser:
        browser.send("Network.enable")
        page = Page(browser, url, shots)

        # 1-2. The story: upload the tiny story; each utterance shows coloured by its speaker.
        page.go("/story")
        page.js(choose_file("#story-file", "tiny.txt", TINY_STORY.encode()))
        page.reloaded_by("document.querySelector('#upload-story').click()")
        speakers = page.js("[...document.querySelectorAll('.utt')].map(u => u.dataset.speaker)")
        assert speakers == ["Eileen", "Narrator", "Eileen", "Narrator", "Eileen"]

        # 3. Reassign the cat's line to Chelsea: saved into the story file as a tagged line.
        page.js("document.querySelectorAll('.utt')[1].click()")
        page.js("document.querySelector('#reassign-new').value = 'Chelsea'")
        page.reloaded_by("document.querySelector('#reassign-save').click()")
        assert page.js("document.querySelectorAll('.utt')[1].dataset.speaker") == "Chelsea"
        assert (workspace / "story.txt").read_text(encoding="utf-8").splitlines()[1].startswith("Chelsea|")
        page.shot("story")

        # 2, 4. The cast: upload Chelsea's portrait (the face found is drawn), then her audition plays.
        page.go("/cast")
        card = "document.querySelector('.card[data-name=\"Chelsea\"]')"
        page.wait(f"{card}.querySelector('.preview').naturalWidth > 0", 60, "Chelsea's face preview")
        old = page.js(f"{card}.querySelector('.preview').src")
        page.js(choose_file('.card[data-name="Chelsea"] .portrait-file', "cat.png", PORTRAIT.read_bytes()))
        page.js(f"{card}.querySelector('.upload-portrait').click()")
        page.wait(
            f"{card}.querySelector('.preview').src !== {json.dumps(old)}"
            f" && {card}.querySelector('.preview').naturalWidth > 0",
            60,
            "the new portrait's preview",
        )
        assert "portraits/Chelsea-" in (workspace / "speakers.yaml").read_text(encoding="utf-8")
        page.js(f"{card}.querySelector('.audition').click()")
        page.wait(f"{card}.querySelector('.audition-audio').dataset.played === 'yes'", 120, "the audition to play")
        page.shot("cast")

        # 5-6. Render at 256 px: progress moves; cancel (Ctrl-C) and resume from the cache.
        job = start_render(page, 256, 30000)  # big enough that the page sees its frames count up
        page.wait(
            f"Number(document.querySelector('.job[data-job=\"{job}\"]').dataset.done || 0) > 0"
            f" || document.querySelector('.job[data-job=\"{job}\"]').dataset.state !== 'running'",
            120,
            "progress",
        )
        # What the page showed before the cancel counts as movement too: on a loaded machine the resumed render,
        # its finished work from the cache, may end before the page polls it again.
        done_seen = [int(page.js(f"Number(document.querySelector('.job[data-job=\"{job}\"]').dataset.done || 0)"))]
        page.js(f"document.querySelector('.job[data-job=\"{job}\"] .cancel').click()")
        state = wait_state(page, job, ("interrupted", "done"), 60)
        if state == "interrupted":
            assert (
                json.loads((outputs / "studio-runs" / job / "temp" / "progress.jsonl").read_text().splitlines()[-1])[
                    "state"
                ]
                == "interrupted"
            )
            page.js(f"document.querySelector('.job[data-job=\"{job}\"] .resume').click()")
            wait_state(page, job, ("running", "done"), 30)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            box = f"document.querySelector('.job[data-job=\"{job}\"]')"
            done_seen.append(int(page.js(f"Number({box}.dataset.done || 0)")))
            if page.js(f"{box}.dataset.state") == "done":
                break
            time.sleep(0.1)
        assert page.js(f"document.querySelector('.job[data-job=\"{job}\"]').dataset.state") == "done"
        assert state == "interrupted", "the render ended before it could be cancelled"
        moved = sorted(set(done_seen))
        assert len(moved) >= 2, f"the progress did not move: {moved}"
        lags = page.js("window.__lags")
        assert lags and max(lags) < 1.0, f"progress lag: {lags}"
        print(f"first page {first_page:.2f} s; progress lag max {max(lags):.2f} s over {len(lags)} updates")

        # 7. The finished video plays.
        video = f"document.querySelector('.job[data-job=\"{job}\"] .video')"
        page.wait(f"{video}.src && !{video}.hidden", 30, "the video")
        played = page.js(
            f"(async () => {{ const v = {video}; v.muted = true; await v.play();"
            " await new Promise(r => setTimeout(r, 800)); return v.currentTime; })()"
        )
        assert played > 0.2
        page.shot("render")

        # 9. A second render at another cut_size, for the comparison.
        second = start_render(page, 96, 60000)
        wait_state(page, second, ("done", "failed", "interrupted"), 150)
        assert page.js(f"document.querySelector('.job[data-job=\"{second}\"]').dataset.state") == "done"

        # The Renders page lists both, newest first, with their figures; 8. open the first one's report.
        page.go("/renders")
        runs = page.js("[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.run)")
        assert runs[:2] == [f"studio-runs/{second}", f"studio-runs/{job}"]
        page.shot("renders")
        report = page.js(f"document.querySelector('tr[data-run=\"studio-runs/{job}\"] .open-report').href")
        page.go(report)
        assert page.js("document.querySelector('video') !== null")
        page.shot("report")

        # 9. Compare: the config diff names cut_size; the two videos side by side.
        page.go("/renders")
        page.js(
            "document.querySelectorAll('.pick').forEach((p, i) => { if (i < 2) { p.checked = true;"
            " p.dispatchEvent(new Event('change')); } })"
        )
        page.reloaded_by("document.querySelector('#compare').click()")
        diff = page.js("document.querySelector('#diff').innerText")
        assert "cut_size: 60000" in diff and "cut_size: 30000" in diff
        assert page.js("document.querySelectorAll('video.compare-video').length") == 2
        page.wait("[...document.querySelectorAll('video.compare-video')].every(v => v.readyState >= 1)", 30)
        page.shot("compare")

        problems = browser.errors() + failed_requests(browser)
        assert problems == [], "\n".join(problems)
    # The studio's render is the command line's: its .hydra/ holds the overrides that re-run it.
    overrides = (outputs / "studio-runs" / job / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")
    assert "speakers_file=" in overrides and "cut_size=30000" in overrides
    for folder in shots[1:]:
        assert (folder / "studio-compare.png").is_file()
    if shutil.which("true"):
        assert (shots[0] / "studio-story.png").is_file()
