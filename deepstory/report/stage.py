"""``export/report.html``: one page that shows a render: the video, the cast, the timeline, lip sync, cost, provenance.

The page is self-contained (its CSS, script, plots and thumbnails are inline;
nothing comes from the network) and opens from the file system.  It links the
files beside it (``animated.mp4``, ``contact.png``, ``manifest.json``) rather than
embedding them, so it stays small: tens of kilobytes for a chapter.

The subtitles are the run's ``animated.vtt``, carried inline as the ``<track>``'s
``data:`` URI: a browser refuses a ``<track>`` file next to a page opened from
``file://`` ("'file:' URLs are treated as unique security origins"), while the
video itself plays from there.

It is a *reporting* stage (:attr:`~deepstory.kernel.stage.Stage.reports`): it runs
after ``export/manifest.json`` is written, and shows what the manifest holds.
It reads only files: any section whose files a pipeline did not write is left
out.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from PIL import Image, ImageDraw

from deepstory.files import read_json, write_text
from deepstory.kernel.stage import Stage
from deepstory.report.files import Inputs, ReportFiles
from deepstory.report.html import (
    PALETTE,
    Raw,
    cards,
    clock,
    details,
    esc,
    image_uri,
    legend,
    nice_ticks,
    page,
    table,
)
from deepstory.report.lipsync import lipsync_section
from deepstory.scene import SceneContext
from deepstory.story import Sentence
from deepstory.threads import describe_cores
from deepstory.timeline import Chunk, Segment

SCRIPT = r"""
(function () {
  const video = document.getElementById('player');
  function seek(t) { if (video && isFinite(t)) { video.currentTime = t; } }
  document.querySelectorAll('[data-start]').forEach(function (el) {
    el.addEventListener('click', function () { seek(parseFloat(el.dataset.start)); });
  });
  document.querySelectorAll('svg[data-t0]').forEach(function (svg) {
    svg.addEventListener('click', function (e) {
      const p = svg.createSVGPoint(); p.x = e.clientX; p.y = e.clientY;
      const at = p.matrixTransform(svg.getScreenCTM().inverse());
      const x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, t0 = +svg.dataset.t0, t1 = +svg.dataset.t1;
      if (at.x >= x0 && at.x <= x1) { seek(t0 + (at.x - x0) / (x1 - x0) * (t1 - t0)); }
    });
  });
  if (!video) { return; }
  const heads = Array.from(document.querySelectorAll('.playhead'));
  const now = document.getElementById('now');
  const lines = JSON.parse(document.getElementById('lines').textContent);
  function show() {
    const t = video.currentTime;
    heads.forEach(function (h) {
      const x0 = +h.dataset.x0, x1 = +h.dataset.x1, t0 = +h.dataset.t0, t1 = +h.dataset.t1;
      const x = x0 + Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) * (x1 - x0);
      h.setAttribute('x1', x); h.setAttribute('x2', x);
      h.style.display = (t < t0 || t > t1) ? 'none' : '';
    });
    if (now) {
      let line = null;
      for (const l of lines) { if (l[0] <= t) { line = l; } else { break; } }
      now.textContent = line ? line[1] + ' \u2014 chunk ' + line[2] + ': ' + line[3] : '';
    }
  }
  video.addEventListener('timeupdate', show);
  video.addEventListener('seeked', show);
  show();
})();
"""


class ReportStage(Stage[SceneContext]):
    """Writes ``export/report.html`` after the manifest.

    ``window``: seconds of the story in the lip-sync plot, from ``window_start`` (null: just before the
    first speech); ``thumbnail``: pixels of the cast's portraits.
    """

    reports = True

    def __init__(
        self, window: float = 12.0, window_start: float | None = None, thumbnail: int = 160, enabled: bool = True
    ) -> None:
        super().__init__(enabled)
        self.window = float(window)
        self.window_start = None if window_start is None else float(window_start)
        self.thumbnail = int(thumbnail)

    def run(self, ctx: SceneContext) -> None:
        write_text(ReportFiles(ctx.run).report, render_page(ctx, self.window, self.window_start, self.thumbnail))


# -- what the page reads ----------------------------------------------------------------------------------
class Run:
    """What a run dir holds, as far as its stages wrote it."""

    def __init__(self, ctx: SceneContext) -> None:
        self.files = files = Inputs.of(ctx.run)
        self.ctx = ctx
        self.manifest: dict[str, Any] = read_json(files.manifest) if files.manifest.is_file() else {}
        self.sentences: list[Sentence] = files.sentences() if files.story.is_file() else []
        self.segments: list[Segment] = files.segments() if files.timeline.is_file() else []
        self.chunks: list[Chunk] = files.chunks() if files.chunks_file.is_file() else []
        self.rate = ctx.media.sample_rate
        self.seconds = self.segments[-1].end / self.rate if self.segments else 0.0
        spoken = list(dict.fromkeys(s.speaker for s in self.sentences))
        self.speakers = spoken or ctx.cast.names
        self.colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(self.speakers)}
        self.has_video = files.video.is_file()

    def swatch(self, speaker: str) -> Raw:
        return Raw(f'<span class="swatch" style="background:{self.colour.get(speaker, "#999")}"></span>{esc(speaker)}')


def render_page(ctx: SceneContext, window: float, window_start: float | None, thumbnail: int) -> str:
    run = Run(ctx)
    title = Path(str(run.manifest.get("inputs", {}).get("story", {}).get("path", "story"))).stem
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">Deepstory render · config {esc(ctx.config_hash)} · {esc(ctx.run.root)}</p>',
        headline(run),
        video_section(run),
        cast_section(run, thumbnail),
        timeline_section(run),
        lipsync_section(run, window, window_start),
        cost_section(run),
        provenance_section(run),
    ]
    return page(f"{title} · Deepstory report", "\n".join(b for b in body if b), SCRIPT)


def _cache_counts(manifest: dict[str, Any]) -> tuple[int, int]:
    stages = manifest.get("stages", {}).values()
    return sum(s.get("hits", 0) for s in stages), sum(s.get("hits", 0) + s.get("misses", 0) for s in stages)


def headline(run: Run) -> str:
    m = run.manifest
    total = m.get("stages", {}).get("total", {})
    seconds = total.get("seconds", 0.0)
    video = m.get("video", {})
    hits, outputs = _cache_counts(m)
    items: list[tuple[str, Any] | tuple[str, Any, bool]] = [
        ("story", clock(run.seconds)),
        ("speakers", len(run.speakers)),
        ("sentences", len(run.sentences)),
        ("chunks", len(run.chunks)),
    ]
    if video:
        items.append(("video", f"{video.get('width')}x{video.get('height')} · {video.get('frames')} frames"))
    cores = m.get("cores")
    items.append(("render time", f"{seconds:.1f} s" + (f" · {describe_cores(cores)}" if cores else "")))
    if run.seconds:
        items.append(("real-time factor", f"{seconds / run.seconds:.2f}"))
    if "peak_rss_mib" in total:
        items.append(("peak memory", f"{total['peak_rss_mib']:.0f} MiB"))
    if outputs:
        items.append(("cache hits", f"{hits}/{outputs}"))
    sync = m.get("lipsync")
    if sync:
        missed, worst = sync.get("missed_goals", []), sync.get("worst_speaker", {})

        def of(key: str) -> str:
            return f" (worst: {worst[key]})" if key in worst else ""

        if "bilabials_shut" in sync:
            items.append(
                (
                    f"P/B/M shut{of('bilabials_shut')}",
                    f"{100 * sync['bilabials_shut']:.0f}%",
                    "bilabials_shut" in missed,
                )
            )
        if "bilabial_vowel_auc" in sync:
            items.append(
                (
                    f"P/B/M vs vowels AUC{of('bilabial_vowel_auc')}",
                    f"{sync['bilabial_vowel_auc']:.2f}",
                    "bilabial_vowel_auc" in missed,
                )
            )
        items.append((f"lip sync r{of('pearson')}", f"{sync['pearson']:.2f}", "pearson" in missed))
    warnings = m.get("warnings", [])
    items.append(("warnings", len(warnings), bool(warnings)))
    return cards(items)


# -- the video ---------------------------------------------------------------------------------------------
def video_section(run: Run) -> str:
    files = run.files
    if not run.has_video:
        return '<h2>Video</h2><p class="muted">No video: the pipeline wrote no export/animated.mp4.</p>'
    track = ""
    if files.web_subtitles.is_file():
        vtt = base64.b64encode(files.web_subtitles.read_bytes()).decode("ascii")
        track = f'<track kind="subtitles" srclang="en" label="Subtitles" default src="data:text/vtt;base64,{vtt}">'
    links = " · ".join(
        f'<a href="{esc(p.name)}">{esc(p.name)}</a>'
        for p in (files.video, files.web_subtitles, files.subtitles, files.audio, files.manifest, files.lipsync)
        if p.is_file()
    )
    lines = [
        [round(seg.start / run.rate, 3), s.character or s.speaker, _chunk_of(run, seg.sentence), s.text]
        for seg in run.segments
        for s in [run.sentences[seg.sentence]]
    ]
    data = json.dumps(lines, ensure_ascii=False).replace("</", "<\\/")
    return (
        "<h2>Video</h2>"
        '<div class="player">'
        f'<video id="player" controls preload="auto" src="{esc(files.video.name)}">{track}</video>'
        f'<div><p class="now" id="now"></p><p class="muted">Files: {links}</p>'
        '<p class="muted">Click a chunk in the timeline, a line below it or a point of the lip-sync plot to go there.</p>'
        "</div></div>"
        f'<script type="application/json" id="lines">{data}</script>'
    )


# -- the cast ----------------------------------------------------------------------------------------------
def landmarks(image: Image.Image, face: Any) -> Image.Image:
    """The portrait with its face box, eyes and mouth drawn on it (what the animator moves)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = face.box
    line = max(1, round(image.width / 160))
    draw.rectangle((x0, y0, x1, y1), outline=(255, 210, 0), width=line)
    half = face.eye_width / 2
    lid = face.lid_height / 2
    for ex, ey in face.eyes:
        draw.ellipse((ex - half, ey - lid, ex + half, ey + lid), outline=(0, 200, 255), width=line)
    mx, my = face.mouth
    draw.line((mx - face.mouth_width / 2, my, mx + face.mouth_width / 2, my), fill=(255, 40, 90), width=line + 1)
    return image


