"""Story text -> sentences: the line format, sentence splitting, speakers, pauses."""

from deepstory.story.parse import Sentence, SpeakerMapper, Story, parse_story, speakable, split_line
from deepstory.story.sentences import LINE_PAUSE, limit_length, pause_after, split_sentences

__all__ = [
    "LINE_PAUSE",
    "Sentence",
    "SpeakerMapper",
    "Story",
    "limit_length",
    "parse_story",
    "pause_after",
    "speakable",
    "split_line",
    "split_sentences",
]
