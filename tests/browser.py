"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no Python package needed.

Chromium reads protocol messages (JSON, each ended by a NUL byte) from file
descriptor 3 and writes its answers and events to descriptor 4.  This module
starts the system ``chromium``, attaches to its page, and offers what the report
tests need: navigate, evaluate (awaiting promises), click at a point, take a
screenshot, and every console error, uncaught exception and failed load the page
logged.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """The system Chromium (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, exe: str, width: int = 1200, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="deepstory-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def descriptors() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes back
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self.profile) / "stderr.log", "wb"),  # noqa: SIM115  (closed with the process)
            pass_fds=(3, 4),
            preexec_fn=descriptors,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._answers: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = self._attach()
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    # -- the protocol -------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = os.read(self._from_chrome, 1 << 16)
            except OSError:
                break
            if not data:
                break
            buffer += data
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        answer = self._answers.get(message["id"])
                    if answer is not None:
                        answer.put(message)
                else:
                    self.events.append(message)
        for answer in list(self._answers.values()):
            answer.put({"error": {"message": "chromium closed the pipe"}})

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0, session: bool = True) -> dict:
        """One command; its result, or a ``RuntimeError`` with the protocol's error."""
        with self._lock:
            self._next += 1
            ident = self._next
            self._answers[ident] = answer = queue.Queue()
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session and getattr(self, "session", None):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        try:
            reply = answer.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"chromium did not answer {method} in {timeout} s") from None
        finally:
            with self._lock:
                self._answers.pop(ident, None)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _attach(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pages = [t for t in self.send("Target.getTargets", session=False)["targetInfos"] if t["type"] == "page"]
            if pages:
                return self.send(
                    "Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True}, session=False
                )["sessionId"]
            time.sleep(0.1)
        raise RuntimeError("chromium opened no page")

    def wait_event(self, method: str, after: int = 0, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events[after:]:
                if event.get("method") == method:
                    return event
            time.sleep(0.02)
        raise TimeoutError(f"no {method} within {timeout} s")

    # -- what the tests use ----------------------------------------------------------------------
    def open(self, path: Path, timeout: float = 30.0) -> None:
        """Load a local file and wait for its load event."""
        mark = len(self.events)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_event("Page.loadEventFired", mark, timeout)

    def evaluate(self, expression: str, timeout: float = 60.0) -> Any:
        """The value of ``expression`` in the page (a promise is awaited); a page exception raises."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "timeout": timeout * 1000},
            timeout=timeout + 5,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"page: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A real mouse click (press and release) at page coordinates."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, dest: Path, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={**size, "x": 0, "y": 0, "scale": 1})
        Path(dest).write_bytes(base64.b64decode(self.send("Page.captureScreenshot", params)["data"]))

    def errors(self) -> list[str]:
        """Console errors and assertions, uncaught exceptions, and errors the browser logged (failed loads)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append("exception: " + str(details.get("exception", {}).get("description") or details["text"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                found.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}".strip())
        return found

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", session=False, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
