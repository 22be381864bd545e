"""The story stage's files: ``temp/story.json`` (the sentences with their speakers and pauses) and its loaders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.files import read_json
from deepstory.kernel.context import RunDir
from deepstory.story.parse import Sentence


@dataclass(frozen=True)
class StoryFiles:
    run: RunDir

    @property
    def story(self) -> Path:
        return self.run.temp / "story.json"

    def sentences(self) -> list[Sentence]:
        return [Sentence(**s) for s in read_json(self.story)["sentences"]]

    def speakers(self) -> list[str]:
        """The configured speakers who speak, in order of first appearance."""
        return list(dict.fromkeys(s.speaker for s in self.sentences()))
