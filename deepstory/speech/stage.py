"""Each sentence in its character's voice -> ``temp/speech/sNNNNNN.wav``; then the timeline."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from deepstory.cache import Cache
from deepstory.errors import UserError
from deepstory.files import read_json, write_json
from deepstory.media import read_wav, wav_frames, write_wav
from deepstory.run.context import RunContext
from deepstory.run.stage import Stage
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.phones import align
from deepstory.timeline import build_segments

EngineFactory = Callable[[], SpeechBackend]


class SpeechStage(Stage):
    """Speaks every sentence, then lays the sentences end to end: ``temp/timeline.json``.

    ``tts`` (``models.tts``) speaks for every character whose voice names no
    other engine; ``engines`` (``models.engines``, built only when a character
    names one with ``voice.engine``) speak for the others.  Before any
    synthesis every character's voice is checked (files, speakers); each voice
    file is released after the last sentence that uses it.
    """

    def __init__(
        self,
        tts: SpeechBackend,
        engines: Mapping[str, EngineFactory] | None = None,
        phones: bool = True,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.tts = tts
        self.engines = dict(engines or {})
        self.phones = bool(phones)
        self._built: dict[str, SpeechBackend] = {}

    def engine_for(self, voice: Voice) -> SpeechBackend:
        """The engine that speaks ``voice``: ``models.tts``, or the engine it names (built once)."""
        name = voice.engine
        if name is None or name == self.tts.engine:
            return self.tts
        if name not in self._built:
            where = f"speakers.{voice.character}.voice.engine={name}"
            factory = self.engines.get(name)
            if factory is None:
                known = sorted({self.tts.engine, *self.engines})
                raise UserError(f"{where}: no such engine (models.engines has: {', '.join(known)})")
            cls = factory.func if isinstance(factory, partial) else factory
            extra = getattr(cls, "extra", "") or name
            try:
                self._built[name] = factory()
            except UserError as exc:
                raise UserError(f"{where}: {exc}") from None
            except (ImportError, OSError, RuntimeError) as exc:
                raise UserError(f"{where}: the engine cannot start ({exc}): pip install 'deepstory[{extra}]'") from None
        return self._built[name]

    def check(self, ctx: RunContext) -> None:
        for speaker in ctx.files.speakers():
            voice = ctx.cast.voice(speaker)
            engine = self.engine_for(voice)
            engine.identity()
            for warning in engine.prepare(voice):
                ctx.progress.warn(warning)

    def run(self, ctx: RunContext) -> None:
        sentences = ctx.files.sentences()
        rate = ctx.media.sample_rate
        voices = {s: ctx.cast.voice(s) for s in dict.fromkeys(x.speaker for x in sentences)}
        engines = {s: self.engine_for(v) for s, v in voices.items()}
        keys = {s: (engines[s].identity(), engines[s].voice_identity(v)) for s, v in voices.items()}
        # A voice file is released after the last sentence that needs it.
        last = {(id(engines[x.speaker]), voices[x.speaker].model): x.index for x in sentences}
        lengths, made, unaligned = [], [], []
        for i in ctx.progress.steps("Speaking sentences", len(sentences)):
            sentence = sentences[i]
            voice, engine = voices[sentence.speaker], engines[sentence.speaker]
            out = self.output(
                ctx.files.speech(sentence.index), *keys[sentence.speaker], sentence.text, voice.settings()
            )
            self.make(ctx, out, partial(_speak, engine, sentence.text, voice, rate))
            lengths.append(wav_frames(out.dest))
            made.append(out.key)
            if self.phones:  # cached with the speech: keyed by it
                # Counted as the "phones" cache kind: the speech stage's own counts stay one per sentence.
                timed = Cache.output("phones", ctx.files.phones(sentence.index), out.key)
                self.make(ctx, timed, partial(_align, out.dest, sentence.text))
                if read_json(timed.dest).get("phones") is None:
                    unaligned.append(sentence.index)
            if last[(id(engine), voice.model)] == sentence.index:
                engine.release(voice)
        if unaligned:
            ctx.progress.warn(
                f"{len(unaligned)} sentence(s) could not be aligned to their text (first: "
                f"{unaligned[0]}); their mouths follow loudness"
            )
        segments = build_segments(sentences, lengths, rate, made)
        write_json(ctx.files.timeline, {"sample_rate": rate, "segments": [vars(s) for s in segments]})

    def close(self) -> None:
        self.tts.close()
        for engine in self._built.values():
            engine.close()  # kept for identity(): closed engines reload on use

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"tts": self.tts.identity()}
        if self._built:
            identity["engines"] = {name: engine.identity() for name, engine in self._built.items()}
        return identity


def _speak(engine: SpeechBackend, text: str, voice: Voice, rate: int, tmp: Path) -> None:
    write_wav(tmp, engine.synthesize(text, voice), rate)


def _align(speech: Path, text: str, tmp: Path) -> None:
    """The phones of one sentence's speech file, by forced alignment; ``null`` when it fails."""
    audio, rate = read_wav(speech)
    phones = align(audio, rate, text)
    write_json(tmp, {"text": text, "phones": None if phones is None else [[p.name, p.start, p.end] for p in phones]})
