"""eSpeak NG backend: formant synthesis through the library shipped by ``espeakng_loader``.

The PyPI package ``espeakng_loader`` carries a build of ``libespeak-ng`` and its
``espeak-ng-data`` directory, so no system installation is involved.  The library is
driven directly through :mod:`ctypes`:

* ``espeak_Initialize`` runs once per process, in synchronous mode, on first use
  (never at import time); its return value is the native sample rate (22050 Hz).
* A synth callback collects the int16 chunks that ``espeak_Synth`` produces and
  the phoneme events that come with them (``espeakINITIALIZE_PHONEME_EVENTS``;
  enabling them leaves the samples bit-identical, measured): every phoneme's
  eSpeak mnemonic and the sample it starts at.  :meth:`EspeakSpeech.phones`
  turns them into the sentence's phone timings
  (:mod:`deepstory.speech.espeak_phonemes`), so eSpeak speech needs no forced
  alignment.
* eSpeak keeps everything (voice, rate, pitch, the callback, random seed) in global
  state, so every call into the library happens under one module-level lock, and the
  voice and all parameters are set again before each utterance.

Determinism
-----------
Setting the voice, the parameters and the random seed is not enough: the waveform
generators keep a few free-running counters in function-local ``static`` variables
that no API call resets (``Flutter_ix`` and ``cycle_count`` in wavegen.c, the pitch
flutter and cycle counters; ``time_count`` in the Klatt generator).  Each utterance
therefore started where the previous one stopped and the same sentence came out a
few samples different every time, in a different way for every call.  To give every
utterance the state of a freshly initialised library, the addresses of those
variables are looked up in the shared object's ELF symbol table (the wheel's library
is not stripped), their values are saved right after ``espeak_Initialize`` and
written back before every ``espeak_Synth``.  If a build lacks the symbols the
backend still works but warns that repeated calls may differ.

Pitch mapping
-------------
``Voice.pitch`` is in semitones; eSpeak's ``espeakPITCH`` is an integer 0..100 where
50 is the voice's natural pitch.  Measured on this library (eSpeak NG 1.52, median F0
of two sentences for the voices en-us, +m1, +m3, +f2 and +f4 at ``espeakRANGE`` 50),
the parameter is *not* linear in Hz: the Hz-per-step slope roughly triples from the
bottom to the top of the scale, while the shift in semitones grows almost steadily,
about 0.15 semitone per step below 50 and 0.17 above.  The mapping therefore inverts
that measured curve (``_PITCH_CALIBRATION``: parameter -> semitones relative to 50,
spread between voices under 0.3 semitone above 25 and about 0.4 below) by linear
interpolation::

    espeakPITCH = round(interp(st(base_pitch) + semitones, calibration))

It is monotonic, exactly ``base_pitch`` at 0 semitones and the same for every voice.
eSpeak can only move about -7.0..+8.8 semitones from 50, so larger shifts clamp to
0 or 100.  ``pitch_range`` goes to ``espeakRANGE`` unchanged (0 = monotone,
50 = natural intonation).
"""

from __future__ import annotations

import ctypes
import math
import os
import struct
import threading
import warnings
from typing import Any

import numpy as np

from deepstory.errors import UserError
from deepstory.phones import Phone
from deepstory.speech.base import SpeechBackend, Voice
from deepstory.speech.espeak_phonemes import ARPABET, TIMING_VERSION, PhonemeEvent, timed_phones
from deepstory.speech.shaping import shape

__all__ = ["EspeakSpeech", "pitch_parameter"]

# --- constants from eSpeak NG's speak_lib.h ------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_espeakINITIALIZE_PHONEME_EVENTS = 0x0001  # send an espeakEVENT_PHONEME for every phoneme
_espeakINITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_espeakEVENT_LIST_TERMINATED = 0
_espeakEVENT_PHONEME = 7
_MAX_EVENTS = 100_000  # per callback: a list that never terminates is read no further
_espeakCHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_EE_NOT_FOUND = 2
_espeakRATE = 1
_espeakVOLUME = 2
_espeakPITCH = 3
_espeakRANGE = 4