def _voice(run: Run, speaker: str) -> list[tuple[str, Any]]:
    """The engine and voice that spoke ``speaker`` (``temp/voices.json``, from the speech stage), then its settings."""
    spoke = read_json(run.files.voices) if run.files.voices.is_file() else {}
    if speaker in spoke:
        voice = dict(spoke[speaker])
        rows: list[tuple[str, Any]] = [("voice", voice.pop("voice"))]
        options = voice.pop("options", {}) or {}
    else:  # speech not run: the configured voice
        node = run.ctx.cast.config[speaker].get("voice") or {}
        configured = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
        assert isinstance(configured, dict)
        voice = {str(k): v for k, v in configured.items()}
        rows, options = [("engine", voice.pop("engine", None) or "models.tts")], {}
    rows += [(str(k), v) for k, v in {**voice, **options}.items() if k != "engine" and v is not None]
    return rows


def cast_section(run: Run, size: int) -> str:
    ctx, files = run.ctx, run.files
    people = []
    for speaker in run.speakers:
        segs = [seg for seg in run.segments if seg.speaker == speaker]
        thumbs = []
        for i in range(min(4, len(ctx.cast.images(speaker)))):
            portrait = ctx.cast.portrait(speaker, (size, size), i)
            shown = landmarks(Image.fromarray(portrait.image), portrait.face)
            thumbs.append(f'<img src="{image_uri(shown)}" width="{size}" height="{size}" alt="{esc(speaker)}">')
        rows = _voice(run, speaker)
        rows.append(("lines", f"{len(segs)} sentences, {sum(s.speech for s in segs) / run.rate:.1f} s of speech"))
        audition = ""
        if segs and files.speech(segs[0].sentence).is_file():
            first = run.sentences[segs[0].sentence].text
            audition = (
                f'<p class="muted">First line: “{esc(first[:80])}”</p>'
                f'<audio controls preload="none" src="../temp/speech/{files.speech(segs[0].sentence).name}"></audio>'
            )
        people.append(
            f'<div class="who"><h3>{run.swatch(speaker)}</h3>{"".join(thumbs)}'
            + table(["voice", ""], rows)
            + audition
            + "</div>"
        )
    contact = ""
    if (files.export / "contact.png").is_file():
        contact = details(
            "Every mouth shape, as the animator draws it (contact.png)",
            '<p><img src="contact.png" alt="contact sheet" style="max-width:100%"></p>',
        )
    key = (
        '<p class="muted">Drawn on each portrait: the face box (yellow), the eyes (blue) and the line between the '
        "lips (red): where the animator moves the face.</p>"
    )
    return f'<h2>Cast</h2>{key}<div class="cast">{"".join(people)}</div>{contact}'


