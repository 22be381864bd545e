"""The warp animator on a real portrait: mouth and eyes move, nothing outside the face does."""

from __future__ import annotations

import numpy as np
import torch

from deepstory.animate.warp import WarpAnimator
from deepstory.motion.track import FACE
from deepstory.portrait import speaker_portrait

from conftest import compose_cfg


def _portrait(size=192):
    spec = compose_cfg().speakers.Narrator
    return speaker_portrait(spec, "Narrator", size, size)[1]


def _motion(n, **values):
    m = np.zeros((n, FACE.width), dtype=np.float32)
    for k, v in values.items():
        m[:, FACE.index(k)] = v
    return m


def _render(animator, portrait, motion):
    return np.concatenate(list(animator.frames(animator.prepare(portrait), motion)))


def test_rest_pose_is_the_still_portrait():
    p = _portrait()
    frames = _render(WarpAnimator(batch_size=4), p, _motion(3))
    assert frames.dtype == np.uint8 and frames.shape == (3, 192, 192, 3)
    assert np.abs(frames.astype(int) - p.image).max() <= 1


def test_open_mouth_darkens_mouth_and_leaves_outside_untouched():
    p = _portrait()
    animator = WarpAnimator(batch_size=8)
    frames = _render(animator, p, _motion(2, open=1.0, roll=2.0, dx=0.02))
    (mx, my), mw = p.face.mouth, p.face.mouth_width
    patch = (slice(int(my), int(my + 0.2 * mw)), slice(int(mx - 0.2 * mw), int(mx + 0.2 * mw)))
    assert frames[0][patch].mean() < p.image[patch].mean() - 40  # dark interior
    x0, y0, x1, y1 = animator.prepare(p).region
    outside = np.ones(p.image.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frames[0][outside], p.image[outside])


def test_blink_covers_the_eyes():
    p = _portrait()
    frames = _render(WarpAnimator(), p, _motion(1, blink=1.0))
    for ex, ey in p.face.eyes:
        r = int(p.face.eye_width * 0.2)
        eye = (slice(int(ey) - r, int(ey) + r), slice(int(ex) - r, int(ex) + r))
        assert np.abs(frames[0][eye].astype(int) - p.image[eye]).mean() > 30


def test_frames_do_not_depend_on_batch_size():
    p = _portrait()
    rng = np.random.default_rng(0)
    motion = rng.uniform(0, 1, size=(11, FACE.width)).astype(np.float32)
    a = _render(WarpAnimator(batch_size=1), p, motion)
    b = _render(WarpAnimator(batch_size=7), p, motion)
    assert np.array_equal(a, b)
    assert torch.get_num_threads() >= 1