_RATE_MIN, _RATE_MAX = 80, 450  # words per minute eSpeak accepts
_PITCH_MIN, _PITCH_MAX = 0, 100
_RANGE_MIN, _RANGE_MAX = 0, 100
_VOLUME = 100  # eSpeak's default amplitude
_RAND_SEED = 1  # reseeded before each utterance so noisy voices repeat exactly
_BUFFER_MS = 200  # audio chunk length handed to the callback

# Free-running generator counters reset before every utterance (see "Determinism").
# Function-local statics appear in the symbol table as "<name>.<number>".
_GENERATOR_STATE = ("Flutter_ix", "cycle_count", "time_count")

# espeakPITCH value -> measured median-F0 shift in semitones relative to 50 (module doc).
_PITCH_CALIBRATION = (
    (0, -7.0), (10, -5.8), (20, -4.6), (30, -3.0), (40, -1.6), (50, 0.0),
    (60, 1.7), (70, 3.4), (80, 5.2), (90, 7.1), (100, 8.8),
)  # fmt: skip


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms into the utterance's samples
        ("sample", ctypes.c_int),  # the same in samples (exact; measured, see espeak_phonemes)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),  # id.string: the phoneme's mnemonic for espeakEVENT_PHONEME
    ]


# int callback(short *wav, int numsamples, espeak_EVENT *events); non-zero aborts.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

# --- process-wide library state (all guarded by _LOCK) --------------------------------
_LOCK = threading.RLock()
_state: "_Library | None" = None


