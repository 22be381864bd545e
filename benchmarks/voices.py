"""Are the cast's voices clear, and can a listener tell them apart?  The table in benchmarks/README.md.

For every character of a speakers config, the prose in benchmarks/data/prose.txt
(ordinary English, in no test) is spoken in the character's voice, as a
render would speak it, then:

* **WER**: pocketsphinx's word error rate of the speech against the text, next
  to the WER of the unmodified bundled voice of the same engine (Piper's joe
  voice, eSpeak NG's en-us) on the same text;
* **similarity**: cosine similarity of Resemblyzer (GE2E) speaker embeddings
  between every pair of characters (1.0 = the same voice).

    pip install -e ".[bench]"
    python benchmarks/voices.py                       # the bundled cast (speakers=chapter3)
    python benchmarks/voices.py speakers.Eileen.voice.formant=1.2
    python benchmarks/voices.py --resampled           # the 0.1 cast: pitch by resampling (for comparison)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from deepstory.config import instantiate  # noqa: E402
from deepstory.dsp import resample  # noqa: E402
from deepstory.run.config import register_schemas  # noqa: E402
from deepstory.speech.base import SpeechBackend, Voice  # noqa: E402
from deepstory.speech.stage import SpeechStage  # noqa: E402
from deepstory.threads import describe_cores  # noqa: E402

from audio_checks import recognize, word_error_rate  # noqa: E402

PROSE = ROOT / "benchmarks" / "data" / "prose.txt"
SR = 22050


def paragraphs() -> list[str]:
    return [p.strip() for p in PROSE.read_text(encoding="utf-8").split("\n") if p.strip()]


def wer(engine: SpeechBackend, voice: Voice, texts: list[str]) -> tuple[float, list[np.ndarray]]:
    """Word error rate over all the words, and the audio."""
    audio = [engine.synthesize(t, voice) for t in texts]
    words = sum(len(t.split()) for t in texts)
    errors = sum(word_error_rate(t, recognize(a, SR)) * len(t.split()) for t, a in zip(texts, audio))
    return errors / words, audio


def resampled(engine: SpeechBackend, voice: Voice) -> SpeechBackend:
    """The 0.1 way, for comparison: Piper slowed by the pitch factor, then resampled (formants move too)."""

    class Resampled:
        def synthesize(self, text: str, v: Voice) -> np.ndarray:
            factor = 2.0 ** (voice.pitch / 12)
            slow = Voice(rate=voice.rate / factor, character=voice.character)
            return resample(engine.synthesize(text, slow), 1 / factor)

    return Resampled()  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="config overrides (speakers=..., speakers.X.voice.pitch=...)")
    parser.add_argument("--resampled", action="store_true", help="Piper voices shifted by resampling (the 0.1 cast)")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {describe_cores()}")
    warnings.simplefilter("ignore")
    from hydra import compose, initialize_config_dir
    from resemblyzer import VoiceEncoder, preprocess_wav

    register_schemas()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=args.overrides)
    stage = instantiate(cfg.stages.speech, "stages.speech")
    assert isinstance(stage, SpeechStage)
    texts = paragraphs()
    encoder = VoiceEncoder("cpu", verbose=False)
    rows, embeddings, baselines = [], {}, {}
    for name in cfg.speakers:
        voice = Voice.from_config(cfg.speakers[name].get("voice"), str(name))
        engine = stage.engine_for(voice)
        if engine.engine not in baselines:
            baselines[engine.engine] = wer(engine, Voice(), texts)[0]
        speaker = resampled(engine, voice) if args.resampled and engine.engine == "piper" else engine
        started = time.perf_counter()
        error, audio = wer(speaker, voice, texts)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        speech = np.concatenate(audio)
        embeddings[str(name)] = encoder.embed_utterance(preprocess_wav(resample(speech, 16000 / SR), source_sr=16000))
        rows.append(
            (str(name), engine.describe(voice), voice, error, baselines[engine.engine], seconds / (len(speech) / SR))
        )
    words = sum(len(t.split()) for t in texts)
    print(
        f"{len(texts)} paragraphs, {words} words (benchmarks/data/prose.txt){' -- resampled' if args.resampled else ''}\n"
    )
    print("| character | engine and voice | pitch | formant | rate | WER | unmodified voice's WER | difference |")
    print("|---|---|---|---|---|---|---|---|")
    for name, described, voice, error, base, _ in rows:
        print(
            f"| {name} | {described} | {voice.pitch:+.1f} | {voice.formant:.2f} | {voice.rate:.2f} | {error:.3f} | "
            f"{base:.3f} | {error - base:+.3f} |"
        )
    print("\n| pair | speaker-embedding cosine similarity |\n|---|---|")
    names = list(embeddings)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            print(f"| {a} - {b} | {float(np.dot(embeddings[a], embeddings[b])):.3f} |")
    stage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
