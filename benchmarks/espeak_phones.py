"""Do an engine's own phone timings agree with forced alignment?  The figures in README.md ("Phones").

Every sentence of the demo story is spoken and timed by the engine itself, and
aligned by pocketsphinx (``phones.align``) on the same samples:

* ``--engine espeak``: eSpeak voices (variants f5, the demo's Chelsea, and m3),
  timed from eSpeak's phoneme events (``EspeakSpeech.phones``);
* ``--engine piper``: the bundled Piper voice shaped as the demo's Narrator
  (rate 0.95) and Eileen (pitch +5, formant 1.12), timed from the voice's own
  frame counts per phoneme (``PiperSpeech.phones``).

The two phone sequences (pauses left out) are matched by name (``difflib``) and
the start times of matched phones compared.

    python benchmarks/espeak_phones.py
    python benchmarks/espeak_phones.py --variants f5 klatt
    python benchmarks/espeak_phones.py --engine piper
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepstory.phones import align  # noqa: E402
from deepstory.speech.base import Voice  # noqa: E402
from deepstory.speech.espeak import EspeakSpeech  # noqa: E402
from deepstory.speech.piper import PiperSpeech  # noqa: E402
from deepstory.threads import describe_cores  # noqa: E402

SR = 22050
STORY = ROOT / "deepstory" / "assets" / "stories" / "chapter3.txt"


def sentences(path: Path) -> list[str]:
    """The story's sentences, speaker prefixes removed (a rough split: enough for a comparison)."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"^[A-Z][a-z]+:\s*", "", line.strip())
        out.extend(s for s in re.split(r"(?<=[.!?])\s+", line) if s.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["espeak", "piper"], default="espeak")
    parser.add_argument("--variants", nargs="+", default=["f5", "m3"], help="eSpeak variants")
    parser.add_argument("--tolerance", type=float, default=0.06, help="seconds")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}")

    if args.engine == "piper":
        engine: EspeakSpeech | PiperSpeech = PiperSpeech(SR)
        voices = [Voice(rate=0.95), Voice(pitch=5.0, formant=1.12)]  # the demo's Narrator and Eileen
    else:
        engine = EspeakSpeech(SR)
        voices = [Voice(engine="espeak", options={"variant": v}) for v in args.variants]
    texts = sentences(STORY)
    gaps: list[float] = []
    bilabial: list[float] = []
    untimed = failed = 0
    own_s = align_s = 0.0
    for voice in voices:
        for text in texts:
            t = time.perf_counter()
            audio = engine.synthesize(text, voice)
            own = engine.phones(text, voice)
            own_s += time.perf_counter() - t
            t = time.perf_counter()
            aligned = align(audio, SR, text)
            align_s += time.perf_counter() - t
            if own is None:
                untimed += 1
            if aligned is None:
                failed += 1
            if own is None or aligned is None:
                continue
            a = [p for p in own if p.name != "SIL"]
            b = [p for p in aligned if p.name != "SIL"]
            matcher = difflib.SequenceMatcher(a=[p.name for p in a], b=[p.name for p in b], autojunk=False)
            for block in matcher.get_matching_blocks():
                for k in range(block.size):
                    gap = a[block.a + k].start - b[block.b + k].start
                    gaps.append(gap)
                    if a[block.a + k].name in ("P", "B", "M"):
                        bilabial.append(gap)
    n = len(texts) * len(voices)
    print(f"{n} sentences ({len(texts)} x {len(voices)} voices): {untimed} without the engine's timings, "
          f"{failed} the aligner could not follow")  # fmt: skip
    for name, values in (("all phones", gaps), ("P B M", bilabial)):
        d = np.abs(values)
        print(f"{name:>10}: {len(d)} matched, median |start gap| {np.median(d) * 1000:.1f} ms, "
              f"within {args.tolerance * 1000:.0f} ms {np.mean(d <= args.tolerance):.1%}, "
              f"mean gap (engine - alignment) {np.mean(values) * 1000:+.1f} ms")  # fmt: skip
    print(f"time per sentence: synthesis with its timings {own_s / n * 1000:.1f} ms, alignment {align_s / n:.2f} s")


if __name__ == "__main__":
    main()