class _Library:
    """The loaded and initialised library plus the buffer its callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise UserError("eSpeak NG is not installed: pip install 'deepstory[espeak]'") from exc
        try:
            lib_path = espeakng_loader.get_library_path()
            data_path = espeakng_loader.get_data_path()
        except Exception as exc:  # noqa: BLE001 - the loader raises bare RuntimeError/OSError
            raise RuntimeError(f"eSpeak NG: espeakng_loader cannot locate its files ({exc})") from exc
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise RuntimeError(f"eSpeak NG: cannot load library {lib_path!r} ({exc})") from exc
        self._declare(lib)

        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _BUFFER_MS,
            os.fsencode(data_path),
            _espeakINITIALIZE_DONT_EXIT | _espeakINITIALIZE_PHONEME_EVENTS,
        )
        if rate <= 0:
            raise RuntimeError(
                f"eSpeak NG: espeak_Initialize failed with {rate} (library {lib_path!r}, data {data_path!r})"
            )
        self.lib = lib
        self.data_path = data_path
        self.native_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"unknown").decode("utf-8", "replace")
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
            self._set_seed.restype = None

        self._chunks: list[bytes] = []
        self._events: list[PhonemeEvent] = []
        self._collected = 0  # samples received so far in this utterance
        # Kept on the instance: the C side only holds a raw pointer to it.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

        # (address, bytes right after initialisation) of each generator counter.
        self._pristine = _locate_state(lib, lib_path, _GENERATOR_STATE)
        if self._pristine is None:
            warnings.warn(
                f"eSpeak NG: cannot find the generator state variables in {lib_path!r}; "
                "repeated synthesis of the same text may differ slightly",
                RuntimeWarning,
                stacklevel=3,
            )

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # size in bytes, terminator included
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique_identifier
            ctypes.c_void_p,  # user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p

    def _collect(self, wav, numsamples, events) -> int:
        start = self._collected
        if numsamples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short)))
            self._collected += numsamples
        if events:
            for i in range(_MAX_EVENTS):
                event = events[i]
                if event.type == _espeakEVENT_LIST_TERMINATED:
                    break
                if event.type == _espeakEVENT_PHONEME:
                    name = event.id.string.decode("utf-8", "replace")
                    self._events.append(
                        PhonemeEvent(name, int(event.sample), int(event.audio_position), start, self._collected)
                    )
        return 0

    def _check(self, what: str, code: int) -> None:
        if code != _EE_OK:
            raise RuntimeError(f"eSpeak NG: {what} failed with code {code}")

    def select_voice(self, voice_name: str) -> None:
        """Make ``voice_name`` current; ValueError if eSpeak does not know it.  Hold ``_LOCK``."""
        code = self.lib.espeak_SetVoiceByName(voice_name.encode("utf-8"))
        if code == _EE_NOT_FOUND:
            raise ValueError(
                f"eSpeak NG has no voice {voice_name!r} (a language must be a voice file name under "
                "espeak-ng-data/lang, such as 'en', 'en-us', 'de' or 'fr')"
            )
        self._check(f"espeak_SetVoiceByName({voice_name!r})", code)

    def speak(
        self, text: str, voice_name: str, rate: int, pitch: int, pitch_range: int
    ) -> tuple[np.ndarray, list[PhonemeEvent]]:
        """Synthesize ``text``: the raw int16 samples at ``native_rate`` and its phoneme events, in order.

        Callers must hold ``_LOCK``.
        """
        lib = self.lib
        self.select_voice(voice_name)
        # Selecting a voice resets some parameters, so these come after it.
        for name, param, value in (
            ("espeakRATE", _espeakRATE, rate),
            ("espeakPITCH", _espeakPITCH, pitch),
            ("espeakRANGE", _espeakRANGE, pitch_range),
            ("espeakVOLUME", _espeakVOLUME, _VOLUME),
        ):
            self._check(f"espeak_SetParameter({name}={value})", lib.espeak_SetParameter(param, value, 0))
        if self._set_seed is not None:
            self._set_seed(_RAND_SEED)
        for address, saved in self._pristine or ():
            ctypes.memmove(address, saved, len(saved))

        data = text.encode("utf-8", "replace") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        self._chunks, self._events, self._collected = [], [], 0
        try:
            code = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _espeakCHARS_UTF8, None, None)
            self._check("espeak_Synth", code)
            self._check("espeak_Synchronize", lib.espeak_Synchronize())
            raw, events = b"".join(self._chunks), self._events
        finally:
            self._chunks, self._events, self._collected = [], [], 0
        return np.frombuffer(raw, dtype="<i2").copy(), events


def _elf_symbols(path: str) -> tuple[dict[str, tuple[int, int, int]], list[int]]:
    """Read an ELF64 little-endian file's ``.symtab``.

    Returns ``{name: (value, size, section index)}`` and every section's flags.
    Raises ValueError for anything that is not such a file.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # (type, flags, offset, size, link) of each section header
    sections = [struct.unpack_from("<4xIQ8xQQI", data, shoff + i * shentsize) for i in range(shnum)]
    symbols: dict[str, tuple[int, int, int]] = {}
    for sh_type, _flags, offset, size, link in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab = sections[link][2]
        for entry in range(offset, offset + size, 24):
            name_off, _info, _other, shndx, value, sym_size = struct.unpack_from("<IBBHQQ", data, entry)
            start = strtab + name_off
            name = data[start : data.index(b"\0", start)].decode("ascii", "replace")
            symbols[name] = (value, sym_size, shndx)
    return symbols, [flags for _type, flags, *_ in sections]


def _locate_state(lib: ctypes.CDLL, lib_path: str, names: tuple[str, ...]) -> list[tuple[int, bytes]] | None:
    """Addresses and current contents of the named static variables, or None if any is missing."""
    try:
        symbols, section_flags = _elf_symbols(lib_path)
    except (OSError, ValueError, struct.error):
        return None
    anchor = symbols.get("espeak_Synth")
    if anchor is None:
        return None
    address = ctypes.cast(lib.espeak_Synth, ctypes.c_void_p).value
    if address is None:
        return None
    load_base = address - anchor[0]
    state = []
    for name in names:
        found = [
            sym
            for sym_name, sym in symbols.items()
            if sym_name == name or (sym_name.startswith(name + ".") and sym_name[len(name) + 1 :].isdigit())
        ]
        if len(found) != 1:
            return None
        value, size, shndx = found[0]
        writable = 0 < shndx < len(section_flags) and section_flags[shndx] & 0x1  # SHF_WRITE
        if not writable or not 0 < size <= 64:
            return None
        state.append((load_base + value, ctypes.string_at(load_base + value, size)))
    return state


def _library() -> _Library:
    global _state
    with _LOCK:
        if _state is None:
            _state = _Library()
        return _state


