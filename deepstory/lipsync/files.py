"""The lip-sync stage's files: the score and the per-frame series behind it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.kernel.context import RunDir


@dataclass(frozen=True)
class LipSyncFiles:
    run: RunDir

    @property
    def lipsync(self) -> Path:
        return self.run.export / "lipsync.json"

    @property
    def lipsync_series(self) -> Path:
        """Per frame: mouth opening, speech energy, long-silence and phone-class masks, speakers; the measured
        phones (``.npz``, :func:`deepstory.lipsync.score.load_series`)."""
        return self.run.temp / "lipsync_series.npz"
