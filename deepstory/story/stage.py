"""The first stage: the story text -> ``temp/story.json`` (sentences, speakers, pauses, images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from deepstory.errors import ImageError, StoryError, UserError
from deepstory.files import write_json
from deepstory.kernel.stage import Stage
from deepstory.portrait.cast import Cast
from deepstory.scene import SceneContext
from deepstory.script.source import Source, load, speakers_of
from deepstory.story.files import StoryFiles
from deepstory.story.parse import SpeakerMapper, Story, parse_story
from deepstory.tagged import norm

#: ``story.cast``'s values.
CASTS = ("auto", "configured")


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
        chapter: int | str | None = None,
        format: str = "auto",
        aliases: str | None = None,
        cast: str = "auto",
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.text_path, self.encoding = str(text_path), str(encoding)
        self.default_speaker = str(default_speaker)
        self.speaker_map = dict(speaker_map or {})
        self.max_words = int(max_words)
        self.chapter, self.format = chapter, str(format)
        self.aliases = None if aliases is None else str(aliases)
        if cast not in CASTS:
            raise UserError(f"story.cast={cast!r}: must be one of {', '.join(CASTS)}")
        self.cast = str(cast)

    def source(self) -> Source:
        """The story file as tagged text: a book's prose attributed (deepstory.script.source).  Read again on each
        call (a chapter takes milliseconds): the stage keeps nothing of a run."""
        return load(self.text_path, self.encoding, self.chapter, self.format, self.aliases, self.default_speaker)

    def parse(self, cast: Cast) -> tuple[Story, Source]:
        """The story file parsed for the configured ``cast`` (reads only the text), and what it was read from."""
        source = self.source()
        mapper = SpeakerMapper(cast.names, self.default_speaker, self.speaker_map)
        images = {s: len(cast.images(s)) for s in cast.names}
        return parse_story(source.text, mapper, images, max_words=self.max_words), source

    def book_cast(self, speakers: Mapping[str, Any], folder: Path) -> tuple[dict[str, dict], list[str]]:
        """With ``cast: auto``, a speakers entry (a drawn portrait in ``folder``, a voice of its own) for each
        character of a prose story who is neither a configured speaker nor in ``speaker_map``; and warnings."""
        source = self.source()
        if self.cast != "auto" or not source.prose:
            return {}, []
        # Matched as the story's speaker mapper matches names (deepstory.story.parse.SpeakerMapper).
        taken = {norm(str(n)) for n in speakers} | {norm(str(n)) for n in self.speaker_map}
        characters = [c for c in speakers_of(source, self.default_speaker) if norm(c[0]) not in taken]
        if not characters:
            return {}, []
        from deepstory.script.cast import propose

        return propose(characters, folder, narrator=self.default_speaker)

    def speakers(self, cast: Cast) -> list[str]:
        """The story's speakers in order of appearance (the driver asks, where the frame size follows the cast)."""
        return self.parse(cast)[0].speakers

    def run(self, ctx: SceneContext) -> None:
        cast = ctx.cast
        story, source = self.parse(cast)
        path = source.path
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
        for warning in source.warnings:
            ctx.progress.warn(f"story.text_path={path}: {warning}")
        for line in story.skipped_lines:
            ctx.progress.warn(f"story line {line}: nothing to say, skipped")
        for line, piece in story.skipped_text:
            ctx.progress.warn(f"story line {line}: cannot speak {piece!r}, skipped")
        record: dict[str, Any] = {
            "source": str(path),
            **({"chapter": self.chapter, "title": source.title} if self.chapter is not None else {}),
            "speaker_of": story.speaker_of,
            "skipped_lines": story.skipped_lines,
            "skipped_text": story.skipped_text,
            "sentences": [vars(s) for s in story.sentences],
        }
        write_json(StoryFiles(ctx.run).story, record)
