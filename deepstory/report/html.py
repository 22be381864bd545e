"""The building blocks of the reports: one self-contained page (its CSS and script inline), tables, and plots.

Plots are inline SVG written here: a few lines and bars need no plotting
library, the page stays small, and its text stays searchable.  Nothing is
fetched from the network; images the page shows are inline (``data:`` URIs) or
files beside it (the video).
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Iterable, Sequence

#: Speaker colours, in order of first appearance (Tableau 10: distinct, and readable on white).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

CSS = """
:root { --fg: #1d2430; --muted: #667085; --line: #d0d5dd; --bg: #fff; --panel: #f6f7f9; --accent: #3b6fd4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 12px 0 4px; }
.muted { color: var(--muted); } code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: var(--panel); padding: 8px; overflow: auto; max-height: 480px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.card { background: var(--panel); border-radius: 6px; padding: 6px 10px; min-width: 110px; }
.card b { display: block; font-size: 16px; } .card span { color: var(--muted); font-size: 12px; }
.card.warn { background: #fff4e5; }
table { border-collapse: collapse; margin: 6px 0; } th, td { padding: 3px 8px; border-bottom: 1px solid var(--line);
       text-align: left; vertical-align: top; } th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.player { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
video { width: 480px; max-width: 100%; background: #000; border-radius: 4px; }
.cast { display: flex; flex-wrap: wrap; gap: 12px; }
.who { background: var(--panel); border-radius: 6px; padding: 8px; width: 280px; }
.who img { display: block; border-radius: 4px; } .who table { font-size: 12px; } .who audio { width: 100%; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
svg { max-width: 100%; height: auto; } svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
[data-start] { cursor: pointer; } rect.chunk:hover { opacity: .75; } tr[data-start]:hover { background: #eef3fc; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--accent); }
.now { min-height: 3em; color: var(--muted); }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, script: str = "") -> str:
    """One whole HTML document: ``body`` with the CSS and ``script`` inline."""
    return (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        + (f"<script>\n{script}\n</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (), attrs: Any = None) -> str:
    """A table of ``rows``; cells are escaped unless they are :class:`Raw`; columns in ``numeric`` right-aligned.

    ``attrs(i)``: extra attributes of row ``i`` (e.g. ``data-start``).
    """

    def cell(tag: str, value: Any, j: int) -> str:
        cls = ' class="num"' if j in numeric else ""
        return f"<{tag}{cls}>{value if isinstance(value, Raw) else esc(value)}</{tag}>"

    head = "".join(cell("th", h, j) for j, h in enumerate(headers))
    body = "".join(
        f"<tr{attrs(i) if attrs else ''}>" + "".join(cell("td", v, j) for j, v in enumerate(row)) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Raw(str):
    """HTML that is already safe (not escaped again by :func:`table`)."""


def cards(items: Iterable[tuple[str, Any] | tuple[str, Any, bool]]) -> str:
    """The headline figures: ``(label, value[, warn])``."""
    out = []
    for item in items:
        label, value, warn = (*item, False) if len(item) == 2 else item
        out.append(f'<div class="card{" warn" if warn else ""}"><b>{esc(value)}</b><span>{esc(label)}</span></div>')
    return f'<div class="cards">{"".join(out)}</div>'


def details(summary: str, inner: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{inner}</details>"


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss`` past an hour)."""
    seconds = max(0.0, float(seconds))
    if seconds >= 3600:
        h, rest = divmod(int(seconds), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round axis values covering ``[lo, hi]``, about ``count`` of them."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def number(value: float) -> str:
    """A tick label: no trailing zeros, thousands as k."""
    if abs(value) >= 10000 and float(value).is_integer():
        return f"{value / 1000:g}k"
    return f"{value:g}"


def image_uri(image: Any, quality: int = 88) -> str:
    """A PIL image as an inline JPEG ``data:`` URI."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def polyline(points: Iterable[tuple[float, float]], colour: str, width: float = 1.5) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{coords}"/>'


def line_plot(
    xs: Sequence[float],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    width: int = 360,
    height: int = 200,
    x_label: str = "",
    y_label: str = "",
    categories: Sequence[str] | None = None,
    markers: bool = True,
) -> str:
    """A small plot of ``(label, colour, ys)`` against ``xs`` (``categories``: names of the x positions 0, 1, ...)."""
    left, right, top, bottom = 52, 16, 24, 38
    w, h = width - left - right, height - top - bottom
    ys_all = [y for _, _, ys in series for y in ys if y is not None and math.isfinite(y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if categories is not None:
        x0, x1 = -0.5, len(categories) - 0.5
    elif x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    else:  # room for the markers at the ends
        x0, x1 = x0 - 0.05 * (x1 - x0), x1 + 0.05 * (x1 - x0)
    y0, y1 = 0.0, max(ys_all, default=1.0) * 1.1 or 1.0
    px = lambda x: left + (x - x0) / (x1 - x0) * w
    py = lambda y: top + h - (y - y0) / (y1 - y0) * h
    out = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fbfbfc" stroke="#d0d5dd"/>')
    for t in nice_ticks(y0, y1, 4):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eceef2"/>')
        out.append(f'<text x="{left - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{esc(number(t))}</text>')
    ticks = list(enumerate(categories)) if categories is not None else [(t, number(t)) for t in nice_ticks(x0, x1, 4)]
    for t, name in ticks:
        out.append(f'<text x="{px(t):.1f}" y="{top + h + 14}" text-anchor="middle">{esc(name)}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle">{esc(x_label)}</text>')
    out.append(f'<text transform="translate(12 {top + h / 2}) rotate(-90)" text-anchor="middle">{esc(y_label)}</text>')
    for _, colour, ys in series:
        points = [(px(x), py(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
        out.append(polyline(points, colour))
        if markers:
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
    out.append(legend([(label, colour) for label, colour, _ in series], left, top - 8))
    out.append("</svg>")
    return "".join(out)


def legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    out, at = [], x
    for label, colour in items:
        out.append(f'<rect x="{at:.1f}" y="{y - 8}" width="10" height="10" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{at + 14:.1f}" y="{y + 1}">{esc(label)}</text>')
        at += 22 + 6.5 * len(label)
    return "".join(out)
