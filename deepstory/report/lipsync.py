"""The report's lip-sync section: the score against its goals, per speaker, and a plot of the opening against the
audio's energy over a window of the story, with the phones the score measured (``deepstory.lipsync``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from deepstory.files import read_json
from deepstory.lipsync.score import load_series
from deepstory.motion.visemes import shape_of
from deepstory.report.html import clock, esc, legend, nice_ticks, number, polyline, table

if TYPE_CHECKING:
    from deepstory.report.stage import Run

#: Mouth shape colours in the phone strip (X, rest, is left blank).
SHAPE_COLOURS = {
    "A": "#e15759",
    "B": "#bab0ac",
    "C": "#f28e2b",
    "D": "#edc948",
    "E": "#b07aa1",
    "F": "#76b7b2",
    "G": "#59a14f",
    "H": "#9c755f",
}


def lipsync_section(run: Run, window: float, window_start: float | None) -> str:
    files = run.files
    sync = run.manifest.get("lipsync") or (read_json(files.lipsync) if files.lipsync.is_file() else None)
    if not sync:
        return ""
    goals = sync.get("goals", {})
    worst = sync.get("worst_speaker", {})
    figures = [
        ("bilabial_phones_closed", "share of P/B/M sounds with at least one frame of the mouth shut"),
        ("bilabials_shut", "share of P/B/M frames with the mouth shut"),
        ("open_vowels_open", "share of open-vowel frames with the mouth open"),
        ("bilabial_vowel_auc", "how well the opening alone tells P/B/M from open vowels (1 = always)"),
        ("pearson", "mouth opening against the audio's energy (1 = follows the loudness perfectly)"),
        ("closed_in_long_silences", "share of frames inside pauses over 0.5 s with the mouth shut"),
        ("best_lag_frames", "shift at which that correlation peaks over the whole video (0 = in sync, > 0: late)"),
    ]

    def goal(key: str) -> str:
        if key not in goals:
            return ""
        return f"|x| ≤ {goals[key]}" if key == "best_lag_frames" else f"≥ {goals[key]}"

    rows = [
        (k, sync[k], goal(k), worst.get(k, "all"), "missed" if k in sync.get("missed_goals", []) else "", what)
        for k, what in figures
        if k in sync
    ]
    out = [
        "<h2>Lip sync</h2>",
        f"<p>{esc(sync.get('method', ''))}.</p>" if sync.get("method") else "",
        table(["figure (worst speaker)", "value", "goal", "speaker", "", "what"], rows, numeric=(1,)),
    ]
    per = sync.get("speakers", {})
    if per:
        keys = [
            "bilabial_phones_closed",
            "bilabials_shut",
            "open_vowels_open",
            "bilabial_vowel_auc",
            "pearson",
            "closed_in_long_silences",
        ]
        out.append(
            table(
                [
                    "speaker",
                    "P/B/M sounds closed",
                    "P/B/M frames shut",
                    "open vowels open",
                    "AUC",
                    "r",
                    "shut in silences",
                    "P/B/M / vowel frames",
                ],
                [
                    [
                        name,
                        *(f.get(k, "–") for k in keys),
                        f"{f.get('bilabial_frames', 0)} / {f.get('open_vowel_frames', 0)}",
                    ]
                    for name, f in per.items()
                ],
                numeric=(1, 2, 3, 4, 5, 6),
            )
        )
    if sync.get("unaligned_sentences"):
        out.append(f"<p>{sync['unaligned_sentences']} sentences could not be aligned; their frames are not scored.</p>")
    if files.lipsync_series.is_file() and run.segments:
        out.append(lipsync_plot(run, load_series(files.lipsync_series), window, window_start))
    return "".join(out)


def lipsync_plot(run: Run, series: dict[str, np.ndarray], window: float, window_start: float | None) -> str:
    """Mouth opening and speech energy per frame over ``window`` seconds, with the phones and their mouth shapes."""
    fps = run.ctx.media.fps
    opening, energy, silent = series["opening"], series["energy"], series["silent"]
    frames = len(opening)
    if not frames:
        return ""
    start = window_start if window_start is not None else max(0.0, run.segments[0].speech_start / run.rate - 0.5)
    first = min(frames - 1, max(0, int(start * fps)))
    last = min(frames, first + max(1, int(window * fps)))
    t0, t1 = first / fps, last / fps
    width, left, right, top = 1100, 56, 12, 16
    plot_h, strip_y, strip_h = 150, 16 + 150 + 10, 26
    height = strip_y + strip_h + 36
    w = width - left - right
    x = lambda t: left + (t - t0) / (t1 - t0) * w

    def scaled(values: np.ndarray) -> np.ndarray:
        top_value = float(np.percentile(values, 99)) if len(values) else 0.0
        return np.clip(values / top_value, 0, 1.05) if top_value > 0 else np.zeros_like(values)

    y = lambda v: top + plot_h - v / 1.1 * plot_h
    out = [
        f'<svg id="lipsync-plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'data-x0="{left}" data-x1="{left + w}" data-t0="{t0:.3f}" data-t1="{t1:.3f}">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{plot_h}" fill="#fbfbfc" stroke="#d0d5dd"/>',
    ]
    out += _silence_shades(silent, first, last, fps, x, top, plot_h)
    times = (np.arange(first, last) + 0.5) / fps
    for values, colour in ((scaled(energy)[first:last], "#9aa4b2"), (scaled(opening)[first:last], "#e15759")):
        out.append(polyline(((x(t), y(v)) for t, v in zip(times, values)), colour, 1.6))
    out += _phone_strip(series, run.rate, t0, t1, x, strip_y, strip_h)
    out.append(f'<text x="{left - 6}" y="{strip_y + 11}" text-anchor="end">phone</text>')
    out.append(f'<text x="{left - 6}" y="{strip_y + 23}" text-anchor="end">mouth</text>')
    for t in nice_ticks(t0, t1, 12):
        out.append(f'<text x="{x(t):.1f}" y="{strip_y + strip_h + 14}" text-anchor="middle">{esc(number(t))} s</text>')
    out.append(
        f'<line class="playhead" data-x0="{left}" data-x1="{left + w}" data-t0="{t0:.3f}" data-t1="{t1:.3f}" '
        f'x1="{left}" x2="{left}" y1="{top}" y2="{strip_y + strip_h}" stroke="#d00" stroke-width="1.5" '
        'pointer-events="none"/>'
    )
    out.append(legend([("speech energy", "#9aa4b2"), ("mouth opening (decoded video)", "#e15759")], left + 8, top + 14))
    out.append(f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">scaled</text>')
    out.append("</svg>")
    note = (
        f'<p class="muted">{clock(t0)}–{clock(t1)} of the story (stages.report.window={window:g} s, '
        "stages.report.window_start). Both curves are scaled to their 99th percentile over the whole story; "
        "shaded: pauses over 0.5 s. The strip shows each phone the score found in the final audio (its own "
        "alignment, not the phones that drove the mouths) and the mouth shape it asks for "
        "(A = P/B/M pressed, D = wide open; see docs/lipsync.md).</p>"
    )
    return "".join(out) + note


def _silence_shades(
    silent: np.ndarray, first: int, last: int, fps: float, x: Callable[[float], float], top: int, plot_h: int
) -> list[str]:
    """The lip-sync plot's shaded runs of long silence among frames ``first``..``last``."""
    out = []
    f = first
    while f < last:
        if silent[f]:
            g = f
            while g < last and silent[g]:
                g += 1
            out.append(
                f'<rect x="{x(f / fps):.1f}" y="{top}" width="{x(g / fps) - x(f / fps):.1f}" height="{plot_h}" '
                'fill="#e9ecf2"><title>long silence: the mouth should be shut</title></rect>'
            )
            f = g
        f += 1
    return out


