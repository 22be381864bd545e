"""The studio's job registry: a restarted server finds its renders again; cancel is Ctrl-C; sweeps; imports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

import pytest

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from deepstory.studio.app import build_app

from conftest import ROOT, TINY_STORY

WEB = ("starlette", "uvicorn", "multipart", "python_multipart", "jinja2", "httpx")


def test_the_render_imports_no_web_package_and_the_server_no_torch():
    probe = (
        "import sys, deepstory.run.render, deepstory.run.cli;"
        f"print([m for m in sys.modules if m.split('.')[0] in {WEB!r}])"
    )
    assert (
        subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True).stdout.strip() == "[]"
    )
    probe = "import sys, deepstory.studio.app, deepstory.studio.__main__; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        == "False"
    )


def client_for(tmp_path):
    app = build_app(
        tmp_path / "outputs" / "studio",
        tmp_path / "outputs",
        hosts={"testserver"},
        defaults=[f"cache_dir={tmp_path / 'cache'}"],
    )
    client = TestClient(app)
    client.headers.update({"X-CSRF-Token": app.state.studio.csrf, "Origin": "http://testserver"})
    return client


@pytest.mark.slow
def test_a_restarted_studio_finds_its_render_and_cancels_it(tmp_path):
    first = client_for(tmp_path)
    assert first.post("/api/story/text", json={"text": TINY_STORY * 3}).status_code == 200
    job = first.post("/api/render", json={"width": 64, "height": 64}).json()
    assert job["state"] == "running" and "hydra.run.dir=" in job["command"]
    # A new server on the same workspace (a restart): the render is found, still running, and can be cancelled.
    again = client_for(tmp_path)
    listed = again.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["state"] == "running"
    time.sleep(2)
    assert again.post(f"/api/jobs/{job['id']}/cancel", json={}).json() == {"cancelled": True}
    deadline = time.monotonic() + 60
    while again.get(f"/api/jobs/{job['id']}").json()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    status = again.get(f"/api/jobs/{job['id']}").json()
    assert status["state"] == "interrupted", status
    events = (tmp_path / "outputs" / job["run"] / "temp" / "progress.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["state"] == "interrupted"


@pytest.mark.slow
def test_a_sweep_over_cut_size_ends_in_its_report(tmp_path):
    client = client_for(tmp_path)
    assert client.post("/api/story/text", json={"text": TINY_STORY}).status_code == 200
    assert client.post("/api/sweep", json={"cut_size": "1,2"}).status_code == 400
    job = client.post("/api/sweep", json={"cut_size": "30000,60000", "width": 64, "height": 64}).json()
    assert job["kind"] == "sweep" and " -m " in job["command"]
    deadline = time.monotonic() + 240
    while client.get(f"/api/jobs/{job['id']}").json()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    status = client.get(f"/api/jobs/{job['id']}").json()
    assert status["state"] == "done" and status["report"].endswith("/report.html"), status
    assert client.get(status["report"]).status_code == 200
    assert "sweep report" in client.get("/renders").text


def test_three_clicks_become_the_face_block(tmp_path):
    client = client_for(tmp_path)
    assert client.post("/api/story/text", json={"text": TINY_STORY}).status_code == 200
    clicks = {"name": "Eileen", "eyes": [[246.6, 104.4], [203.3, 101.8]], "mouth": [222.2, 150.1]}
    answer = client.post("/api/cast/face", json=clicks)
    assert answer.status_code == 200, answer.text
    import yaml

    face = yaml.safe_load((tmp_path / "outputs" / "studio" / "speakers.yaml").read_text())["Eileen"]["face"]
    assert face["eyes"] == [[203, 102], [247, 104]] and face["mouth"] == [222, 150] and face["mesh"] is False
    assert face["mouth_width"] > 0 and len(face["box"]) == 4
    assert answer.json()["face"]["eyes"] == [[203, 102], [247, 104]]  # the preview shows the clicked face
    assert client.get(answer.json()["preview"]).headers["content-type"] == "image/png"
    for bad in ({"name": "Eileen", "eyes": [[1, 2]], "mouth": [3, 4]}, {"name": "Eileen", "eyes": "x"}):
        assert client.post("/api/cast/face", json=bad).status_code == 400


def test_prose_is_attributed_and_doubtful_quotes_are_marked(tmp_path):
    client = client_for(tmp_path)
    prose = (
        "The rain had not stopped for three days.\n\n"
        '"We should leave before dark," said Martha, pulling on her coat.\n\n'
        '"Leave?" Tom looked up from the fire. "And go where?"\n\n'
        '"Anywhere."\n'
    )
    answer = client.post("/api/story/text", json={"text": prose})
    assert answer.status_code == 200 and answer.json()["prose"] is True, answer.text
    story = (tmp_path / "outputs" / "studio" / "story.txt").read_text()
    assert "Martha|We should leave before dark" in story.replace('"', "")
    page = client.get("/story").text
    assert 'data-speaker="Martha"' in page and 'data-speaker="Narrator"' in page
    notes = json.loads((tmp_path / "outputs" / "studio" / "attribution.json").read_text())
    doubtful = [n for n in notes if n and n["confidence"] < 0.6]
    assert page.count("utt doubtful") == len(doubtful)


def test_an_epub_upload_offers_its_chapters_and_reads_the_one_chosen(tmp_path):
    from epub_builder import write_epub

    book = [
        ("Chapter I. The Owl", ["Once upon a time there was an owl."]),
        ("Chapter II. The Cat", ["“Hello,” said the cat."]),
    ]
    data = write_epub(tmp_path / "book.epub", book).read_bytes()
    client = client_for(tmp_path)
    answer = client.post("/api/story/upload", files={"file": ("my book.epub", data)})
    assert answer.status_code == 200, answer.text
    chapters = answer.json()["chapters"]
    assert [c["title"] for c in chapters] == ["Chapter I. The Owl", "Chapter II. The Cat"]
    assert "Chapter II. The Cat" in client.get("/story").text  # the picker, after a reload too
    answer = client.post("/api/story/chapter", json={"chapter": chapters[1]["number"]})
    assert answer.status_code == 200, answer.text
    story = (tmp_path / "outputs" / "studio" / "story.txt").read_text()
    assert "Hello" in story and "owl" not in story
    assert client.post("/api/story/chapter", json={"chapter": "../1"}).status_code == 400