# -- the timeline ------------------------------------------------------------------------------------------
def timeline_section(run: Run) -> str:
    if not run.chunks or not run.seconds:
        return ""
    width, left, right = 1100, 10, 10
    w = width - left - right
    total = run.seconds
    x = lambda seconds: left + seconds / total * w
    rows = [f'<svg id="timeline" viewBox="0 0 {width} 92" width="{width}" height="92" role="img">']
    for c in run.chunks:
        a, b = c.start / run.rate, c.end / run.rate
        tip = (
            f"chunk {c.index} · {c.speaker} · sentences {c.sentences[0]}–{c.sentences[-1]} · "
            f"{clock(a)}–{clock(b)} · frames {c.first_frame}–{c.first_frame + c.frames - 1}"
        )
        rows.append(
            f'<rect class="chunk" data-chunk="{c.index}" data-start="{a:.3f}" x="{x(a):.2f}" y="22" '
            f'width="{max(1.0, x(b) - x(a) - 0.6):.2f}" height="30" fill="{run.colour.get(c.speaker, "#999")}">'
            f"<title>{esc(tip)}</title></rect>"
        )
    cuts = 0
    for before, c in zip(run.chunks, run.chunks[1:]):
        if before.speaker == c.speaker:  # the same speaker goes on: cut_size cut here
            cuts += 1
            cx = x(c.start / run.rate)
            rows.append(
                f'<line x1="{cx:.2f}" x2="{cx:.2f}" y1="14" y2="56" stroke="#111" stroke-width="1.5" '
                f'stroke-dasharray="3 2"><title>cut_size cut a long stretch of {esc(c.speaker)} here</title></line>'
                f'<text x="{cx:.2f}" y="12" text-anchor="middle">✂</text>'
            )
    for seg in run.segments:
        sx = x(seg.speech_start / run.rate)
        rows.append(f'<line x1="{sx:.2f}" x2="{sx:.2f}" y1="54" y2="62" stroke="#555"/>')
    for t in nice_ticks(0, total, 10):
        anchor = "start" if x(t) < left + 20 else "end" if x(t) > left + w - 20 else "middle"
        rows.append(f'<text x="{x(t):.1f}" y="78" text-anchor="{anchor}">{esc(clock(t))}</text>')
    rows.append(
        f'<line class="playhead" data-x0="{left}" data-x1="{left + w}" data-t0="0" data-t1="{total:.3f}" '
        f'x1="{left}" x2="{left}" y1="16" y2="64" stroke="#d00" stroke-width="2" pointer-events="none"/>'
    )
    rows.append(legend([(s, run.colour[s]) for s in run.speakers], left, 90 - 2))
    rows.append("</svg>")
    cut_size = read_json(run.files.chunks_file).get("cut_size")
    note = (
        f'<p class="muted">One bar per chunk, coloured by speaker; ticks below mark where each sentence\'s speech '
        f"starts; ✂ marks where cut_size ({esc(cut_size)} samples, {esc(round(cut_size / run.rate, 1)) if cut_size else '-'} s) "
        f"cut a long stretch of one speaker ({cuts} cuts).</p>"
    )
    lines = table(
        ["#", "time", "speaker", "chunk", "line"],
        [
            (seg.sentence, clock(seg.start / run.rate), run.swatch(seg.speaker), _chunk_of(run, seg.sentence), s.text)
            for seg in run.segments
            for s in [run.sentences[seg.sentence]]
        ],
        numeric=(0, 3),
        attrs=lambda i: f' data-start="{run.segments[i].start / run.rate:.3f}"',
    )
    return "<h2>Timeline</h2>" + "".join(rows) + note + details(f"Every line ({len(run.segments)})", lines)


