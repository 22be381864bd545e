"""The studio's web app: four pages (Story, Cast, Render, Renders), their JSON endpoints, and the files.

Server-rendered HTML (Jinja2, autoescaped) with a little JavaScript (``static/studio.js``); every
state-changing request is a ``fetch`` with the page's CSRF token, checked by :class:`~.safety.Guard`.
Heavy work never runs at import: the face finder and the story parser are imported by the request that
needs them, and renders and auditions run as subprocesses, so the first page shows at once.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from deepstory.files import write_json
from deepstory.script.html import DOUBTFUL  # a quote rated below this is marked for review
from deepstory.studio.jobs import Jobs
from deepstory.studio.safety import Guard, Refused, check_overrides, inside
from deepstory.studio.workspace import CONF, ENGINES, NARRATOR, Workspace, from_book

HERE = Path(__file__).resolve().parent
#: Upload limits: size (bytes) and the suffixes each kind accepts (the content is checked too).
LIMITS = {"story": 2 << 20, "book": 30 << 20, "portrait": 8 << 20, "voice": 200 << 20, "voice_config": 1 << 20}
VOICE_UPLOAD = "/api/cast/voicefile"  # the one path whose body may be larger than MAX_BODY (a Piper voice)
STORY_SUFFIXES = (".txt", ".md")
PORTRAIT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_BODY = 32 << 20
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
LAYOUTS = ("single", "stage")


class Studio:
    """The app's state: the workspace, the outputs folder, the job registry, the templates."""

    def __init__(self, workspace: Path, outputs: Path, defaults: list[str] | None = None) -> None:
        self.outputs = Path(outputs).resolve()
        self.outputs.mkdir(parents=True, exist_ok=True)
        self.ws = Workspace(workspace)
        self.jobs = Jobs(self.ws, self.outputs, defaults)
        self.csrf = self.ws.secret()
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
        )

    @property
    def roots(self) -> list[Path]:
        return [self.ws.root, self.outputs]

    def page(self, name: str, request: Request, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(f"{name}.html").render(
            csrf=self.csrf, page=name, history=self.ws.history(), **values
        )
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    def url(self, path: Path) -> str:
        """The /files URL of a file in the workspace or outputs/."""
        path = Path(path).resolve()
        if path == self.ws.root or self.ws.root in path.parents:
            return f"/files/ws/{path.relative_to(self.ws.root).as_posix()}"
        return f"/files/out/{path.relative_to(self.outputs).as_posix()}"

    def colours(self, names: list[str]) -> dict[str, str]:
        return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; :class:`Refused` unless it says ``application/json`` and is an object."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused("expected Content-Type: application/json")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Refused("not JSON") from None
    if not isinstance(body, dict):
        raise Refused("expected a JSON object")
    return body


async def upload(request: Request, kind: str) -> tuple[bytes, str, dict[str, str]]:
    """The one uploaded file of a multipart form (content, lower-case suffix) and its other fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Refused("expected a multipart/form-data upload")
    form = await request.form(max_files=1, max_fields=8, max_part_size=LIMITS["book"])
    try:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise Refused("no file in the upload")
        data = await file.read(LIMITS[kind] + 1)
        suffix = Path(file.filename or "").suffix.lower()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    if len(data) > LIMITS[kind]:
        raise Refused(f"the file is larger than {LIMITS[kind] >> 20} MB")
    return data, suffix, fields


# -- pages ------------------------------------------------------------------------------------------------


async def upload_voice(request: Request) -> tuple[bytes, bytes]:
    """A Piper voice's two files from a multipart form: ``model`` (``.onnx``) and ``config`` (``.onnx.json``)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Refused("expected a multipart/form-data upload")
    form = await request.form(max_files=2, max_fields=4, max_part_size=LIMITS["voice_config"])
    try:
        parts = {}
        for field, suffix, limit in (("model", ".onnx", "voice"), ("config", ".onnx.json", "voice_config")):
            file = form.get(field)
            if file is None or isinstance(file, str):
                raise Refused(f"{field}: no file (a Piper voice is its .onnx and its .onnx.json)")
            if not (file.filename or "").lower().endswith(suffix) or (
                field == "model" and (file.filename or "").lower().endswith(".json")
            ):
                raise Refused(f"{field}: a {suffix} file")
            data = await file.read(LIMITS[limit] + 1)
            if len(data) > LIMITS[limit]:
                raise Refused(f"{field}: larger than {LIMITS[limit] >> 20} MB")
            parts[field] = data
    finally:
        await form.close()
    return parts["model"], parts["config"]


def story_page(studio: Studio, request: Request) -> HTMLResponse:
    lines = studio.ws.lines()
    cast = list(studio.ws.speakers())
    names = list(dict.fromkeys([*cast, *(line.speaker for line in lines)]))
    return studio.page(
        "story",
        request,
        lines=lines,
        names=names,
        colours=studio.colours(names),
        doubtful=DOUBTFUL,
        text=studio.ws.story_text(),
        chapters=_chapters(studio),
    )


def _chapters(studio: Studio) -> list[Any]:
    book = studio.ws.root / "source" / "book.epub"
    if not book.is_file():
        return []
    from deepstory.script.epub import chapters

    try:
        return chapters(book)
    except Exception:  # a damaged book: no chapters to pick
        return []


def cast_page(studio: Studio, request: Request) -> HTMLResponse:
    speakers = studio.ws.speakers()
    cards = []
    for name in [*studio.ws.characters(), *(n for n in speakers if n not in studio.ws.characters())]:
        entry = speakers.get(name, {})
        image = Path(str(entry.get("image", "")))
        cards.append(
            {
                "name": name,
                "image": studio.url(image) if _within(studio, image) else None,
                "bundled": not _within(studio, image),
                "voice": entry.get("voice") or {},
                "voice_id": studio.ws.voice_id((entry.get("voice") or {}).get("model")),
                "face": entry.get("face"),
                "contact": _cached_contact(studio, name),
            }
        )
    return studio.page(
        "cast",
        request,
        cards=cards,
        engines=ENGINES,
        voices=[{k: v for k, v in voice.items() if k != "path"} for voice in studio.ws.voices()],
        colours=studio.colours(list(speakers)),
        contact=_contact(studio),
    )


def _cached_contact(studio: Studio, name: str) -> str | None:
    try:
        sheet = contact_file(studio, name)
    except (OSError, KeyError):
        return None
    return studio.url(sheet) if sheet.is_file() else None


def _within(studio: Studio, path: Path) -> bool:
    try:
        path = path.resolve()
    except OSError:
        return False
    return path.is_file() and any(path == r or r in path.parents for r in studio.roots)


def _contact(studio: Studio) -> str | None:
    """The contact sheet of the newest finished studio render (how the animator draws each mouth shape)."""
    for job in studio.jobs.all():
        sheet = studio.jobs.run_dir(job) / "export" / "contact.png"
        if job.kind == "render" and sheet.is_file():
            return studio.url(sheet)
    return None


def render_page(studio: Studio, request: Request) -> HTMLResponse:
    jobs = [studio.jobs.status(j) for j in studio.jobs.all()[:10]]
    return studio.page("render", request, jobs=jobs, layouts=LAYOUTS, has_story=bool(studio.ws.lines()))


def runs(studio: Studio) -> list[dict[str, Any]]:
    """Every run dir under outputs/ (a folder with ``.hydra/``), newest first, with its headline figures."""
    found = []
    for hydra in studio.outputs.glob("**/.hydra"):
        run = hydra.parent
        if studio.ws.root in run.parents or len(run.relative_to(studio.outputs).parts) > 5:
            continue
        found.append((hydra.stat().st_mtime, run))
    out = []
    for mtime, run in sorted(found, key=lambda f: f[0], reverse=True)[:200]:
        rel = run.relative_to(studio.outputs).as_posix()
        out.append({"run": rel, "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime)), **headline(run)})
    return out


def headline(run: Path) -> dict[str, Any]:
    try:
        m = json.loads((run / "export" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"finished": False}
    video, lipsync = m.get("video", {}), m.get("lipsync") or {}
    return {
        "finished": True,
        "seconds": round(float(m.get("audio", {}).get("seconds", 0.0)), 1),
        "size": f"{video.get('width')}x{video.get('height')}",
        "frames": video.get("frames"),
        "render_seconds": round(float(m.get("stages", {}).get("total", {}).get("seconds", 0.0)), 1),
        "peak_mib": m.get("stages", {}).get("total", {}).get("peak_rss_mib"),
        "auc": lipsync.get("bilabial_vowel_auc"),
        "warnings": len(m.get("warnings") or []),
        "report": (run / "export" / "report.html").is_file(),
    }


def renders_page(studio: Studio, request: Request) -> HTMLResponse:
    sweeps = [
        {**studio.jobs.status(j), "swept": j.command[-1] if j.command else ""}
        for j in studio.jobs.all()
        if j.kind == "sweep"
    ]
    return studio.page("renders", request, runs=runs(studio), sweeps=sweeps, cast=list(studio.ws.speakers()))


def compare_page(studio: Studio, request: Request) -> Response:
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    try:
        run_a, run_b = _run(studio, a), _run(studio, b)
    except Refused as exc:
        return HTMLResponse(f"refused: {exc}", status_code=400)
    # Each run's own folder named alike, so that the diff shows what was changed, not where it went.
    config = [[line.replace(str(r), "<run dir>") for line in _config(r)] for r in (run_a, run_b)]
    diff = list(difflib.unified_diff(config[0], config[1], f"{a}/export/config.yaml", f"{b}/export/config.yaml", n=1))
    videos = [
        studio.url(r / "export" / "animated.mp4") if (r / "export" / "animated.mp4").is_file() else None
        for r in (run_a, run_b)
    ]
    return studio.page("compare", request, a=a, b=b, diff=diff, videos=videos, heads=[headline(run_a), headline(run_b)])


def _run(studio: Studio, rel: str) -> Path:
    run = inside([studio.outputs], rel)
    if not (run / ".hydra").is_dir():
        raise Refused(f"not a run dir: {rel[:80]!r}")
    return run


def _config(run: Path) -> list[str]:
    for path in (run / "export" / "config.yaml", run / ".hydra" / "config.yaml"):
        if path.is_file():
            return path.read_text(encoding="utf-8").splitlines(keepends=True)
    return []


# -- the story ------------------------------------------------------------------------------------------


def save_text(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("text")
    if not isinstance(text, str) or len(text.encode()) > LIMITS["story"]:
        raise Refused("text: a string of at most 2 MB")
    return _take_story(studio, text, Path("pasted.txt"))


def _take_story(studio: Studio, text: str, name: Path) -> dict[str, Any]:
    """Tagged text as it is; a book's prose attributed (who says each quote), then saved as tagged lines."""
    from deepstory.script import attribute, looks_like_prose

    if looks_like_prose(text):
        script = attribute(text)
        tagged, notes = from_book(script)
        studio.ws.save_story(tagged, notes)
        return {"lines": len(notes), "prose": True, "warnings": list(script.warnings)[:5]}
    studio.ws.save_story(text)
    return {"lines": len(studio.ws.lines()), "prose": False}


def upload_story(studio: Studio, data: bytes, suffix: str) -> dict[str, Any]:
    if suffix == ".epub":
        if not zipfile.is_zipfile(_bytes_file(data)):
            raise Refused("not an EPUB (a zip file)")
        book = studio.ws.root / "source" / "book.epub"
        from deepstory.files import write_bytes

        write_bytes(book, data)
        listing = _chapters(studio)
        if not listing:
            book.unlink()
            raise Refused("no chapters found in the EPUB")
        return {"chapters": [{"number": c.number, "title": c.title} for c in listing]}
    if suffix not in STORY_SUFFIXES:
        raise Refused("a story is a .txt, .md or .epub file")
    if len(data) > LIMITS["story"]:
        raise Refused("a story text file is at most 2 MB")
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise Refused("the story file is not UTF-8 text") from None
    if "\x00" in text:
        raise Refused("the story file is not text")
    return _take_story(studio, text, Path(f"upload{suffix}"))


def _bytes_file(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def pick_chapter(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    chapter = body.get("chapter")
    if not isinstance(chapter, int) or chapter < 1:
        raise Refused("chapter: a chapter number")
    book = studio.ws.root / "source" / "book.epub"
    if not book.is_file():
        raise Refused("upload an EPUB first")
    from deepstory.script.source import load

    source = load(book, chapter=chapter, format="prose", narrator=NARRATOR)
    tagged, notes = from_book(source.script)
    studio.ws.save_story(tagged, notes)
    return {"lines": len(notes), "title": source.title, "prose": True}


# -- the cast --------------------------------------------------------------------------------------------


def character(studio: Studio, value: Any) -> str:
    name = str(value or "")
    if name not in studio.ws.speakers():
        raise Refused("no such character in the cast")
    return name


def take_portrait(studio: Studio, name: str, data: bytes, suffix: str) -> dict[str, Any]:
    if suffix not in PORTRAIT_SUFFIXES:
        raise Refused("a portrait is a .png, .jpg or .webp image")
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("PNG", "JPEG", "WEBP"):
                raise Refused("a portrait is a PNG, JPEG or WebP image")
            if probe.width * probe.height > 40_000_000:
                raise Refused("the image is too large (40 megapixels at most)")
            probe.load()
            image = probe.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise Refused("not an image") from None
    target = studio.ws.new_file("portraits", name, ".png")
    image.save(target, "PNG")
    studio.ws.set_portrait(name, target)
    return face_preview(studio, name)


def face_preview(studio: Studio, name: str) -> dict[str, Any]:
    """The portrait with the face the renderer finds (or the clicked values) drawn on it, and the face."""
    from deepstory.face import examine, preview

    entry = studio.ws.speakers()[name]
    image = Path(str(entry["image"]))
    face = dict(entry.get("face") or {})
    key = hashlib.sha256(json.dumps([str(image), face, entry.get("crop")], sort_keys=True).encode()).hexdigest()[:16]
    out = studio.ws.root / "previews" / f"{key}.png"
    about = out.with_suffix(".json")
    if not (out.is_file() and about.is_file()):  # found once per image and face: the finder takes a second
        result = examine(image, face, name)
        drawn, _ = preview(result)
        drawn.save(out, "PNG")
        values = {k: _plain(v) for k, v in result.values.items() if k != "mesh"}
        write_json(about, {"found": result.found, "face": values})
    known = json.loads(about.read_text(encoding="utf-8"))
    return {"preview": studio.url(out), "image": studio.url(image), **known}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 1)
    return value


def clicked_face(body: dict[str, Any]) -> dict[str, Any]:
    """The ``face:`` block from three clicks on the image (left eye, right eye, mouth), in image pixels."""
    try:
        eyes = [[float(v) for v in p] for p in body["eyes"]]
        mouth = [float(v) for v in body["mouth"]]
    except (KeyError, TypeError, ValueError):
        raise Refused("face: eyes [[x, y], [x, y]] and mouth [x, y]") from None
    if len(eyes) != 2 or any(len(p) != 2 for p in eyes) or len(mouth) != 2:
        raise Refused("face: two eyes and one mouth, each [x, y]")
    if any(not 0 <= v <= 20000 for v in [*eyes[0], *eyes[1], *mouth]):
        raise Refused("face: points inside the image")
    (lx, ly), (rx, ry) = sorted(eyes)
    span = max(4.0, ((rx - lx) ** 2 + (ry - ly) ** 2) ** 0.5)
    cx = (lx + rx + mouth[0]) / 3
    top, bottom = min(ly, ry) - span * 0.9, mouth[1] + span * 0.8
    box = [round(cx - span * 1.1), round(top), round(cx + span * 1.1), round(bottom)]
    return {
        "box": [max(0, v) for v in box],
        "eyes": [[round(lx), round(ly)], [round(rx), round(ry)]],
        "eye_width": max(2, round(span * 0.45)),
        "mouth": [round(mouth[0]), round(mouth[1])],
        "mouth_width": max(4, round(span * 0.8)),
        "mesh": False,
    }


#: A contact sheet's tiles (pixels), and the version of how it is drawn (in its key).
CONTACT_SIZE = 128
CONTACT_VERSION = "studio-contact-1"


def contact_file(studio: Studio, name: str) -> Path:
    """Where the character's contact sheet is kept: named by the hash of what draws it (the portrait's bytes, its
    face, crop and drawn mouths, the animator's config, the tile size), so a changed portrait or face draws anew."""
    entry = {k: v for k, v in studio.ws.speakers()[name].items() if k != "voice"}
    image = Path(str(entry.get("image", "")))
    pixels = hashlib.sha256(image.read_bytes()).hexdigest() if image.is_file() else ""
    config = [(p.name, p.read_text(encoding="utf-8")) for p in sorted((CONF / "models" / "animator").glob("*.yaml"))]
    key = json.dumps([CONTACT_VERSION, entry, pixels, config, CONTACT_SIZE], sort_keys=True, default=str)
    return studio.ws.root / "contacts" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.png"


async def contact(studio: Studio, name: str) -> dict[str, Any]:
    """The character's mouth shapes as the animator draws them, drawn by a subprocess once per portrait and face."""
    out = contact_file(studio, name)
    if not out.is_file():
        command = [
            sys.executable, "-m", "deepstory.studio.contact", str(studio.ws.speakers_file), name, str(out),
            str(CONTACT_SIZE),
        ]  # fmt: skip
        await _child(command, "contact sheet")
        if not out.is_file():
            raise Refused("the contact sheet was not drawn")
    return {"sheet": studio.url(out)}


async def _child(command: list[str], what: str, timeout: float = 180) -> None:
    """Runs ``command`` (a ``python -m`` of the studio's); :class:`Refused` with its last line if it fails."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except asyncio.TimeoutError:
        proc.kill()
        raise Refused(f"the {what} took too long") from None
    if proc.returncode != 0:
        lines = output.decode(errors="replace").strip().splitlines()
        raise Refused(f"{what} failed: {lines[-1] if lines else proc.returncode}")


async def audition(studio: Studio, name: str) -> dict[str, Any]:
    """One line in the character's voice, synthesized by a subprocess (the speech engines stay out of here)."""
    out = studio.ws.root / "auditions" / f"{abs(hash((name, time.time()))) % 10**10}"
    command = [sys.executable, "-m", "deepstory.studio.audition", str(studio.ws.speakers_file), name, str(out)]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    except asyncio.TimeoutError:
        proc.kill()
        raise Refused("the audition took too long") from None
    wavs = sorted(out.glob("*.wav"))
    if proc.returncode != 0 or not wavs:
        lines = output.decode(errors="replace").strip().splitlines()
        raise Refused(f"audition failed: {lines[-1] if lines else proc.returncode}")
    return {"audio": studio.url(wavs[0])}


# -- renders ---------------------------------------------------------------------------------------------


def render_overrides(body: dict[str, Any]) -> list[str]:
    """The overrides of the Render page's form: size, layout, cut_size and any extra ``key=value``."""
    out = []
    for key in ("width", "height"):
        value = body.get(key)
        if value not in (None, ""):
            number = int(value)
            if not 32 <= number <= 4096 or number % 2:
                raise Refused(f"{key}: an even number of pixels, 32 to 4096")
            out.append(f"video.{key}={number}")
    layout = body.get("layout") or "single"
    if layout not in LAYOUTS:
        raise Refused(f"layout: one of {', '.join(LAYOUTS)}")
    out.append(f"layout={layout}")
    if body.get("cut_size") not in (None, ""):
        out.append(f"cut_size={int(body['cut_size'])}")
    extra = body.get("overrides") or []
    if isinstance(extra, str):
        extra = extra.split()
    if not isinstance(extra, list):
        raise Refused("overrides: a list of key=value")
    return out + check_overrides(extra)


def rerender(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    """A render of a studio run's own inputs and overrides, with a change."""
    run = _run(studio, str(body.get("run", "")))
    inputs = run / "studio"
    if not (inputs / "story.txt").is_file():
        raise Refused("only the studio's own renders can be re-rendered here (their inputs are kept)")
    previous = _overrides(run)
    given = body.get("overrides")
    change = check_overrides([str(o) for o in given] if isinstance(given, list) else [])
    if not change:
        raise Refused("overrides: at least one key=value to change")
    keys = {c.split("=", 1)[0] for c in change}
    keep = [o for o in previous if o.split("=", 1)[0] not in keys]
    job = studio.jobs.start_render(keep + change, inputs=inputs)
    return studio.jobs.status(job)


def _overrides(run: Path) -> list[str]:
    """The run's overrides other than its inputs and run dir (the studio's form and changes)."""
    import yaml

    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    items = [str(o) for o in yaml.safe_load(path.read_text(encoding="utf-8")) or []]
    skip = ("story.text_path=", "story.format=", "speakers_file=", "hydra.")
    try:
        return check_overrides(o for o in items if not o.startswith(skip))
    except Refused:
        return []


# -- the routes -----------------------------------------------------------------------------------------


def guarded(studio: Studio, handler: Any) -> Any:
    """``handler(studio, request)`` as an endpoint: a refused value is a 400 with its one-line reason."""

    async def endpoint(request: Request) -> Response:
        try:
            result = handler(studio, request)
            if asyncio.iscoroutine(result):
                result = await result
        except Refused as exc:
            return error(str(exc))
        except (ValueError, KeyError) as exc:  # a value a form sent that a check below refused
            return error(f"refused: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001  (a user error of the engine: one line, like the CLI)
            from deepstory.errors import DeepstoryError

            if isinstance(exc, DeepstoryError):
                return error(str(exc).splitlines()[0])
            raise
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


async def post_text(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    with studio.ws.undoable("save the story"):
        return save_text(studio, body)


async def post_upload(studio: Studio, request: Request) -> Any:
    data, suffix, _ = await upload(request, "book")
    with studio.ws.undoable("upload the story"):
        return upload_story(studio, data, suffix)


async def post_chapter(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    with studio.ws.undoable("read a chapter"):
        return pick_chapter(studio, body)


async def post_line(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    index = body.get("index")
    if not isinstance(index, int):
        raise Refused("index: a line number")
    with studio.ws.undoable(f"reassign line {index + 1}"):
        studio.ws.reassign(index, str(body.get("speaker", "")))
        studio.ws.ensure_cast()
    return {"ok": True, **studio.ws.history()}


async def post_undo(studio: Studio, request: Request) -> Any:
    await json_body(request)
    return {"undone": studio.ws.undo(), **studio.ws.history()}


async def post_redo(studio: Studio, request: Request) -> Any:
    await json_body(request)
    return {"redone": studio.ws.redo(), **studio.ws.history()}


async def post_portrait(studio: Studio, request: Request) -> Any:
    data, suffix, fields = await upload(request, "portrait")
    name = character(studio, fields.get("name"))
    with studio.ws.undoable(f"upload {name}'s portrait"):
        return take_portrait(studio, name, data, suffix)


async def get_face(studio: Studio, request: Request) -> Any:
    return face_preview(studio, character(studio, request.query_params.get("name")))


async def post_face(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    name = character(studio, body.get("name"))
    with studio.ws.undoable(f"place {name}'s face"):
        studio.ws.set_face(name, clicked_face(body))
    return face_preview(studio, name)


async def post_voice(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    name = character(studio, body.get("name"))
    voice = body.get("voice")
    if not isinstance(voice, dict):
        raise Refused("voice: an object")
    with studio.ws.undoable(f"set {name}'s voice"):
        studio.ws.set_voice(name, voice)
    return {"voice": studio.ws.speakers()[name]["voice"]}


async def post_contact(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    return await contact(studio, character(studio, body.get("name")))


async def post_voicefile(studio: Studio, request: Request) -> Any:
    model, config = await upload_voice(request)
    voice = studio.ws.add_voice(model, config)
    return {k: v for k, v in voice.items() if k != "path"}


async def post_audition(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    return await audition(studio, character(studio, body.get("name")))


async def post_render(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    if not studio.ws.lines():
        raise Refused("write or upload a story first")
    studio.ws.ensure_cast()
    return studio.jobs.status(studio.jobs.start_render(render_overrides(body)))


#: What a sweep may vary: cut_size (samples, whole numbers) or a character's voice setting, with its range.
SWEEPS: dict[str, tuple[float, float]] = {
    "cut_size": (1000, 10_000_000),
    "pitch": (-24.0, 24.0),
    "formant": (0.5, 2.0),
    "rate": (0.25, 4.0),
}
#: A character whose name can be a Hydra key (``speakers.<Name>.voice.pitch``).
HYDRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def sweep_override(studio: Studio, body: dict[str, Any]) -> str:
    """The sweep's one ``key=v1,v2,...`` override: cut_size, or ``speakers.<Name>.voice.<setting>``."""
    setting = str(body.get("setting") or "cut_size")
    if setting not in SWEEPS:
        raise Refused(f"setting: one of {', '.join(SWEEPS)}")
    given = body.get("values", body.get("cut_size", ""))
    raw = [v for v in str(given).replace(" ", "").split(",") if v]
    low, high = SWEEPS[setting]
    try:
        values = [int(v) if setting == "cut_size" else float(v) for v in raw]
    except ValueError:
        raise Refused(f"{setting}: numbers, separated by commas") from None
    if not 2 <= len(values) <= 6 or len(set(values)) != len(values):
        raise Refused(
            f"{setting}: two to six different values, such as " + ("30000,60000" if setting == "cut_size" else "-2,0,2")
        )
    if any(not (low <= v <= high) for v in values):
        raise Refused(f"{setting}: each value from {low:g} to {high:g}")
    text = ",".join(str(v) if setting == "cut_size" else f"{v:g}" for v in values)
    if setting == "cut_size":
        return f"cut_size={text}"
    name = character(studio, body.get("character"))
    if not HYDRA_NAME.match(name):
        raise Refused(f"a sweep over a voice needs a character named in one word (not {name[:40]!r})")
    return check_overrides([f"speakers.{name}.voice.{setting}={text}"])[0]


async def post_sweep(studio: Studio, request: Request) -> Any:
    body = await json_body(request)
    if not studio.ws.lines():
        raise Refused("write or upload a story first")
    studio.ws.ensure_cast()
    swept = sweep_override(studio, body)
    keep = ("width", "height", "layout", "overrides")
    base = render_overrides({k: v for k, v in body.items() if k in keep})
    job = studio.jobs.start_render(base, sweep=[swept])
    return studio.jobs.status(job)


async def post_rerender(studio: Studio, request: Request) -> Any:
    return rerender(studio, await json_body(request))


def job_of(studio: Studio, request: Request) -> Any:
    job = studio.jobs.get(request.path_params["job"])
    if job is None:
        raise Refused("no such job")
    return job


async def get_job(studio: Studio, request: Request) -> Any:
    return studio.jobs.status(job_of(studio, request))


async def get_jobs(studio: Studio, request: Request) -> Any:
    return {"jobs": [studio.jobs.status(j) for j in studio.jobs.all()[:20]]}


async def post_cancel(studio: Studio, request: Request) -> Any:
    await json_body(request)
    return {"cancelled": studio.jobs.cancel(job_of(studio, request))}


async def post_resume(studio: Studio, request: Request) -> Any:
    await json_body(request)
    return studio.jobs.status(studio.jobs.resume(job_of(studio, request)))


async def get_file(studio: Studio, request: Request) -> Response:
    root = {"ws": studio.ws.root, "out": studio.outputs}.get(request.path_params["root"])
    try:
        if root is None:
            raise Refused("no such folder")
        path = inside([root], request.path_params["path"])
    except Refused:
        return Response("not found", status_code=404)
    if not path.is_file() or path.name in (".csrf",):
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})


def bound(studio: Studio, handler: Any) -> Any:
    """``handler(studio, request)`` as an endpoint, as it is."""

    async def endpoint(request: Request) -> Response:
        return await handler(studio, request)

    return endpoint


def page(studio: Studio, render: Any) -> Any:
    """A page of ``render(studio, request)``."""

    async def endpoint(request: Request) -> Response:
        return render(studio, request)

    return endpoint


async def favicon(request: Request) -> Response:
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


async def home(request: Request) -> Response:
    return RedirectResponse("/story", status_code=303)


def build_app(
    workspace: Path,
    outputs: Path,
    *,
    hosts: set[str],
    token: str | None = None,
    defaults: list[str] | None = None,
) -> Starlette:
    """The studio's ASGI app.  ``hosts``: the Host headers it answers; ``token``: required of every request
    (where it listens beyond loopback); ``defaults``: overrides every render gets."""
    studio = Studio(workspace, outputs, defaults)

    routes = [
        Route("/", home),
        Route("/favicon.ico", favicon),  # pages that name none (a render's report) ask for it
        Route("/story", page(studio, story_page)),
        Route("/cast", page(studio, cast_page)),
        Route("/render", page(studio, render_page)),
        Route("/renders", page(studio, renders_page)),
        Route("/compare", page(studio, compare_page)),
        Route("/api/story/text", guarded(studio, post_text), methods=["POST"]),
        Route("/api/story/upload", guarded(studio, post_upload), methods=["POST"]),
        Route("/api/story/chapter", guarded(studio, post_chapter), methods=["POST"]),
        Route("/api/story/line", guarded(studio, post_line), methods=["POST"]),
        Route("/api/undo", guarded(studio, post_undo), methods=["POST"]),
        Route("/api/redo", guarded(studio, post_redo), methods=["POST"]),
        Route("/api/cast/portrait", guarded(studio, post_portrait), methods=["POST"]),
        Route("/api/cast/face", guarded(studio, get_face), methods=["GET"]),
        Route("/api/cast/face", guarded(studio, post_face), methods=["POST"]),
        Route("/api/cast/voice", guarded(studio, post_voice), methods=["POST"]),
        Route("/api/cast/audition", guarded(studio, post_audition), methods=["POST"]),
        Route("/api/cast/contact", guarded(studio, post_contact), methods=["POST"]),
        Route(VOICE_UPLOAD, guarded(studio, post_voicefile), methods=["POST"]),
        Route("/api/render", guarded(studio, post_render), methods=["POST"]),
        Route("/api/sweep", guarded(studio, post_sweep), methods=["POST"]),
        Route("/api/rerender", guarded(studio, post_rerender), methods=["POST"]),
        Route("/api/jobs", guarded(studio, get_jobs), methods=["GET"]),
        Route("/api/jobs/{job}", guarded(studio, get_job), methods=["GET"]),
        Route("/api/jobs/{job}/cancel", guarded(studio, post_cancel), methods=["POST"]),
        Route("/api/jobs/{job}/resume", guarded(studio, post_resume), methods=["POST"]),
        Route("/files/{root}/{path:path}", bound(studio, get_file), methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    limits = {VOICE_UPLOAD: LIMITS["voice"] + LIMITS["voice_config"] + (1 << 20)}
    middleware = [Middleware(Guard, csrf=studio.csrf, hosts=hosts, token=token, max_body=MAX_BODY, limits=limits)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.studio = studio
    return app
