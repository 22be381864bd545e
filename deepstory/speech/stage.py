"""Each sentence in its speaker's voice -> ``temp/speech/sNNNNNN.wav``; then the timeline."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from deepstory.files import write_json
from deepstory.media import wav_frames, write_wav
from deepstory.run.context import RunContext
from deepstory.run.stage import Stage
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.timeline import build_segments


class SpeechStage(Stage):
    """Speaks every sentence with ``tts`` (``models.tts``), then lays the sentences end to end: ``temp/timeline.json``."""

    def __init__(self, tts: SpeechBackend, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.tts = tts

    def run(self, ctx: RunContext) -> None:
        sentences = ctx.files.sentences()
        identity = self.tts.identity()
        rate = ctx.media.sample_rate
        lengths, keys = [], []
        for i in ctx.progress.steps("Speaking sentences", len(sentences)):
            sentence = sentences[i]
            voice = ctx.cast.voice(sentence.speaker)
            out = self.output(
                ctx.files.speech(sentence.index), identity, sentence.text, voice.pitch, voice.rate, dict(voice.options)
            )
            self.make(ctx, out, partial(self._speak, sentence.text, voice, rate))
            lengths.append(wav_frames(out.dest))
            keys.append(out.key)
        segments = build_segments(sentences, lengths, rate, keys)
        write_json(ctx.files.timeline, {"sample_rate": rate, "segments": [vars(s) for s in segments]})

    def _speak(self, text: str, voice: Voice, rate: int, tmp: Path) -> None:
        write_wav(tmp, self.tts.synthesize(text, voice), rate)

    def close(self) -> None:
        self.tts.close()

    def identity(self) -> dict[str, Any]:
        return {"tts": self.tts.identity()}
