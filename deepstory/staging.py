"""The story on stage: who the layout keeps on screen for this story, and which of a speaker's images shows when.

Above the story and speech rooms (it reads their files) and below the drawing stages that ask (motion, animate,
lip sync, the manifest).
"""

from __future__ import annotations

from typing import Sequence

from deepstory.scene import SceneContext
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles
from deepstory.timeline import Segment


def on_stage(ctx: SceneContext) -> list[str]:
    """Who the layout keeps on screen (empty: only the speaker)."""
    return ctx.layout.on_stage(StoryFiles(ctx.run).speakers())


def image_runs(ctx: SceneContext, segments: Sequence[Segment] | None = None) -> list[tuple[int, int, int]]:
    """``(image index, first frame, end frame)`` for every sentence of ``segments`` (default: the timeline's)."""
    sentences = StoryFiles(ctx.run).sentences()
    return [
        (sentences[seg.sentence].image, ctx.media.frame_at(seg.start), ctx.media.frame_at(seg.end))
        for seg in (SpeechFiles(ctx.run).segments() if segments is None else segments)
    ]
