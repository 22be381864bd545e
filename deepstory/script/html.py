"""``attribution.html``: every quote with its speaker, the evidence and the confidence, the doubtful first."""

from __future__ import annotations

import hashlib
from html import escape
from typing import Any

#: Below this confidence a quote is listed for review (printed, and marked in the page).  Set from the one
#: measurement on chapters never tuned on (docs/script.md): quotes rated 0.8-0.9 were right 28% of the time there,
#: those rated 0.9 or more 65%.
DOUBTFUL = 0.9

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid #ddd; }}
th {{ background: #f4f4f4; position: sticky; top: 0; }}
.who {{ font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; white-space: nowrap; }}
.doubt td:first-child {{ border-left: 4px solid #d33; }}
.conf {{ font-variant-numeric: tabular-nums; }}
.cast span {{ margin-right: .6rem; }}
.note {{ color: #666; }}
</style></head><body>
<h1>{title}</h1>
<p class="note">{summary}</p>
<p class="cast">{cast}</p>
<table><thead><tr><th>#</th><th>line</th><th>speaker</th><th>confidence</th><th>quote</th><th>evidence</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{warnings}
</body></html>
"""


def colour(name: str | None) -> str:
    """A light background colour for a speaker, fixed by its name (the narrator grey)."""
    if name is None:
        return "hsl(0, 0%, 88%)"
    hue = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:2], "big") % 360
    return f"hsl({hue}, 70%, 84%)"


def page(script: Any, title: str) -> str:
    """The attribution page of ``script`` (a :class:`deepstory.script.Script`)."""
    quotes = [(n, s) for n, s in enumerate(s for s in script.segments if s.quote)]
    doubtful = sum(1 for _, s in quotes if s.confidence < DOUBTFUL)
    ordered = sorted(quotes, key=lambda item: (item[1].confidence, item[0]))
    rows = []
    for n, seg in ordered:
        who = seg.speaker if seg.speaker is not None else "narrator (unattributed)"
        rows.append(
            f'<tr class="{"doubt" if seg.confidence < DOUBTFUL else ""}"><td>{n + 1}</td><td>{seg.line}</td>'
            f'<td><span class="who" style="background:{colour(seg.speaker)}">{escape(who)}</span></td>'
            f'<td class="conf">{seg.confidence:.2f}</td><td>{escape(seg.text)}</td><td>{escape(seg.evidence)}</td></tr>'
        )
    cast = " ".join(
        f'<span class="who" style="background:{colour(c.name)}">{escape(c.name)}</span>'
        f'<span class="note">{c.lines} lines, {escape(c.gender or "gender unknown")}'
        f"{', also ' + escape(', '.join(a for a in c.aliases if a != c.name)) if len(c.aliases) > 1 else ''}</span>"
        for c in script.characters
        if c.lines
    )
    warnings = (
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{escape(w)}</li>" for w in script.warnings) + "</ul>"
        if script.warnings
        else ""
    )
    summary = (
        f"{len(quotes)} quotes; {doubtful} below confidence {DOUBTFUL} (marked red, listed first). "
        "Edit story.txt to change a speaker, or the alias table (aliases.yaml) and run again."
    )
    return _PAGE.format(
        title=escape(title), summary=escape(summary), cast=cast, rows="\n".join(rows), warnings=warnings
    )
