"""The first stage: the story text -> ``temp/story.json`` (sentences, speakers, pauses, images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from deepstory.errors import ImageError, StoryError, UserError
from deepstory.files import write_json
from deepstory.kernel.stage import Stage
from deepstory.portrait.cast import Cast
from deepstory.scene import SceneContext
from deepstory.story.files import StoryFiles
from deepstory.story.parse import SpeakerMapper, Story, parse_story


def read_story_text(text_path: str | Path, encoding: str = "utf-8") -> tuple[str, Path]:
    """The story file's text (BOM dropped), or a one-line error naming ``story.text_path``/``story.encoding``."""
    path = Path(str(text_path)).expanduser()
    if path.is_dir():
        raise UserError(f"story.text_path={path}: is a directory, not a text file")
    if not path.is_file():
        raise UserError(f"story.text_path={path}: no such file")
    try:
        "".encode(encoding)
    except LookupError:
        raise UserError(f"story.encoding={encoding!r}: unknown encoding") from None
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"story.text_path={path}: not valid {encoding} at byte {exc.start} (set story.encoding=...)"
        ) from exc
    return text.lstrip("\ufeff"), path


class StoryStage(Stage[SceneContext]):
    """Parse the story and check every speaker it uses (portraits, faces) before any synthesis (the speech
    stage checks their voices).

    Settings come from the ``story`` group and ``max_words``.
    """

    quick = True

    def __init__(
        self,
        text_path: str,
        encoding: str = "utf-8",
        default_speaker: str = "Narrator",
        speaker_map: Mapping[str, str] | None = None,
        max_words: int = 25,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.text_path, self.encoding = str(text_path), str(encoding)
        self.default_speaker = str(default_speaker)
        self.speaker_map = dict(speaker_map or {})
        self.max_words = int(max_words)

    def parse(self, cast: Cast) -> tuple[Story, Path]:
        """The story file parsed for the configured ``cast`` (reads only the text), and its path."""
        text, path = read_story_text(self.text_path, self.encoding)
        mapper = SpeakerMapper(cast.names, self.default_speaker, self.speaker_map)
        story = parse_story(text, mapper, {s: len(cast.images(s)) for s in cast.names}, max_words=self.max_words)
        return story, path

    def speakers(self, cast: Cast) -> list[str]:
        """The story's speakers in order of appearance (the driver asks, where the frame size follows the cast)."""
        return self.parse(cast)[0].speakers

    def run(self, ctx: SceneContext) -> None:
        cast = ctx.cast
        story, path = self.parse(cast)
        if not story.sentences:
            raise StoryError(f"story.text_path={path}: nothing to say (no line has a word the voices can speak)")
        for speaker in story.speakers:
            try:
                for image in sorted({s.image for s in story.sentences if s.speaker == speaker} | {0}):
                    cast.portrait(speaker, ctx.media.size, image)
            except ImageError:
                raise
            except (OSError, ValueError) as exc:
                raise UserError(f"speakers.{speaker}: {exc}") from exc
        for line in story.skipped_lines:
            ctx.progress.warn(f"story line {line}: nothing to say, skipped")
        for line, piece in story.skipped_text:
            ctx.progress.warn(f"story line {line}: cannot speak {piece!r}, skipped")
        record: dict[str, Any] = {
            "source": str(path),
            "speaker_of": story.speaker_of,
            "skipped_lines": story.skipped_lines,
            "skipped_text": story.skipped_text,
            "sentences": [vars(s) for s in story.sentences],
        }
        write_json(StoryFiles(ctx.run).story, record)
