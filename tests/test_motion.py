"""The motion track: mouth follows loudness, shut in silence, independent of chunking."""

from __future__ import annotations

import numpy as np

from deepstory.motion.envelope import EnvelopeMotion
from deepstory.track import FACE

SR, FPS = 22050, 25


def _story_audio(seconds: float = 12.0) -> np.ndarray:
    """Bursts of a voiced-like tone separated by silences, deterministic."""
    t = np.arange(int(seconds * SR)) / SR
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))  # a buzz with speech-band harmonics
    tone = 0.25 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    gate = ((t % 3.0) < 1.8).astype(np.float32)  # 1.8 s "speech", 1.2 s silence
    return (tone * gate).astype(np.float32)


def _reader(audio):
    def read(start, stop):
        out = np.zeros(stop - start, dtype=np.float32)
        lo, hi = max(0, start), min(len(audio), stop)
        if lo < hi:
            out[lo - start : hi - start] = audio[lo:hi]
        return out

    return read


def test_mouth_open_in_speech_shut_in_silence():
    audio = _story_audio()
    motion = EnvelopeMotion(SR, FPS, seed=1)
    frames = len(audio) * FPS // SR
    track = motion.track(_reader(audio), 0, frames, "A")
    assert track.shape == (frames, FACE.width) and track.dtype == np.float32
    t = (np.arange(frames) + 0.5) / FPS
    speech = ((t % 3.0) > 0.2) & ((t % 3.0) < 1.6)
    silence = ((t % 3.0) > 2.0) & ((t % 3.0) < 2.8)
    mouth = track[:, FACE.index("open")]
    assert mouth[speech].mean() > 0.5
    assert (mouth[silence] == 0).mean() >= 0.95


def test_track_does_not_depend_on_chunking():
    audio = _story_audio()
    motion = EnvelopeMotion(SR, FPS, seed=3)
    frames = len(audio) * FPS // SR
    whole = motion.track(_reader(audio), 0, frames, "A")
    cuts = [0, 7, 61, 62, 150, frames]
    pieces = [motion.track(_reader(audio), a, b - a, "A") for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_blinks_are_seeded_and_natural():
    silent = np.zeros(60 * SR, dtype=np.float32)
    frames = 60 * FPS
    a = EnvelopeMotion(SR, FPS, seed=5).track(_reader(silent), 0, frames, "A")
    b = EnvelopeMotion(SR, FPS, seed=5).track(_reader(silent), 0, frames, "A")
    c = EnvelopeMotion(SR, FPS, seed=6).track(_reader(silent), 0, frames, "A")
    np.testing.assert_array_equal(a, b)
    blink = a[:, FACE.index("blink")]
    assert not np.array_equal(blink, c[:, FACE.index("blink")])
    closed = blink > 0.9
    onsets = np.flatnonzero(closed[1:] & ~closed[:-1])
    assert 8 <= len(onsets) <= 30  # a blink every 2 to 7 seconds
    assert closed.mean() < 0.1
    head = a[:, FACE.index("roll")]
    assert 0.2 < np.abs(head).max() < 3.0  # slight, visible head motion


def test_mouth_shape_follows_the_vowels():
    """Spread vowels (ee) widen the mouth, rounded ones (oo) narrow it: measured on real Piper speech."""
    from deepstory.speech import Voice
    from deepstory.speech.piper import PiperSpeech

    piper = PiperSpeech(SR)
    motion = EnvelopeMotion(SR, FPS)

    def mean_width(text):
        audio = piper.synthesize(text, Voice())
        track = motion.track(_reader(audio), 0, len(audio) * FPS // SR, "A")
        open_ = track[:, FACE.index("open")] > 0.2
        return track[open_, FACE.index("width")].mean()

    spread = mean_width("We see three green trees, eating cheese with Steve.")
    rounded = mean_width("Who knew two blue moons loomed over June?")
    assert spread > rounded + 0.2, (spread, rounded)


def test_the_tongue_rises_for_l_and_th_and_lies_low_for_vowels_and_p():
    # The tongue channel follows the sound being made: up for L and TH, part way for T, D, N, down elsewhere.
    from deepstory.motion.visemes import VisemeMotion
    from deepstory.phones import Phones

    sr, fps = 22050, 25
    frame = sr // fps
    names = ["AA", "L", "AA", "TH", "IY", "P", "AA", "D", "AA"]
    spans = [(i * 4 * frame, (i + 1) * 4 * frame) for i in range(len(names))]  # four frames each
    heard = Phones([(n, a, b) for n, (a, b) in zip(names, spans)], [])
    motion = VisemeMotion(sr, fps)
    track = motion.track(lambda a, b: np.full(b - a, 3000, dtype=np.float32), 0, 4 * len(names), "A",
                         phones=lambda a, b: heard)  # fmt: skip
    tongue = track[:, FACE.index("tongue")]
    middle = {name: tongue[4 * i + 1 : 4 * i + 3].mean() for i, name in enumerate(names)}
    assert middle["L"] > 0.9 and middle["TH"] > 0.9
    assert 0.4 < middle["D"] < 0.8
    assert max(middle["AA"], middle["IY"], middle["P"]) < 0.1