def _chunk_of(run: Run, sentence: int) -> Any:
    return next((c.index for c in run.chunks if sentence in c.sentences), "")


# -- cost, and provenance ----------------------------------------------------------------------------------
def cost_section(run: Run) -> str:
    m = run.manifest
    stages = m.get("stages", {})
    if not stages:
        return ""
    longest = max((s.get("seconds", 0.0) for n, s in stages.items() if n != "total"), default=0.0) or 1.0
    rows = []
    for name, stat in stages.items():
        seconds = stat.get("seconds", 0.0)
        done = stat.get("hits", 0) + stat.get("misses", 0)
        bar = (
            Raw(
                f'<svg width="160" height="10"><rect width="{160 * seconds / longest:.1f}" height="10" fill="#4e79a7"/></svg>'
            )
            if name != "total"
            else ""
        )
        rows.append(
            (
                name,
                f"{seconds:.2f}" if "seconds" in stat else "",
                bar,
                f"{stat['peak_rss_mib']:.0f}" if "peak_rss_mib" in stat else "",
                f"{stat.get('hits', 0)}/{done}" if done else "",
                ", ".join(
                    f"{k}={v}" for k, v in stat.items() if k not in ("seconds", "peak_rss_mib", "hits", "misses")
                ),
            )
        )
    total = stages.get("total", {}).get("seconds", 0.0)
    out = [
        "<h2>Time and memory</h2>",
        table(["stage", "seconds", "", "peak MiB", "cache hits", "other"], rows, numeric=(1, 3, 4)),
        '<p class="muted">Peak memory: this process\'s resident set while the stage ran (the ffmpeg encoders and '
        "Ray workers are separate processes). The report's own stage runs after the manifest is written.</p>",
    ]
    cores = m.get("cores")
    on = f", on {esc(describe_cores(cores))}" if cores else ""
    if run.seconds:
        out.append(
            f"<p>Real-time factor: <b>{total / run.seconds:.2f}</b> ({total:.1f} s for {run.seconds:.1f} s of story{on}).</p>"
        )
    elif cores:
        out.append(f"<p>Measured{on}.</p>")
    reference = m.get("reference")
    if reference:
        out.append(
            f"<p>Against the reference: <b>{reference['ratio']:.2f}x</b> the reference ({reference['seconds']:.1f} s: "
            "TTS alone + x264 alone, as <code>benchmarks/reference.py</code> measures it; "
            "<code>report.reference_seconds</code>).</p>"
        )
    executor = m.get("executor")
    if executor:
        out.append(details("Executor", f"<pre>{esc(json.dumps(executor, indent=1))}</pre>"))
    warnings = m.get("warnings", [])
    out.append(f"<h3>Warnings ({len(warnings)})</h3>")
    out.append("<ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>" if warnings else "<p>None.</p>")
    return "".join(out)


