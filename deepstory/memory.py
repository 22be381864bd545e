"""Keeping the resident set at the current work's size, not the whole story's."""
from __future__ import annotations

import ctypes


def release_memory() -> None:
    """Give freed heap back to the OS (glibc's ``malloc_trim``); a no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
