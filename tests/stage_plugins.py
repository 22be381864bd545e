"""Parts that are not deepstory's, added to a render through config alone: a stage (tests/test_stages.py), and
mouths driven by wrong phones, the lip-sync score's negative controls (tests/test_layout_lipsync.py)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepstory.files import read_json, write_json
from deepstory.kernel.context import RunContext
from deepstory.kernel.stage import Frontier, Stage
from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles
from deepstory.speech.stage import SEGMENTS, SpeechStage
from deepstory.story.files import StoryFiles


class WordCountStage(Stage):
    """Words per speaker, read from ``temp/story.json`` -> ``export/<filename>``."""

    def __init__(self, filename: str = "words.json", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.filename = filename

    def run(self, ctx: RunContext) -> None:
        words: Counter[str] = Counter()
        for sentence in StoryFiles(ctx.run).sentences():
            words[sentence.speaker] += len(sentence.text.split())
        done = [name for name, figures in ctx.progress.stats.items() if "seconds" in figures]  # stages finished
        write_json(ctx.run.export / self.filename, {"stages_before": done, "words": words})


#: The lip-sync score's negative controls, as overrides (tests/test_layout_lipsync.py, benchmarks/lipsync.py).
CONTROLS = {
    "shuffled": ["stages.speech._target_=stage_plugins.MislaidSpeech", "+stages.speech.mislead=shuffle"],
    "late": ["stages.speech._target_=stage_plugins.MislaidSpeech", "+stages.speech.mislead=shift"],
    "loudness": ["models/motion=envelope"],
}


def control_cache(cache: Path, control: str) -> Path:
    """The cache a control renders with after a real render into ``cache``: that cache itself for the loudness
    mouth (its motion keys differ), and for the broken-phone controls a copy of its speech, phones and faces
    only (``<cache>-<control>``), so the speech is reused and the motion made again from the broken files."""
    if control == "loudness":
        return cache
    own = cache.with_name(f"{cache.name}-{control}")
    for kind in ("speech", "phones", "faces"):
        if not (own / kind).exists():
            shutil.copytree(cache / kind, own / kind)
    return own


class MislaidSpeech(SpeechStage):
    """The speech stage, whose phone timings (``temp/phones/``) are broken before any later stage reads them:
    ``mislead=shuffle`` keeps each phone's time but gives it the name of another phone of the same sentence (a
    fixed permutation per sentence); ``mislead=shift`` moves every phone ``shift`` seconds later.  The mouths then
    follow broken phones, and a score that read those same files (as the lip-sync score once did) would not see it.
    """

    def __init__(self, *args: Any, mislead: str = "shuffle", shift: float = 0.12, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mislead not in ("shuffle", "shift"):
            raise ValueError(f"mislead={mislead!r}: shuffle or shift")
        self.mislead, self.shift = mislead, float(shift)

    def lead(self, ctx: SceneContext, publish: Callable[[Frontier], None]) -> None:
        done: set[int] = set()

        def mislay_then_publish(frontier: Frontier) -> None:
            for seg in frontier.get(SEGMENTS):
                if seg.sentence not in done:
                    done.add(seg.sentence)
                    self._mislay(SpeechFiles(ctx.run).phones(seg.sentence), seg.sentence)
            publish(frontier)

        super().lead(ctx, mislay_then_publish)

    def _mislay(self, path: Path, sentence: int) -> None:
        timed = read_json(path)
        phones = timed.get("phones")
        if not phones:
            return
        if self.mislead == "shift":
            timed["phones"] = [[name, a + self.shift, b + self.shift] for name, a, b in phones]
        else:
            order = np.random.default_rng(sentence).permutation(len(phones))
            timed["phones"] = [[phones[j][0], a, b] for j, (_, a, b) in zip(order, phones)]
        write_json(path, timed)  # a new file in place of the run's link to the cache entry: the cache keeps its own


TALLY = "tally"


class ClipTally(Stage[RunContext]):
    """Follows the animate stage through config alone: each time it is handed what is final, it notes how many
    video segments are encoded (``clips``), publishes them under its own name (``tally``) for the stages after
    it, and at the end writes ``export/<filename>``: the counts it saw, and the segments."""

    follows = True
    reads = ("clips",)
    publishes = (TALLY,)

    def __init__(self, filename: str = "tally.json", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.filename = filename

    def run(self, ctx: RunContext) -> None:
        from deepstory.animate.files import AnimateFiles

        clips = [tuple(s["frames"]) for s in read_json(AnimateFiles(ctx.run).clips_file)["segments"]]
        self.start(ctx)(Frontier(done=True).publish("clips", clips))

    def start(self, ctx: RunContext) -> Callable[[Frontier], Frontier]:
        seen: list[int] = []

        def follow(upstream: Frontier) -> Frontier:
            clips = upstream.get("clips")
            seen.append(len(clips))
            if upstream.done:
                write_json(ctx.run.export / self.filename, {"seen": seen, "clips": [list(c) for c in clips]})
            return upstream.publish(TALLY, clips)

        return follow


class TallyEcho(Stage[RunContext]):
    """Follows ``ClipTally`` (both added through config): writes what it was handed under ``tally``."""

    follows = True
    reads = (TALLY,)

    def run(self, ctx: RunContext) -> None:
        clips = read_json(ctx.run.export / "tally.json")["clips"]
        self.start(ctx)(Frontier(done=True).publish(TALLY, [tuple(c) for c in clips]))

    def start(self, ctx: RunContext) -> Callable[[Frontier], Frontier]:
        def follow(upstream: Frontier) -> Frontier:
            if upstream.done:
                write_json(ctx.run.export / "echo.json", [list(c) for c in upstream.get(TALLY)])
            return upstream

        return follow
