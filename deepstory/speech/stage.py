"""Each sentence in its character's voice -> ``temp/speech/sNNNNNN.wav``; then the timeline.

With every sentence's speech come its phone timings, ``temp/phones/sNNNNNN.json``:
``{"text": ..., "source": "piper" | "espeak" | "pocketsphinx", "phones": [[name, start s, end s], ...] | null}``.
They come from the engine where it times its own sounds (a Piper voice's frame
counts per phoneme, eSpeak NG's phoneme events:
:meth:`~deepstory.speech.base.SpeechBackend.phones`), otherwise from
forced alignment of the speech with the text (pocketsphinx,
:func:`deepstory.phones.align`); ``null`` where neither gives any.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from deepstory.cache import Cache
from deepstory.errors import UserError
from deepstory.files import read_json, write_json
from deepstory.kernel.stage import Frontier, Stage
from deepstory.media import read_wav, wav_frames, write_wav
from deepstory.phones import Aligner, align
from deepstory.scene import SceneContext
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.files import SpeechFiles
from deepstory.story.files import StoryFiles
from deepstory.timeline import Segment, build_segments

EngineFactory = Callable[[], SpeechBackend]
ALIGNED = "pocketsphinx"  # the "source" of phones found by forced alignment
#: The frontier name of the sentences spoken so far, laid end to end (``Segment`` s, in story order).
SEGMENTS = "segments"


class SpeechStage(Stage[SceneContext]):
    """Speaks every sentence, then lays the sentences end to end: ``temp/timeline.json``.

    ``tts`` (``models.tts``) speaks for every character whose voice names no
    other engine; ``engines`` (``models.engines``, built only when a character
    names one with ``voice.engine``) speak for the others.  Before any
    synthesis every character's voice is checked (files, speakers); each voice
    file is released after the last sentence that uses it.

    ``phones``: ``true`` (or ``engine``) times the phones of every sentence,
    from the engine where it gives them, else by alignment; ``align`` always
    aligns (pocketsphinx); ``false`` makes none (mouths follow loudness).
    """

    def __init__(
        self,
        tts: SpeechBackend,
        engines: Mapping[str, EngineFactory] | None = None,
        phones: bool | str | None = True,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.tts = tts
        self.engines = dict(engines or {})
        self.phones = _phone_mode(phones)
        self._built: dict[str, SpeechBackend] = {}  # the engines characters name, built once

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
            extra = (cls.extra if isinstance(cls, type) and issubclass(cls, SpeechBackend) else "") or name
            try:
                self._built[name] = factory()
            except UserError as exc:
                raise UserError(f"{where}: {exc}") from None
            except (ImportError, OSError, RuntimeError) as exc:
                raise UserError(f"{where}: the engine cannot start ({exc}): pip install 'deepstory[{extra}]'") from None
        return self._built[name]

    def check(self, ctx: SceneContext) -> None:
        for speaker in StoryFiles(ctx.run).speakers():
            voice = voice_of(ctx, speaker)
            engine = self.engine_for(voice)
            engine.identity()
            for warning in engine.prepare(voice):
                ctx.progress.warn(warning)

    leads = True
    publishes = (SEGMENTS,)

    def run(self, ctx: SceneContext) -> None:
        self.lead(ctx, lambda frontier: None)

    def lead(self, ctx: SceneContext, publish: Callable[[Frontier], None]) -> None:
        """Speak the sentences in order; after each, ``publish`` the sentences spoken so far, laid end to end."""
        files = SpeechFiles(ctx.run)
        sentences = StoryFiles(ctx.run).sentences()
        rate = ctx.media.sample_rate
        voices = {s: voice_of(ctx, s) for s in dict.fromkeys(x.speaker for x in sentences)}
        engines = {s: self.engine_for(v) for s, v in voices.items()}
        keys = {s: (engines[s].identity(), engines[s].voice_identity(v)) for s, v in voices.items()}
        # A voice file is released after the last sentence that needs it.
        last = {(id(engines[x.speaker]), engines[x.speaker].loaded_for(voices[x.speaker])): x.index for x in sentences}
        unaligned = []
        spoken: list[Segment] = []  # the sentences so far, laid end to end
        text, said = sum(len(s.text) + 1 for s in sentences), 0
        aligner = Aligner()  # one decoder for this run's sentences
        try:
            for i in ctx.progress.steps("Speaking sentences", len(sentences)):
                sentence = sentences[i]
                voice, engine = voices[sentence.speaker], engines[sentence.speaker]
                out = self.output(
                    files.speech(sentence.index), *keys[sentence.speaker], sentence.text, voice.settings()
                )
                self.make(ctx, out, partial(_speak, engine, sentence.text, voice, rate))
                if self.phones is not None:  # cached with the speech: keyed by it and by where timings come from
                    own = engine.phones_identity() if self.phones == "engine" else None
                    timer = engine if own is not None else None
                    # Counted as the "phones" cache kind: the speech stage's own counts stay one per sentence.
                    timed = Cache.output("phones", files.phones(sentence.index), out.key, own or {"source": ALIGNED})
                    self.make(ctx, timed, partial(_time_phones, timer, voice, out.dest, sentence.text, aligner))
                    if read_json(timed.dest).get("phones") is None:
                        unaligned.append(sentence.index)
                if last[(id(engine), engine.loaded_for(voice))] == sentence.index:
                    engine.release(voice)
                start = spoken[-1].end if spoken else 0
                spoken += build_segments([sentence], [wav_frames(out.dest)], rate, [out.key], start=start)
                said += len(sentence.text) + 1
                ctx.progress.expect_frames(ctx.media.frame_at(spoken[-1].end) * text / said)  # the story so far
                if i + 1 < len(sentences):
                    publish(Frontier().publish(SEGMENTS, spoken))
        finally:
            aligner.close()
        if unaligned:
            ctx.progress.warn(
                f"{len(unaligned)} sentence(s) could not be aligned to their text (first: "
                f"{unaligned[0]}); their mouths follow loudness"
            )
        write_json(files.voices, {s: {"voice": engines[s].describe(v), **v.settings()} for s, v in voices.items()})
        write_json(files.timeline, {"sample_rate": rate, "segments": [vars(s) for s in spoken]})
        publish(Frontier(done=True).publish(SEGMENTS, spoken))

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


def voice_of(ctx: SceneContext, speaker: str) -> Voice:
    """The speaker's voice, from ``speakers.<speaker>.voice``; a one-line error names the bad value."""
    try:
        return Voice.from_config(ctx.cast.config[speaker].get("voice"), speaker)
    except ValueError as exc:
        raise UserError(f"speakers.{speaker}: {exc}") from exc


def _phone_mode(value: bool | str | None) -> str | None:
    """``stages.speech.phones`` as "engine", "align" or None (off)."""
    if value is None or value is False or str(value).lower() in ("false", "off", "none", "null"):
        return None
    if value is True or str(value).lower() in ("true", "engine"):
        return "engine"
    if str(value).lower() == "align":
        return "align"
    raise UserError(f"stages.speech.phones={value}: expected true (engine, else alignment), align or false")


def _time_phones(
    engine: SpeechBackend | None, voice: Voice, speech: Path, text: str, aligner: Aligner, tmp: Path
) -> None:
    """The phones of one sentence's speech file: from ``engine`` if given and it times them, else by alignment.

    ``null`` when neither gives any.
    """
    phones, source = None, ALIGNED
    if engine is not None:
        phones, source = engine.phones(text, voice), engine.phone_source
    if phones is None:
        audio, rate = read_wav(speech)
        phones, source = align(audio, rate, text, aligner), ALIGNED
    listed = None if phones is None else [[p.name, p.start, p.end] for p in phones]
    write_json(tmp, {"text": text, "source": source, "phones": listed})
