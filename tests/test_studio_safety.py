"""The studio refuses hostile requests: paths out of its folders, foreign origins, missing CSRF tokens, wrong
content types, oversized bodies, uploads that are not what they say, and hosts or tokens it does not know."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from deepstory.studio.app import build_app
from deepstory.studio.safety import Refused, check_overrides, inside

ROOT = Path(__file__).resolve().parent.parent
STORY = "Eileen: Hello Chelsea! I am home.\nThe cat looked up.\nEileen: Goodnight!\n"
HOSTILE = [
    "../secret.txt",
    "../../etc/passwd",
    "/etc/passwd",
    "..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "studio/../../secret.txt",
    "..\\secret.txt",
    "~/secret.txt",
    "a/./b",
    "link/secret.txt",
    "x\x00y",
]


@pytest.fixture()
def studio(tmp_path):
    (tmp_path / "secret.txt").write_text("do not read", encoding="utf-8")
    outputs = tmp_path / "outputs"
    app = build_app(outputs / "studio", outputs, hosts={"testserver"})
    (outputs / "link").symlink_to(tmp_path)  # a symlink out of outputs/
    client = TestClient(app)
    client.headers.update({"X-CSRF-Token": app.state.studio.csrf, "Origin": "http://testserver"})
    assert client.post("/api/story/text", json={"text": STORY}).status_code == 200
    return client, app.state.studio, tmp_path


def test_paths_never_leave_the_workspace_or_outputs(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    for bad in HOSTILE:
        with pytest.raises(Refused):
            inside([tmp_path / "out"], bad)
    (tmp_path / "out" / "ok.txt").write_text("fine")
    assert inside([tmp_path / "out"], "ok.txt") == (tmp_path / "out" / "ok.txt").resolve()


@pytest.mark.parametrize("bad", HOSTILE + ["..%252F..%252Fsecret.txt"])
def test_no_request_reads_outside(studio, bad):
    client, _, _ = studio
    quoted = quote(bad, safe="/")  # as a browser sends it: %, NUL and backslash percent-encoded
    for url in (f"/files/out/{quoted}", f"/files/ws/{quoted}", f"/files/etc/{quoted}"):
        response = client.get(url)
        assert response.status_code in (400, 404) and "do not read" not in response.text, url
    # Every query parameter that names a run or a character.
    assert "do not read" not in client.get("/compare", params={"a": bad, "b": bad}).text
    assert client.get("/compare", params={"a": bad, "b": bad}).status_code == 400
    assert client.get("/api/cast/face", params={"name": bad}).status_code == 400
    assert client.get(f"/api/jobs/{quoted}").status_code in (400, 404)
    assert client.post("/api/rerender", json={"run": bad, "overrides": ["cut_size=1000"]}).status_code == 400
    assert client.post("/api/cast/voice", json={"name": bad, "voice": {"pitch": 1}}).status_code == 400
    assert client.post("/api/story/line", json={"index": 0, "speaker": bad}).status_code == 400


def test_the_raw_path_may_not_hide_slashes_or_dots(studio):
    client, _, _ = studio
    for raw in ("/files/out/..%2F..%2Fsecret.txt", "/files/out/%2e%2e/secret.txt", "/files/ws/a%5Cb", "/story%00"):
        assert client.get(raw).status_code in (400, 404)


def test_overrides_cannot_name_files_or_hydra():
    assert check_overrides(["cut_size=30000", "video.width=64", "speakers.Eileen.voice.pitch=3"]) == [
        "cut_size=30000",
        "video.width=64",
        "speakers.Eileen.voice.pitch=3",
    ]
    for bad in (
        "hydra.run.dir=/tmp/x",
        "story.text_path=/etc/passwd",
        "cache_dir=/",
        "speakers_file=../x.yaml",
        "speakers.Eileen.image=/etc/passwd",
        "speakers.Eileen.voice.model=/x.onnx",
        "cut_size=${oc.env:HOME}",
        "+extra=1",
        "~stages.report",
        "cut_size=../1",
        "video.width=64;rm",
    ):
        with pytest.raises(Refused):
            check_overrides([bad])


def test_state_changing_requests_need_same_origin_and_csrf(studio):
    client, ws_studio, _ = studio
    body = {"text": "Eileen: changed\n"}
    csrf = ws_studio.csrf
    cases = [
        {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},  # a foreign origin
        {"X-CSRF-Token": csrf, "Origin": "null"},
        {"X-CSRF-Token": csrf, "Origin": "", "Referer": "http://evil.example/page"},
        {"X-CSRF-Token": "wrong", "Origin": "http://testserver"},  # a wrong token
        {"X-CSRF-Token": "", "Origin": "http://testserver"},  # none
    ]
    for headers in cases:
        response = client.post("/api/story/text", json=body, headers=headers)
        assert response.status_code == 403, headers
    no_origin = TestClient(client.app)
    assert no_origin.post("/api/story/text", json=body, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert ws_studio.ws.story_text() == STORY  # nothing changed


def test_json_endpoints_check_the_content_type(studio):
    client, ws_studio, _ = studio
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = client.post("/api/story/text", content=json.dumps({"text": "x"}), headers={"Content-Type": kind})
        assert response.status_code == 400 and "application/json" in response.json()["error"], kind
    response = client.post("/api/story/text", content="[1, 2]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert ws_studio.ws.story_text() == STORY


def test_uploads_are_limited_in_size_and_type(studio):
    client, ws_studio, _ = studio
    big = b"Eileen: hi\n" * ((3 << 20) // 11)  # 3 MB: over the 2 MB of a story text file
    assert client.post("/api/story/upload", files={"file": ("big.txt", big)}).status_code in (400, 413)
    huge = b"x" * (33 << 20)
    assert client.post("/api/story/upload", files={"file": ("huge.txt", huge)}).status_code == 413
    assert client.post("/api/story/upload", files={"file": ("story.exe", b"MZ")}).status_code == 400
    assert client.post("/api/story/upload", files={"file": ("story.txt", b"\xff\xfe\x00bad")}).status_code == 400
    assert client.post("/api/story/upload", files={"file": ("book.epub", b"not a zip")}).status_code == 400
    name = next(iter(ws_studio.ws.speakers()))
    fake = {"file": ("face.png", b"<svg onload=alert(1)>")}
    assert client.post("/api/cast/portrait", data={"name": name}, files=fake).status_code == 400
    svg = {"file": ("face.svg", b"<svg/>")}
    assert client.post("/api/cast/portrait", data={"name": name}, files=svg).status_code == 400
    assert ws_studio.ws.story_text() == STORY


def test_an_upload_is_stored_under_a_name_the_server_makes(studio):
    client, ws_studio, tmp_path = studio
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 180, 160)).save(buffer, "PNG")
    name = next(iter(ws_studio.ws.speakers()))
    files = {"file": ("../../../../evil.png", buffer.getvalue())}
    response = client.post("/api/cast/portrait", data={"name": name}, files=files)
    assert response.status_code == 200, response.text
    image = Path(ws_studio.ws.speakers()[name]["image"])
    assert image.parent == ws_studio.ws.root / "portraits" and "evil" not in image.name
    assert not (tmp_path / "evil.png").exists() and not list(tmp_path.rglob("evil*"))


def test_unknown_hosts_are_refused(studio):
    client, _, _ = studio
    assert client.get("/story", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding


def test_beyond_loopback_every_request_needs_the_token(tmp_path):
    app = build_app(tmp_path / "ws", tmp_path / "out", hosts={"testserver"}, token="s3cret")
    client = TestClient(app)
    assert client.get("/story").status_code == 403
    assert client.get("/static/studio.js").status_code == 403
    assert client.get("/story", headers={"X-Studio-Token": "wrong"}).status_code == 403
    first = client.get("/story?token=s3cret", follow_redirects=False)
    assert first.status_code == 303 and "studio_token=s3cret" in first.headers["set-cookie"]
    assert client.get("/story").status_code == 200  # the cookie now carries it
    other = TestClient(app)
    assert other.get("/story", headers={"X-Studio-Token": "s3cret"}).status_code == 200


def test_the_server_binds_loopback_and_prints_a_token_elsewhere(tmp_path):
    """``--host`` other than loopback: a token is printed and required; the first page shows in under 2 s."""
    command = [sys.executable, "-m", "deepstory.studio", "--no-browser", "--port", "0", "--outputs", str(tmp_path)]
    for host, wants_token in (("127.0.0.1", False), ("0.0.0.0", True)):
        started = time.perf_counter()
        proc = subprocess.Popen([*command, "--host", host], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert ("?token=" in line) == wants_token, line
            url = line.split()[-1]
            import urllib.request

            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            target = url.replace("0.0.0.0", "127.0.0.1") if not wants_token else None
            if target:
                with opener.open(target.rstrip("/") + "/story", timeout=10) as page:
                    assert page.status == 200
                assert time.perf_counter() - started < 2.0 * 3  # generous here; measured in the browser test
        finally:
            proc.terminate()
            proc.wait(timeout=10)
