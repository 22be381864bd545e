"""Keeping the resident set at the current work's size, not the whole story's."""

from __future__ import annotations

import contextlib
import ctypes
import sys
from typing import Any


def release_memory() -> None:
    """Give freed heap back to the OS (glibc's ``malloc_trim``); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


ALLOCATOR_THRESHOLD = 64 << 20  # bytes


def tune_allocator(threshold: int = ALLOCATOR_THRESHOLD) -> bool:
    """Keep blocks up to ``threshold`` bytes in glibc's heap between uses; False where that is not glibc.

    A frame batch allocates a few blocks of several MB each; by default glibc maps
    the larger ones fresh from the kernel every time and unmaps them when freed, and
    trims the heap's top as soon as it is free, so every batch paid thousands of
    page faults (the animate stage spent a fifth of its time in the kernel).  With
    both thresholds at 64 MiB the blocks are reused; :func:`release_memory` still
    gives the heap back between stages.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
        return bool(libc.mallopt(m_mmap_threshold, threshold)) and bool(libc.mallopt(m_trim_threshold, threshold))
    except (OSError, AttributeError):
        return False


def free_device(device: Any) -> None:
    """Give back freed heap, and the CUDA cache when ``device`` is a GPU (a backend dropped its models)."""
    release_memory()
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak() -> bool:
    """Start measuring this process's peak resident set afresh (Linux: ``/proc/self/clear_refs``); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    """This process's peak resident set in MiB since the last :func:`reset_peak` (Linux ``VmHWM``).

    Where the peak cannot be reset it is the process's peak since it started (``ru_maxrss``).  Child
    processes (the ffmpeg encoders) and Ray workers are not counted.
    """
    kib = _status_kib("VmHWM")
    if kib is None:
        try:
            import resource

            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if sys.platform == "darwin":  # bytes there
                kib //= 1024
        except (ImportError, OSError):
            return 0.0
    return round(kib / 1024, 1)
