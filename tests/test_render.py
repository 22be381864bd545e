"""End to end: the tiny story rendered by the real CLI, checked on the decoded output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepstory.media import decode_audio, decode_frames, probe
from deepstory.portrait import speaker_portrait

from conftest import TINY_SIZE, check_golden, compose_cfg

pytestmark = pytest.mark.slow


def _timeline(run_dir):
    return json.loads((run_dir / "temp" / "timeline.json").read_text())


def test_streams_and_durations(tiny_render):
    video = tiny_render / "export" / "animated.mp4"
    info = probe(video)
    v, a = info.stream("video"), info.stream("audio")
    assert v.codec == "h264" and "yuv420p" in v.details and v.fps == 25
    assert (v.width, v.height) == (TINY_SIZE, TINY_SIZE)
    assert a.codec == "aac"
    segments = _timeline(tiny_render)["segments"]
    speech_seconds = segments[-1]["start"] + sum(segments[-1][k] for k in ("pad_before", "speech", "pad_after"))
    speech_seconds /= 22050
    frames = sum(1 for _ in decode_frames(video, TINY_SIZE, TINY_SIZE))
    audio = decode_audio(video, 22050)
    frame = 1 / 25
    assert abs(frames / 25 - speech_seconds) <= frame
    assert abs(len(audio) / 22050 - speech_seconds) <= frame
    assert abs(frames / 25 - len(audio) / 22050) <= frame
    assert np.sqrt(np.mean(audio**2)) > 0.02  # not silent


def test_output_is_the_recorded_reference(tiny_render):
    """cut_size=30000: decoded frames and samples identical to the render recorded before the restructure."""
    check_golden("tiny_cut30000", tiny_render / "export" / "animated.mp4")


def test_several_chunks_in_story_order(tiny_render):
    chunks = json.loads((tiny_render / "temp" / "chunks.json").read_text())["chunks"]
    assert len(chunks) >= 5
    speakers = [c["speaker"] for c in chunks]
    assert {"Eileen", "Narrator"} <= set(speakers)
    assert speakers[0] == "Eileen"
    # Story order, no gaps: each chunk starts where the previous one ended.
    for prev, cur in zip(chunks, chunks[1:]):
        assert cur["start"] == prev["start"] + prev["samples"]
        assert cur["first_frame"] == prev["first_frame"] + prev["frames"]
    for c in chunks:
        assert (tiny_render / "temp" / "chunks" / f"c{c['index']:05d}.wav").is_file()
        assert (tiny_render / "temp" / "motion" / f"c{c['index']:05d}.npy").is_file()
    segments = json.loads((tiny_render / "temp" / "animated" / "segments.json").read_text())["segments"]
    assert (
        segments[0]["frames"][0] == 0 and segments[-1]["frames"][1] == chunks[-1]["first_frame"] + chunks[-1]["frames"]
    )
    for j, _ in enumerate(segments):
        assert (tiny_render / "temp" / "animated" / f"v{j:05d}.mp4").is_file()


def test_subtitles_follow_speech(tiny_render):
    srt = (tiny_render / "export" / "animated.srt").read_text(encoding="utf-8")
    cues = [c for c in srt.strip().split("\n\n") if c]
    segments = _timeline(tiny_render)["segments"]
    assert len(cues) == len(segments)
    assert cues[0].splitlines()[2].startswith("Eileen: Hello Chelsea!")
    assert cues[1].splitlines()[2].startswith("Eileen: I am home from space")
    assert any(c.splitlines()[2].startswith("Narrator: The cat looked up") for c in cues)
    first = cues[0].splitlines()[1]
    assert first.startswith("00:00:00,500 --> ")  # 0.5 s of silence before each line


def test_mouth_moves_with_speech_not_in_silence(tiny_render):
    """Per frame, how far the mouth region is from the still portrait: speech >> long silences."""
    cfg = compose_cfg(f"video.width={TINY_SIZE}", f"video.height={TINY_SIZE}")
    chunks = json.loads((tiny_render / "temp" / "chunks.json").read_text())["chunks"]
    segments = _timeline(tiny_render)["segments"]
    stills, boxes = {}, {}
    for name in ("Eileen", "Narrator"):
        spec = cfg.speakers[name]
        portrait = speaker_portrait(spec, name, TINY_SIZE, TINY_SIZE)[1]
        (mx, my), mw = portrait.face.mouth, portrait.face.mouth_width
        boxes[name] = (int(mx - mw * 0.6), int(my - mw * 0.3), int(mx + mw * 0.6) + 1, int(my + mw * 0.8) + 1)
        stills[name] = portrait.image.astype(np.float32)
    speaker_at = np.empty(chunks[-1]["first_frame"] + chunks[-1]["frames"], dtype=object)
    for c in chunks:
        speaker_at[c["first_frame"] : c["first_frame"] + c["frames"]] = c["speaker"]
    speaking = np.zeros(len(speaker_at), dtype=bool)
    silent = np.zeros(len(speaker_at), dtype=bool)
    for s in segments:
        a, b = s["start"] + s["pad_before"], s["start"] + s["pad_before"] + s["speech"]
        speaking[int(a * 25 / 22050) + 2 : int(b * 25 / 22050) - 2] = True
    # Silences longer than 0.5 s: the gaps between speech, away from their edges.
    ends = [(s["start"] + s["pad_before"] + s["speech"]) for s in segments]
    starts = [(s["start"] + s["pad_before"]) for s in segments][1:]
    for end, start in zip(ends, starts):
        if start - end > 0.5 * 22050:
            silent[int(end * 25 / 22050) + 3 : int(start * 25 / 22050) - 3] = True
    assert silent.sum() >= 10 and speaking.sum() >= 50
    moved = []
    for i, frame in enumerate(decode_frames(tiny_render / "export" / "animated.mp4", TINY_SIZE, TINY_SIZE)):
        x0, y0, x1, y1 = boxes[speaker_at[i]]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        moved.append(np.abs(patch - stills[speaker_at[i]][y0:y1, x0:x1]).mean())
    moved = np.array(moved)
    # The phone-driven mouth shuts on consonants inside speech too, so compare the upper quartiles
    # (measured: 17.9 in speech, 6.4 in silences, where only head drift moves the region).
    assert np.percentile(moved[speaking], 75) > 2 * np.percentile(moved[silent], 75) + 2.0
