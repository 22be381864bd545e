"""The studio's edits: undo and redo of every change to the story and the cast, sweeps over a voice setting,
and the Render page's stage rows in pipeline order."""

from __future__ import annotations

import io
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from deepstory.studio.app import build_app
from deepstory.studio.jobs import PIPELINE, pipeline_place

STORY = "Eileen: Hello Chelsea! I am home.\nThe cat looked up.\nChelsea: Welcome back.\n"


@pytest.fixture()
def studio(tmp_path):
    outputs = tmp_path / "outputs"
    app = build_app(outputs / "studio", outputs, hosts={"testserver"})
    client = TestClient(app)
    client.headers.update({"X-CSRF-Token": app.state.studio.csrf, "Origin": "http://testserver"})
    assert client.post("/api/story/text", json={"text": STORY}).status_code == 200
    return client, app.state.studio


def png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_reassignment_is_undone_and_redone(studio):
    client, s = studio
    assert s.ws.history()["undo"] == "save the story"
    answer = client.post("/api/story/line", json={"index": 1, "speaker": "Chelsea"})
    assert answer.status_code == 200 and answer.json()["undo"] == "reassign line 2"
    assert "Chelsea|The cat looked up." in s.ws.story_text()
    assert "Undo: reassign line 2" in client.get("/story").text
    undone = client.post("/api/undo", json={})
    assert undone.status_code == 200 and undone.json()["undone"] == "reassign line 2", undone.text
    assert s.ws.story_text() == STORY  # the line is back
    assert s.ws.history() == {"undo": "save the story", "redo": "reassign line 2"}
    assert client.post("/api/redo", json={}).json()["redone"] == "reassign line 2"
    assert "Chelsea|The cat looked up." in s.ws.story_text()
    # A new change drops the redo steps, as in any editor.
    client.post("/api/undo", json={})
    client.post("/api/story/line", json={"index": 0, "speaker": "Chelsea"})
    assert s.ws.history()["redo"] is None
    assert client.post("/api/redo", json={}).status_code == 400


def test_a_portrait_upload_and_a_face_are_undone(studio):
    client, s = studio
    before = s.ws.speakers()["Eileen"]["image"]
    for colour in ((200, 10, 10), (10, 200, 10)):
        answer = client.post("/api/cast/portrait", data={"name": "Eileen"}, files={"file": ("x.png", png(colour))})
        assert answer.status_code == 200, answer.text
    second = s.ws.speakers()["Eileen"]["image"]
    client.post("/api/cast/face", json={"name": "Eileen", "eyes": [[14, 16], [32, 16]], "mouth": [23, 34]})
    assert s.ws.speakers()["Eileen"]["face"]["mesh"] is False
    assert client.post("/api/undo", json={}).json()["undone"] == "place Eileen's face"
    assert "face" not in s.ws.speakers()["Eileen"] and s.ws.speakers()["Eileen"]["image"] == second
    assert client.post("/api/undo", json={}).json()["undone"] == "upload Eileen's portrait"
    first = s.ws.speakers()["Eileen"]["image"]
    assert first not in (before, second)  # the previous portrait: the first upload
    from PIL import Image

    assert Image.open(first).getpixel((1, 1)) == (200, 10, 10)
    client.post("/api/undo", json={})
    assert s.ws.speakers()["Eileen"]["image"] == before
    assert "Undo" in client.get("/cast").text


def test_a_voice_saved_unchanged_keeps_no_step_and_history_is_on_disk(studio, tmp_path):
    client, s = studio
    steps = s.ws.history()
    client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"pitch": 2}})
    assert s.ws.history()["undo"] == "set Eileen's voice"
    client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"pitch": 2}})  # as it is: no new step
    client.post("/api/undo", json={})
    assert s.ws.history() == {"undo": steps["undo"], "redo": "set Eileen's voice"}
    history = tmp_path / "outputs" / "studio" / "history"
    assert sorted(p.name for p in (history / "redo").iterdir()) == [
        "1-attribution.json",
        "1-speakers.yaml",
        "1-story.txt",
        "1.json",
    ]
    # A restarted server has the same history.
    again = build_app(tmp_path / "outputs" / "studio", tmp_path / "outputs", hosts={"testserver"})
    assert again.state.studio.ws.history() == s.ws.history()


