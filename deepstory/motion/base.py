"""The interface of a motion backend: a chunk's speech -> its motion track (the "base").

A backend is built once per render from ``models.motion`` and handed to the
motion stage.  For every chunk the stage asks for the speaker's
:meth:`~MotionBackend.track`, and, when the layout shows other characters, for
each listener's :meth:`~MotionBackend.idle` track.  Tracks are float32 arrays
in the backend's declared :attr:`~MotionBackend.format` (``deepstory.track``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import numpy as np

from deepstory.phones import Phones
from deepstory.portrait import Portrait
from deepstory.track import TrackFormat

# ``read(start, stop)``: the story's audio between two global sample positions (zeros outside it).
AudioReader = Callable[[int, int], np.ndarray]
# ``phones(start, stop)``: the phones heard between two global sample positions (deepstory.phones).
PhoneReader = Callable[[int, int], Phones]


def stable_seed(*parts: object) -> int:
    """A seed from values, the same in every process (unlike ``hash``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


class MotionBackend(ABC):
    """Speech -> motion, one chunk at a time.

    The backend must be picklable before first use (a Ray executor sends it to
    its workers), and may load models lazily.
    """

    #: The format of the tracks it makes.
    format: ClassVar[TrackFormat]
    #: Frames of audio the backend reads on each side of a chunk (they enter the cache key).
    context: ClassVar[int] = 0
    #: Whether the track depends on the speaker's portrait (then the portrait enters the cache key).
    needs_portrait: ClassVar[bool] = False

    @abstractmethod
    def track(
        self,
        read: AudioReader,
        first_frame: int,
        frames: int,
        speaker: str,
        portrait: Portrait | None,
        phones: PhoneReader | None = None,
    ) -> np.ndarray:
        """The motion of global frames ``[first_frame, first_frame + frames)`` while ``speaker`` speaks.

        ``portrait`` is the speaker's portrait at the size it is shown when
        :attr:`needs_portrait`, else ``None``; ``phones`` reads the phone
        timings of the speech (backends that do not use them ignore it).
        Returns ``[frames, format.width]``.
        """

    @abstractmethod
    def idle(self, first_frame: int, frames: int, speaker: str, portrait: Portrait | None) -> np.ndarray:
        """A listener's motion over the same frames: alive, mouth shut.  Returns ``[frames, format.width]``."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Every setting and model file that shapes the tracks (part of each motion cache key)."""

    def close(self) -> None:
        """Release models and memory; called when the motion stage is done."""
