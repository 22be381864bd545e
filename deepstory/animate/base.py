"""The interface of an animator: a still portrait x a motion track -> video frames.

An animator is built once per render from ``models.animator`` and handed to
the animate stage.  For every portrait on screen the stage calls
:meth:`~Animator.prepare` once per video segment, then streams frames with
:meth:`~Animator.frames`, batch by batch, straight into the encoder: nothing
holds a whole chunk's frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator

import numpy as np

from deepstory.portrait import Portrait
from deepstory.track import TrackFormat


class Animator(ABC):
    """Moves one portrait by one track.

    Must be picklable before first use (a Ray executor sends it to its
    workers) and may load models lazily; it runs on the device it was built
    with (the run's ``device``, resolved once in the config).
    """

    #: The motion track format it takes (see :mod:`deepstory.track`).
    accepts: ClassVar[TrackFormat]

    @abstractmethod
    def prepare(self, portrait: Portrait) -> Any:
        """Whatever :meth:`frames` needs of ``portrait``, computed once (tensors on the device)."""

    @abstractmethod
    def frames(self, prepared: Any, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Yield uint8 ``[B, H, W, 3]`` frames (the portrait's size) on the CPU, one per row of ``rows``, in order.

        Each frame depends only on its own row, so frames are the same
        whatever the batch or chunk boundaries.
        """

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Every setting and model file that shapes the frames (part of each video segment's cache key)."""

    def close(self) -> None:
        """Release models and device memory; called when the animate stage is done."""