def test_undo_needs_csrf_and_json(studio):
    client, s = studio
    assert client.post("/api/undo", json={}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/undo", json={}, headers={"X-CSRF-Token": "x"}).status_code == 403
    assert client.post("/api/undo", content="{}", headers={"Content-Type": "text/plain"}).status_code == 400
    assert s.ws.story_text() == STORY


def test_a_sweep_over_a_voice_setting_is_checked(studio, monkeypatch):
    client, s = studio
    started = []
    monkeypatch.setattr(s.jobs, "start_render", lambda base, sweep=None, inputs=None: started.append(sweep) or _job())
    monkeypatch.setattr(s.jobs, "status", lambda job: {"id": "x"})
    ok = client.post("/api/sweep", json={"setting": "pitch", "character": "Eileen", "values": "-2, 0,2.5"})
    assert ok.status_code == 200, ok.text
    assert started[-1] == ["speakers.Eileen.voice.pitch=-2,0,2.5"]
    assert client.post("/api/sweep", json={"cut_size": "30000,60000"}).status_code == 200
    assert started[-1] == ["cut_size=30000,60000"]
    bad = [
        {"setting": "pitch", "character": "Eileen", "values": "1"},  # one value
        {"setting": "pitch", "character": "Eileen", "values": "1,1"},
        {"setting": "pitch", "character": "Eileen", "values": "1,x"},
        {"setting": "pitch", "character": "Eileen", "values": "1,${oc.env:HOME}"},
        {"setting": "pitch", "character": "Eileen", "values": "1,99"},
        {"setting": "rate", "character": "Eileen", "values": "1,nan"},
        {"setting": "formant", "character": "Eileen", "values": "1,inf"},
        {"setting": "model", "character": "Eileen", "values": "1,2"},
        {"setting": "pitch", "character": "../Eileen", "values": "1,2"},
        {"setting": "pitch", "character": "Nobody", "values": "1,2"},
        {"setting": "cut_size", "values": "30000,1.5"},
        {"setting": "cut_size", "values": "1,2"},
    ]
    for body in bad:
        assert client.post("/api/sweep", json=body).status_code == 400, body
    assert len(started) == 2
    page = client.get("/renders").text
    assert 'value="pitch"' in page and "<option>Eileen</option>" in page


def _job():
    from deepstory.studio.jobs import Job

    return Job("x", "sweep", "studio-runs/x", ["python"])


def test_stage_rows_follow_the_pipeline(tmp_path):
    import json

    from deepstory.kernel.progress import RENDER
    from deepstory.studio.jobs import Job, Jobs
    from deepstory.studio.workspace import Workspace

    bars = [
        "Measuring lip sync",
        "Animating frames",
        "Composing",
        "Speaking sentences",
        "Motion tracks",
        "Cutting chunks",
    ]
    run = tmp_path / "out" / "r"
    (run / "temp").mkdir(parents=True)
    events = [{"stage": name, "done": 1, "total": 2, "state": "running", "time": 1.0} for name in [RENDER, *bars]]
    (run / "temp" / "progress.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    jobs = Jobs(Workspace(tmp_path / "ws"), tmp_path / "out")
    rows = [s["stage"] for s in jobs.status(Job("r", "render", "r", ["python"]))["stages"]]
    assert rows == [
        "Speaking sentences",
        "Cutting chunks",
        "Motion tracks",
        "Animating frames",
        "Composing",
        "Measuring lip sync",
    ]
    assert [name for name, _ in PIPELINE] == [
        "story",
        "speech",
        "chunk",
        "motion",
        "animate",
        "compose",
        "contact",
        "lipsync",
        "report",
    ]
    assert pipeline_place("Something new") == len(PIPELINE)


@pytest.mark.slow
def test_each_character_has_a_contact_sheet_before_any_render(studio):
    client, s = studio
    answer = client.post("/api/cast/contact", json={"name": "Eileen"})
    assert answer.status_code == 200, answer.text
    url = answer.json()["sheet"]
    sheet = s.ws.root / url.removeprefix("/files/ws/")
    assert sheet.is_file() and sheet.parent == s.ws.root / "contacts"
    assert client.get(url).headers["content-type"] == "image/png"
    import numpy as np
    from PIL import Image

    from deepstory.contact.stage import LABEL, ORDER

    pixels = np.asarray(Image.open(sheet).convert("RGB"), dtype=np.int16)
    assert pixels.shape == (128 + LABEL, 128 * len(ORDER), 3)
    tiles = [pixels[:128, c * 128 : (c + 1) * 128] for c in range(len(ORDER))]
    for i in range(len(tiles)):
        for j in range(i + 1, len(tiles)):
            assert np.abs(tiles[i] - tiles[j]).max() > 8, (ORDER[i], ORDER[j])  # nine mouth shapes, each its own
    # Drawn once per portrait and face: asked again, the same file at once; shown on the card after a reload.
    stamp = sheet.stat().st_mtime_ns
    assert client.post("/api/cast/contact", json={"name": "Eileen"}).json()["sheet"] == url
    assert sheet.stat().st_mtime_ns == stamp and url in client.get("/cast").text
    # A new face is a new sheet.
    client.post("/api/cast/face", json={"name": "Eileen", "eyes": [[200, 100], [250, 100]], "mouth": [225, 150]})
    assert client.post("/api/cast/contact", json={"name": "Eileen"}).json()["sheet"] != url
    for bad in ("../Eileen", "/etc/passwd", "Nobody", ""):
        assert client.post("/api/cast/contact", json={"name": bad}).status_code == 400
    assert (
        client.post("/api/cast/contact", content="name=Eileen", headers={"Content-Type": "text/plain"}).status_code
        == 400
    )


def voice_files(speakers: dict[str, int] | None = None) -> tuple[bytes, bytes]:
    """A Piper voice's two files as the studio checks them (the model's bytes begin as an ONNX model's)."""
    import json

    config = {
        "audio": {"sample_rate": 16000, "quality": "medium"},
        "language": {"code": "en_US"},
        "dataset": "tiny",
        "num_speakers": len(speakers or {}) or 1,
        "speaker_id_map": speakers or {},
        "phoneme_id_map": {"a": [1]},
    }
    return b"\x08\x07" + b"\x00" * 64, json.dumps(config).encode()


def test_a_voice_file_is_uploaded_listed_and_chosen_by_its_id(studio):
    client, s = studio
    model, config = voice_files({"alice": 0, "bob": 1})
    files = {"model": ("../../../evil.onnx", model), "config": ("../../../evil.onnx.json", config)}
    answer = client.post("/api/cast/voicefile", files=files)
    assert answer.status_code == 200, answer.text
    voice = answer.json()
    assert voice["id"].startswith("en_US-tiny-medium-") and voice["id"].endswith(".onnx") and "evil" not in voice["id"]
    assert voice["speakers"] == ["alice", "bob"] and "path" not in voice
    folder = s.ws.root / "voices"
    assert sorted(p.name for p in folder.iterdir()) == [voice["id"], voice["id"] + ".json"]
    assert not list(s.ws.root.parent.parent.rglob("evil*"))
    page = client.get("/cast").text
    assert f'value="{voice["id"]}"' in page and "the bundled voice" in page and '["alice", "bob"]' in page
    chosen = client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"model": voice["id"], "speaker": "bob"}})
    assert chosen.status_code == 200, chosen.text
    entry = s.ws.speakers()["Eileen"]["voice"]
    assert entry["model"] == str(folder / voice["id"]) and entry["speaker"] == "bob" and entry["engine"] == "piper"
    assert s.ws.voice_id(entry["model"]) == voice["id"]
    # Back to the bundled voice; a model set by hand is kept as it is ("keep").
    client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"model": ""}})
    assert s.ws.speakers()["Eileen"]["voice"]["model"] is None
    speakers = s.ws.speakers()
    speakers["Eileen"]["voice"]["model"] = "/somewhere/mine.onnx"
    s.ws.save_speakers(speakers)
    assert "as set in speakers.yaml" in client.get("/cast").text
    assert (
        client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"model": "keep", "pitch": 1}}).status_code
        == 200
    )
    assert s.ws.speakers()["Eileen"]["voice"]["model"] == "/somewhere/mine.onnx"


