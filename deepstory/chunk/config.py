"""The schema of ``stages.chunk`` (``deepstory.schema``); defaults are the YAML's."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from deepstory.schema import Range, ranged

#: Samples a chunk may exceed before the next one starts (``cut_size``; ``stages.chunk.cut_size``).
CUT_SIZE = Range(1, 2**40)


@dataclass
class ChunkStageConfig:
    """``stages.chunk``: :class:`deepstory.chunk.stage.ChunkStage`."""

    _target_: str = "deepstory.chunk.stage.ChunkStage"
    enabled: bool = MISSING
    cut_size: int = ranged(CUT_SIZE)