def _phone_strip(
    series: dict[str, np.ndarray],
    rate: int,
    t0: float,
    t1: float,
    x: Callable[[float], float],
    strip_y: int,
    strip_h: int,
) -> list[str]:
    """The lip-sync plot's strip between ``t0`` and ``t1`` s: each phone and its mouth shape, and the unaligned spans.

    The phones the score measured: the final audio's alignment, not the ones that drove the mouths.
    """
    out = []
    spans = series.get("phone_spans", np.zeros((0, 2), np.int64))
    for name, (a, b) in zip(series.get("phone_names", []), spans):
        name = str(name)
        pa, pb = max(t0, a / rate), min(t1, b / rate)
        if pb <= pa:
            continue
        shape = shape_of(name)
        colour = SHAPE_COLOURS.get(shape, "#ffffff")
        out.append(
            f'<rect x="{x(pa):.1f}" y="{strip_y}" width="{max(0.5, x(pb) - x(pa)):.1f}" height="{strip_h}" '
            f'fill="{colour}" stroke="#fff" stroke-width="0.5"><title>{esc(name)} → mouth {shape}</title></rect>'
        )
        if x(pb) - x(pa) > 16:
            out.append(
                f'<text x="{(x(pa) + x(pb)) / 2:.1f}" y="{strip_y + 11}" text-anchor="middle">{esc(name)}</text>'
            )
        if x(pb) - x(pa) > 9:
            out.append(f'<text x="{(x(pa) + x(pb)) / 2:.1f}" y="{strip_y + 23}" text-anchor="middle">{shape}</text>')
    for a, b in series.get("unaligned", []):
        pa, pb = max(t0, a / rate), min(t1, b / rate)
        if pb > pa:
            out.append(
                f'<rect x="{x(pa):.1f}" y="{strip_y}" width="{x(pb) - x(pa):.1f}" height="{strip_h}" fill="none" '
                f'stroke="#999" stroke-dasharray="2 2"><title>not aligned: not scored</title></rect>'
            )
    return out