def test_hostile_voice_requests_are_refused(studio, monkeypatch):
    client, s = studio
    model, config = voice_files()
    ok = client.post("/api/cast/voicefile", files={"model": ("v.onnx", model), "config": ("v.onnx.json", config)})
    known = ok.json()["id"]
    before = s.ws.speakers()["Eileen"]["voice"]
    for bad in (
        "../" + known,
        "/etc/passwd",
        str(s.ws.root / "voices" / known),
        "voices/" + known,
        "~/x.onnx",
        3,
        ["x"],
    ):
        answer = client.post("/api/cast/voice", json={"name": "Eileen", "voice": {"model": bad}})
        assert answer.status_code == 400, bad
    assert s.ws.speakers()["Eileen"]["voice"] == before
    folder = sorted((s.ws.root / "voices").iterdir())
    cases = [
        {"model": ("v.exe", model), "config": ("v.onnx.json", config)},  # wrong suffixes
        {"model": ("v.onnx", model), "config": ("v.json.exe", config)},
        {"model": ("v.onnx.json", config), "config": ("v.onnx.json", config)},
        {"model": ("v.onnx", b"MZ not onnx"), "config": ("v.onnx.json", config)},  # wrong contents
        {"model": ("v.onnx", model), "config": ("v.onnx.json", b"\xff\xfe not json")},
        {"model": ("v.onnx", model), "config": ("v.onnx.json", b'{"audio": {}}')},
        {"model": ("v.onnx", model)},  # one file
    ]
    for files in cases:
        assert client.post("/api/cast/voicefile", files=files).status_code == 400, files
    assert sorted((s.ws.root / "voices").iterdir()) == folder  # nothing left of a refused upload
    assert client.post("/api/cast/voicefile", json={"model": "/etc/passwd"}).status_code == 400  # not multipart
    from deepstory.studio import app as studio_app

    monkeypatch.setitem(studio_app.LIMITS, "voice", 1000)
    big = {"model": ("v.onnx", model + b"\x00" * 2000), "config": ("v.onnx.json", config)}
    assert client.post("/api/cast/voicefile", files=big).status_code == 400
    huge = client.post(
        "/api/cast/voicefile",
        content=b"x",
        headers={"Content-Length": str(300 << 20), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert huge.status_code == 413
    # The larger limit is the voice upload's alone: any other request stays under 32 MB.
    other = client.post(
        "/api/story/text", content=b"x", headers={"Content-Length": str(40 << 20), "Content-Type": "application/json"}
    )
    assert other.status_code == 413
    files = {"model": ("v.onnx", model), "config": ("v.onnx.json", config)}
    assert client.post("/api/cast/voicefile", files=files, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/cast/voicefile", files=files, headers={"X-CSRF-Token": "no"}).status_code == 403
    assert sorted((s.ws.root / "voices").iterdir()) == folder