def provenance_section(run: Run) -> str:
    m, files = run.manifest, run.files
    inputs = m.get("inputs", {})
    rows: list[tuple[str, Any]] = [
        ("config hash", m.get("config_hash", run.ctx.config_hash)),
        ("deepstory", m.get("deepstory_version", "")),
        ("git revision", m.get("git_revision") or "-"),
    ]
    story = inputs.get("story")
    if story:
        rows.append(("story", Raw(f"{esc(story['path'])}<br><code>{esc(story['sha256'])}</code>")))
    for speaker, images in inputs.get("images", {}).items():
        for image in images:
            rows.append((f"image: {speaker}", Raw(f"{esc(image['path'])}<br><code>{esc(image['sha256'])}</code>")))
    overrides = files.root / ".hydra" / "overrides.yaml"
    out = ["<h2>Provenance</h2>", table(["", ""], rows)]
    if overrides.is_file():
        out.append(details("Command-line overrides", f"<pre>{esc(overrides.read_text(encoding='utf-8'))}</pre>"))
    if inputs.get("models"):
        out.append(
            details("Models (what shapes the output)", f"<pre>{esc(json.dumps(inputs['models'], indent=1))}</pre>")
        )
    config = files.export / "config.yaml"
    if config.is_file():
        out.append(details("Resolved config (config.yaml)", f"<pre>{esc(config.read_text(encoding='utf-8'))}</pre>"))
    return "".join(out)
