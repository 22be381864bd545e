"""A whole book read and attributed, chapter by chapter: time and peak memory against the book's length.

The book is an EPUB made of the hand-labelled chapters of benchmarks/data/attribution/ repeated (one
chapter each, as Project Gutenberg's EPUBs lay them out: every chapter in one file, the table of contents
pointing at anchors), at ~50k, ~100k and ~200k words.  For each it lists the chapters, reads every
chapter and attributes its quotes, as ``python -m deepstory.script --chapter N`` does one at a time, in
a fresh process each so that the peak resident memory is the book's own.  Issue #24 asks for a
100,000-word EPUB in under 30 s on 2 cores, with memory flat in the book's length.

    python benchmarks/book.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "attribution"
SIZES = (50_000, 100_000, 200_000)


def make_book(path: Path, words: int) -> int:
    """An EPUB of about ``words`` words at ``path``; returns its word count."""
    sys.path.insert(0, str(ROOT / "tests"))
    from epub_builder import write_epub

    texts = [p.read_text(encoding="utf-8").split("\n", 1)[1] for p in sorted(DATA.glob("*.txt"))]
    chapters, total = [], 0
    while total < words:
        text = texts[len(chapters) % len(texts)]
        paragraphs = [p.strip().replace("\n", " ") for p in text.split("\n\n") if p.strip()]
        chapters.append((f"Chapter {len(chapters) + 1}", paragraphs))
        total += len(text.split())
    write_epub(path, chapters, layout="one")
    return total


def measure(path: str) -> None:
    """In a child process: every chapter read and attributed; prints seconds, quotes and peak memory (JSON)."""
    from deepstory.script import attribute
    from deepstory.script.epub import chapters, read_chapter

    start = time.perf_counter()
    listing = chapters(path)
    quotes = 0
    for chapter in listing:
        script = attribute(read_chapter(path, chapter.number).text)
        quotes += sum(1 for s in script.segments if s.quote)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "chapters": len(listing), "quotes": quotes, "peak_mib": peak}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
        return
    from deepstory.threads import describe_cores

    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}")
    print(f"{'words':>8} {'chapters':>8} {'quotes':>7} {'seconds':>8} {'s per 100k words':>17} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            book = Path(tmp) / f"book-{size}.epub"
            words = make_book(book, size)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(book)], capture_output=True, text=True, check=True, cwd=ROOT
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{words:8d} {r['chapters']:8d} {r['quotes']:7d} {r['seconds']:8.2f} "
                f"{r['seconds'] / words * 1e5:17.2f} {r['peak_mib']:9.0f}"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