def pitch_parameter(semitones: float, base_pitch: int = 50) -> int:
    """eSpeak's 0..100 ``espeakPITCH`` value for a shift of ``semitones`` from ``base_pitch``."""
    params = [float(p) for p, _ in _PITCH_CALIBRATION]
    shifts = [st for _, st in _PITCH_CALIBRATION]
    base = min(_PITCH_MAX, max(_PITCH_MIN, int(base_pitch)))
    target = float(np.interp(base, params, shifts)) + float(semitones)
    value = float(np.interp(target, shifts, params))  # clamps outside the measured span
    return int(min(_PITCH_MAX, max(_PITCH_MIN, round(value))))


def _spoken_span(samples: np.ndarray) -> tuple[int, int] | None:
    """First and last non-zero sample (eSpeak pads utterances with exact zeros), or None if all are zero."""
    nonzero = np.flatnonzero(samples)
    if nonzero.size == 0:
        return None
    return int(nonzero[0]), int(nonzero[-1])


class EspeakSpeech(SpeechBackend):
    """Rule-based eSpeak NG voices; ``voice.options["variant"]`` picks an eSpeak variant.

    ``pitch`` and ``rate`` are eSpeak's own; ``formant`` is shaped with the WORLD
    vocoder (:mod:`deepstory.speech.shaping`) at eSpeak's native rate.

    :meth:`phones` gives each sentence's phone timings from eSpeak's own phoneme
    events.  They stay true to the samples :meth:`synthesize` returns: both trim
    the same leading and trailing zeros, the rate change is eSpeak's own (the
    events are timed after it), WORLD shaping keeps every sample where it was
    (same length, no time change), and resampling to ``sample_rate`` keeps times
    in seconds.

    ``language`` is an eSpeak voice file name (``espeak-ng-data/lang/*/<name>``, matched
    case-insensitively): "en-us", "en" (British English), "de", "fr", ...  Language tags
    that are not file names, such as "en-gb", are not found by ``espeak_SetVoiceByName``.
    ``base_rate_wpm`` is the speed at ``Voice.rate`` 1.0, ``base_pitch`` the ``espeakPITCH``
    value at ``Voice.pitch`` 0 and ``pitch_range`` the ``espeakRANGE`` value (intonation
    width).  Variants are the files in ``espeak-ng-data/voices/!v`` ("m3", "f2", "klatt").
    """

    engine = "espeak"
    extra = "espeak"
    phone_source = "espeak"  # its own phoneme events

    def __init__(
        self,
        sample_rate: int,
        language: str = "en-us",
        base_rate_wpm: int = 175,
        base_pitch: int = 50,
        pitch_range: int = 50,
    ) -> None:
        super().__init__(sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not language or "+" in language or "/" in language or "\0" in language:
            raise ValueError(f"invalid eSpeak language {language!r}")
        if not _PITCH_MIN <= int(base_pitch) <= _PITCH_MAX:
            raise ValueError(f"base_pitch {base_pitch} is outside {_PITCH_MIN}..{_PITCH_MAX}")
        if not _RANGE_MIN <= int(pitch_range) <= _RANGE_MAX:
            raise ValueError(f"pitch_range {pitch_range} is outside {_RANGE_MIN}..{_RANGE_MAX}")
        if int(base_rate_wpm) <= 0:
            raise ValueError(f"base_rate_wpm must be positive, got {base_rate_wpm}")
        self.language = language
        self.base_rate_wpm = int(base_rate_wpm)
        self.base_pitch = int(base_pitch)
        self.pitch_range = int(pitch_range)
        self._lib = _library()  # loads and initialises the library on first construction
        # The phones of the last utterance spoken: the speech stage asks for them right after synthesis.
        self._last_phones: tuple[tuple[str, str, int, int], list[Phone] | None] | None = None
        with _LOCK:
            self._lib.select_voice(language)  # unknown language -> ValueError now, not mid-render

    # -- parameter mapping ------------------------------------------------------------
    def voice_name(self, voice: Voice) -> str:
        """``language`` or ``language+variant``; raises ValueError for an unknown variant."""
        variant = voice.options.get("variant")
        if variant is None or variant == "":
            return self.language
        variant = str(variant)
        variants_dir = os.path.join(self._lib.data_path, "voices", "!v")
        safe = variant not in (".", "..") and not any(c in variant for c in "/\\+\0")
        if not safe or not os.path.isfile(os.path.join(variants_dir, variant)):
            raise ValueError(
                f"unknown eSpeak variant {variant!r} (no file voices/!v/{variant} in {self._lib.data_path})"
            )
        return f"{self.language}+{variant}"

    def prepare(self, voice: Voice) -> list[str]:
        """Warns where ``voice`` sets what eSpeak NG does not use (a Piper voice file or speaker)."""
        where = f"speakers.{voice.character}.voice" if voice.character else "voice"
        return [
            f"{where}.{key}={value}: eSpeak NG speaks this character and ignores it (set voice.variant instead)"
            for key, value in (("model", voice.model), ("speaker", voice.speaker))
            if value is not None
        ]

    def describe(self, voice: Voice) -> str:
        return f"espeak {self.voice_name(voice)}"

    def rate_wpm(self, voice: Voice) -> int:
        return int(min(_RATE_MAX, max(_RATE_MIN, round(self.base_rate_wpm * voice.rate))))

    def pitch_value(self, voice: Voice) -> int:
        return pitch_parameter(voice.pitch, self.base_pitch)

    # -- SpeechBackend ----------------------------------------------------------------
    def _speak(self, text: str, voice: Voice) -> tuple[np.ndarray, tuple[int, int] | None]:
        """eSpeak's raw samples for ``text`` and their spoken span; remembers the utterance's phones."""
        name, rate, pitch = self.voice_name(voice), self.rate_wpm(voice), self.pitch_value(voice)
        with _LOCK:
            samples, events = self._lib.speak(text, name, rate, pitch, self.pitch_range)
        span = _spoken_span(samples)
        phones = None
        if span is not None:
            phones = timed_phones(events, span[0], span[1], len(samples), self._lib.native_rate)
        self._last_phones = ((text, name, rate, pitch), phones)
        return samples, span

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        text = text.replace("\0", " ")
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        samples, span = self._speak(text, voice)
        if span is None:
            return np.zeros(0, dtype=np.float32)
        audio = samples[span[0] : span[1] + 1].astype(np.float32) / np.float32(32768.0)
        native = self._lib.native_rate
        if voice.formant != 1.0:
            audio = np.clip(shape(audio, native, 0.0, voice.formant), -1.0, 1.0)
        if self.sample_rate != native:
            from scipy.signal import resample_poly

            g = math.gcd(self.sample_rate, native)
            audio = resample_poly(audio, self.sample_rate // g, native // g).astype(np.float32)
            np.clip(audio, -1.0, 1.0, out=audio)
        return audio

    def phones(self, text: str, voice: Voice) -> list[Phone] | None:
        """The phones of ``synthesize(text, voice)``, from eSpeak's phoneme events (module doc).

        Reuses the events of the utterance just synthesized; otherwise speaks
        ``text`` again without shaping (deterministic: the same events).
        ``None`` when eSpeak sent none that can be trusted (nothing spoken,
        eSpeak's sonic speed-up at 450 wpm): the speech stage aligns instead.
        """
        text = text.replace("\0", " ")
        if not text.strip():
            return None
        key = (text, self.voice_name(voice), self.rate_wpm(voice), self.pitch_value(voice))
        if self._last_phones is None or self._last_phones[0] != key:
            self._speak(text, voice)
        assert self._last_phones is not None
        phones = self._last_phones[1]
        return None if phones is None else list(phones)

    def phones_identity(self) -> dict[str, Any]:
        return {
            "source": self.phone_source,
            "espeak_version": self._lib.version,
            "timing": TIMING_VERSION,
            "table": sorted(ARPABET.items()),
        }

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident.update(
            language=self.language,
            base_rate_wpm=self.base_rate_wpm,
            base_pitch=self.base_pitch,
            pitch_range=self.pitch_range,
            espeak_version=self._lib.version,
        )
        return ident
