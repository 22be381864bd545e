"""Keeping the resident set at the current work's size, not the whole story's."""

from __future__ import annotations

import ctypes
from typing import Any


def release_memory() -> None:
    """Give freed heap back to the OS (glibc's ``malloc_trim``); a no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def free_device(device: Any) -> None:
    """Give back freed heap, and the CUDA cache when ``device`` is a GPU (a backend dropped its models)."""
    release_memory()
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
