"""The chunk stage's files: ``temp/chunks.json`` (the chunks) and each chunk's audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepstory.files import read_json
from deepstory.kernel.context import RunDir
from deepstory.timeline import Chunk


@dataclass(frozen=True)
class ChunkFiles:
    run: RunDir

    @property
    def chunks_file(self) -> Path:
        return self.run.temp / "chunks.json"

    def chunk_audio(self, chunk: Chunk) -> Path:
        return self.run.temp / "chunks" / f"{chunk.name}.wav"

    def chunks(self) -> list[Chunk]:
        return [Chunk.from_dict(c) for c in read_json(self.chunks_file)["chunks"]]
