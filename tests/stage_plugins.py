"""A stage that is not part of deepstory: added to a render through config alone (tests/test_stages.py)."""

from __future__ import annotations

from collections import Counter

from deepstory.files import write_json
from deepstory.run.context import RunContext
from deepstory.run.stage import Stage


class WordCountStage(Stage):
    """Words per speaker, read from ``temp/story.json`` -> ``export/<filename>``."""

    def __init__(self, filename: str = "words.json", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.filename = filename

    def run(self, ctx: RunContext) -> None:
        words: Counter[str] = Counter()
        for sentence in ctx.files.sentences():
            words[sentence.speaker] += len(sentence.text.split())
        done = [name for name, figures in ctx.progress.stats.items() if "seconds" in figures]  # stages finished
        write_json(ctx.files.export / self.filename, {"stages_before": done, "words": words})
