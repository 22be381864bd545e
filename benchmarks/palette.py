"""Measure candidate voices and write the casting palette, deepstory/assets/voices/palette.yaml.

Every candidate (the bundled Piper voice, joe, shaped in pitch, formant and
rate; eSpeak NG variants, some shaped too) speaks the prose of
benchmarks/data/prose.txt, measured with benchmarks/voices.py's functions:

* **WER**: pocketsphinx's word error rate over all four paragraphs; a
  candidate more than ``--max-wer-rise`` (0.15) above its engine's unmodified
  voice is rejected as unclear;
* **similarity**: Resemblyzer speaker embeddings of the first two paragraphs
  (text A) and of the last two (text B).  Two voices are compared across
  texts, ``(a_A . b_B + a_B . b_A) / 2``, so that the words said cannot make
  them alike; a voice compared with itself the same way (``a_A . a_B``, the
  same voice on two texts) shows how alike "the same voice" measures.

The clear candidates are then ordered by greedy farthest-point selection
from the narrator's voice (joe as the bundled cast has it): each next voice is
the one whose highest similarity to every voice before it is the lowest, so
the first k are as distinct as the candidates allow, for every k.  The
``threshold`` at which two voices "sound like one person" is the lowest
similarity of a candidate to another that is the same voice moved up to 3
semitones in pitch alone (formants unchanged: a listener hears one person
speaking up), rounded down to 0.01.  The same voice on two texts measures far
higher: the encoder alone would tell apart voices a listener would not.

    pip install -e ".[bench]"
    python benchmarks/palette.py                  # measures (about 11 minutes on 2 cores), writes the palette
    python benchmarks/palette.py --dry-run        # prints the palette, writes nothing

Measurements are kept in outputs/palette/measurements.json: a rerun measures
only candidates it has not measured (``--fresh`` to measure all again).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from voices import SR, paragraphs, wer  # noqa: E402  (benchmarks/voices.py; it puts ROOT and tests/ on sys.path)

from deepstory.dsp import resample  # noqa: E402
from deepstory.speech.base import Voice  # noqa: E402
from deepstory.threads import describe_cores  # noqa: E402

from audio_checks import world_f0  # noqa: E402

PALETTE = ROOT / "deepstory" / "assets" / "voices" / "palette.yaml"
CACHE = ROOT / "outputs" / "palette" / "measurements.json"


def joe(pitch: float, formant: float, rate: float) -> dict[str, Any]:
    """The bundled Piper voice (``engine: null``: models.tts), shaped."""
    return {"engine": None, "model": None, "speaker": None, "pitch": pitch, "formant": formant, "rate": rate}


def espeak(variant: str, pitch: float = 0.0, formant: float = 1.0, rate: float = 1.0) -> dict[str, Any]:
    return {**joe(pitch, formant, rate), "engine": "espeak", "variant": variant}


# label, gender, voice.  The first is the narrator's: joe as the bundled cast has it (conf/speakers/chapter3.yaml).
# Gender is how the voice presents (by ear): female or male where it clearly does, neutral where it could be either.
CANDIDATES: list[tuple[str, str, dict[str, Any]]] = [
    ("joe", "male", joe(0.0, 1.00, 0.95)),
    ("joe +3 st", "male", joe(3.0, 1.00, 1.00)),
    ("joe +1 st f0.92", "male", joe(1.0, 0.92, 1.05)),
    ("joe f0.88", "male", joe(0.0, 0.88, 0.95)),
    ("joe -2 st f0.94", "male", joe(-2.0, 0.94, 0.90)),
    ("joe -4 st f0.88", "male", joe(-4.0, 0.88, 0.90)),
    ("joe -2 st slow", "male", joe(-2.0, 1.00, 0.90)),
    ("joe +2 st f1.04 slow", "male", joe(2.0, 1.04, 0.90)),
    ("joe +2 st f1.08", "neutral", joe(2.0, 1.08, 1.05)),
    ("joe +7 st f1.05", "neutral", joe(7.0, 1.05, 0.95)),
    ("joe +5 st f1.12", "female", joe(5.0, 1.12, 1.00)),
    ("joe +4 st f1.16 fast", "female", joe(4.0, 1.16, 1.10)),
    ("joe +7 st f1.20", "female", joe(7.0, 1.20, 1.05)),
    ("espeak m1", "male", espeak("m1")),
    ("espeak m3", "male", espeak("m3")),
    ("espeak m7", "male", espeak("m7")),
    ("espeak m3 +3 st", "male", espeak("m3", 3.0)),
    ("espeak m3 -2 st f0.9", "male", espeak("m3", -2.0, 0.90, 0.95)),
    ("espeak f2", "female", espeak("f2")),
    ("espeak f4", "female", espeak("f4")),
    ("espeak f5", "female", espeak("f5")),
    ("espeak f5 +3 st f1.1", "female", espeak("f5", 3.0, 1.10, 1.00)),
]


def key(voice: dict[str, Any]) -> str:
    return json.dumps(voice, sort_keys=True)


def measure(stage: Any, encoder: Any, voice_cfg: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """WER over all ``texts``, and unit speaker embeddings of their first half (A) and second half (B)."""
    from resemblyzer import preprocess_wav

    voice = Voice.from_config(voice_cfg, "candidate")
    engine = stage.engine_for(voice)
    started = time.perf_counter()
    error, audio = wer(engine, voice, texts)
    half = len(texts) // 2
    embeddings = [
        encoder.embed_utterance(preprocess_wav(resample(np.concatenate(part), 16000 / SR), source_sr=16000))
        for part in (audio[:half], audio[half:])
    ]
    return {
        "engine": engine.engine,
        "wer": error,
        "seconds": sum(len(a) for a in audio) / SR,
        "took": time.perf_counter() - started,
        "a": [float(x) for x in embeddings[0]],
        "b": [float(x) for x in embeddings[1]],
        "f0": world_f0(audio[0], SR),
    }


def median_f0(stage: Any, voice_cfg: dict[str, Any], text: str) -> float:
    """The voice's median F0 (Hz, WORLD's DIO + StoneMask) on ``text`` (the first paragraph)."""
    voice = Voice.from_config(voice_cfg, "candidate")
    return world_f0(stage.engine_for(voice).synthesize(text, voice), SR)


def baseline(stage: Any, engine: str, texts: list[str]) -> float:
    """The WER of the engine's unmodified voice (joe at rate 1.0; eSpeak NG's plain en-us)."""
    voice = Voice(engine=None if engine == "piper" else engine)
    return wer(stage.engine_for(voice), voice, texts)[0]


def cross(m: dict[str, Any], n: dict[str, Any]) -> float:
    """Similarity of two voices across texts (the module's doc); ``cross(m, m)``: the same voice on two texts."""
    a1, b1, a2, b2 = (np.asarray(v) for v in (m["a"], m["b"], n["a"], n["b"]))
    return float((a1 @ b2 + b1 @ a2) / 2)


def pitch_only(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two candidates that are one voice spoken up to 3 semitones higher or lower (rate aside): one person."""
    same = all(a.get(k) == b.get(k) for k in ("engine", "model", "speaker", "variant", "formant"))
    return same and 0 < abs(a["pitch"] - b["pitch"]) <= 3


def farthest_first(sim: np.ndarray) -> tuple[list[int], list[float]]:
    """Greedy farthest-point order from index 0: each next is the one least like its most alike predecessor.

    Returns the order and, for each, its highest similarity to those before it (0 for the first).
    Ties go to the earlier candidate (deterministic).
    """
    order, worst = [0], [0.0]
    left = list(range(1, len(sim)))
    while left:
        best = min(left, key=lambda j: (round(float(sim[j, order].max()), 6), j))
        order.append(best)
        worst.append(float(sim[best, order[:-1]].max()))
        left.remove(best)
    return order, worst


def flow(value: Any) -> str:
    """A YAML flow value (JSON is YAML; ``None`` as ``null``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    return json.dumps(value)


def measure_all(fresh: bool) -> tuple[dict[str, Any], list[str]]:
    """Every candidate's measurements (and the engines' unmodified WER), from the cache where it has them."""
    from hydra import compose, initialize_config_dir
    from resemblyzer import VoiceEncoder

    from deepstory.config import instantiate
    from deepstory.run.config import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config")
    stage = instantiate(cfg.stages.speech, "stages.speech")
    encoder = VoiceEncoder("cpu", verbose=False)
    texts = paragraphs()
    cache: dict[str, Any] = {} if fresh or not CACHE.is_file() else json.loads(CACHE.read_text())
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    for engine in ("piper", "espeak"):
        if f"baseline {engine}" not in cache:
            cache[f"baseline {engine}"] = baseline(stage, engine, texts)
            CACHE.write_text(json.dumps(cache))
    for label, _, voice in CANDIDATES:
        if key(voice) not in cache:
            cache[key(voice)] = measure(stage, encoder, voice, texts)
        m = cache[key(voice)]
        if "f0" not in m:  # measured before F0 was recorded
            m["f0"] = median_f0(stage, voice, texts[0])
        CACHE.write_text(json.dumps(cache))
        print(f"{label:24s} WER {m['wer']:.3f}  F0 {m['f0']:5.1f} Hz  {m['took'] / m['seconds']:.2f} s/s", flush=True)
    stage.close()
    return cache, texts


def palette_text(cache: dict[str, Any], texts: list[str], max_rise: float, when: str) -> tuple[str, list[str]]:
    """The palette file, and its table (markdown rows) for docs/voices.md."""
    measured = [(label, gender, voice, cache[key(voice)]) for label, gender, voice in CANDIDATES]
    base = {engine: cache[f"baseline {engine}"] for engine in ("piper", "espeak")}
    everyone = np.array([[cross(a[3], b[3]) for b in measured] for a in measured])
    controls = [
        (measured[i][0], measured[j][0], everyone[i, j])
        for i, j in itertools.combinations(range(len(measured)), 2)
        if pitch_only(measured[i][2], measured[j][2])
    ]
    threshold = math.floor(min(s for *_, s in controls) * 100) / 100
    keep = [i for i, c in enumerate(measured) if c[3]["wer"] <= base[c[3]["engine"]] + max_rise]
    clear = [measured[i] for i in keep]
    sim = everyone[np.ix_(keep, keep)]
    selves = np.diag(sim).copy()
    others = sim[~np.eye(len(sim), dtype=bool)]
    order, worst = farthest_first(sim)
    distinct = next((k for k, w in enumerate(worst) if w >= threshold), len(order))
    words = sum(len(t.split()) for t in texts)
    pairs = [f"#   {a} - {b}: {s:.4f}" for a, b, s in controls]
    lines = [
        "# The casting palette: candidate voices, ordered so that the first k are as distinct as the candidates",
        "# allow, for every k (greedy farthest-point order by speaker-embedding similarity, from the narrator's).",
        "# Written by benchmarks/palette.py; do not edit by hand (rerun it).  Read by deepstory/speech/casting.py.",
        f"# Measured {when}: {len(texts)} paragraphs, {words} words of benchmarks/data/prose.txt per voice.",
        f"#   wer: pocketsphinx's word error rate; a candidate more than {max_rise:.2f} above its engine's unmodified",
        "#     voice (baseline_wer) is left out (rejected, below); f0: median pitch (Hz) on the first paragraph;",
        "#   similarity: cosine of Resemblyzer embeddings, each voice on paragraphs 1-2 against the other on 3-4",
        "#     (both ways, averaged), so the words cannot make two voices alike; self_similarity: a voice against",
        "#     itself so (the same voice on two texts); max_similarity: the highest to any voice before it here;",
        "#   gender: how the voice presents, set by hand in benchmarks/palette.py (f0 beside it).",
        "# threshold: two voices at or above it sound like one person.  It is the lowest similarity of a voice to",
        "# itself spoken up to 3 semitones higher or lower, formants unchanged (one person speaking up), rounded",
        "# down to 0.01.  Those pairs among the candidates:",
        *pairs,
        f"# The same voice on two texts measured {selves.min():.3f}..{selves.max():.3f}: the encoder tells voices apart",
        "# far above the threshold, but a listener hears a pitch change alone as the same person.",
        f"# Different voices measured {others.min():.3f}..{others.max():.3f} (median {np.median(others):.3f}); "
        f"the first {distinct} voices below are all below the threshold.",
        f"threshold: {threshold:.2f}",
        f"baseline_wer: {{piper: {base['piper']:.3f}, espeak: {base['espeak']:.3f}}}  # the engines' unmodified voices",
        "voices:",
    ]
    labels = [c[0] for c in clear]
    table = []
    for n, (i, w) in enumerate(zip(order, worst), start=1):
        label, gender, voice, m = clear[i]
        near = max((j for j in range(len(clear)) if j != i), key=lambda j: sim[i, j])
        lines += [
            f"  - label: {json.dumps(label)}",
            f"    gender: {gender}",
            f"    voice: {flow({**voice, 'variant': voice.get('variant')})}",
            f"    wer: {m['wer']:.3f}",
            f"    f0: {m['f0']:.0f}",
            f"    self_similarity: {selves[i]:.3f}",
            f"    max_similarity: {w:.3f}",
            f"    nearest: {{label: {json.dumps(labels[near])}, similarity: {sim[i, near]:.3f}}}",
            "    similarity: {" + ", ".join(f"{json.dumps(labels[j])}: {sim[i, j]:.3f}" for j in order if j != i) + "}",
        ]
        table.append(
            f"| {n} | {label} | {gender} | {m['f0']:.0f} | {m['wer']:.3f} | {m['wer'] - base[m['engine']]:+.3f} | "
            f"{w:.3f} | {labels[near]} {sim[i, near]:.3f} |"
        )
    rejected = [c for i, c in enumerate(measured) if i not in keep]
    lines.append("# Left out, unclear (WER more than the rise allowed over the engine's unmodified voice):")
    lines += [f"#   {label}: WER {m['wer']:.3f} ({m['engine']} {base[m['engine']]:.3f})" for label, *_, m in rejected]
    lines.append("rejected: [" + ", ".join(json.dumps(c[0]) for c in rejected) + "]")
    return "\n".join(lines) + "\n", table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-wer-rise", type=float, default=0.15, help="over the engine's unmodified voice")
    parser.add_argument("--dry-run", action="store_true", help="print the palette, write nothing")
    parser.add_argument("--fresh", action="store_true", help="measure every candidate again")
    parser.add_argument("--out", type=Path, default=PALETTE)
    args = parser.parse_args()
    when = f"{time.strftime('%Y-%m-%d')}, {describe_cores()}"
    print(when)
    warnings.simplefilter("ignore")
    cache, texts = measure_all(args.fresh)
    text, table = palette_text(cache, texts, args.max_wer_rise, when)
    print(text)
    print("| # | label | gender | F0 (Hz) | WER | against its engine | max similarity to those above | nearest |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(table))
    if not args.dry_run:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
