"""Memory bounds of a build: how much of a table is held at once, and freed memory handed back between phases.

A build streams: a table is never whole in memory. What it holds at a time is bounded by the numbers
here: batches read ahead of masking, batches half-masked while the text analyzer is built, masked
batches gathered into one Parquet row group, row groups queued for the writer thread, and the rows a
leak scan reads at a time. Each bound trades a little overlap between threads for peak memory.
"""

from __future__ import annotations

import ctypes
from typing import Any

import pyarrow as pa

PREFETCH_BATCHES = 3  # batches read ahead of masking by the reader thread
MASK_AHEAD_WHILE_PREPARING = 8  # batches half-masked (structured columns) while the text analyzer is built
ROW_GROUP_ROWS = 65_536  # masked batches are gathered into row groups of about this many rows
PENDING_WRITES = 2  # row groups queued for the Parquet writer thread
LEAK_SCAN_ROWS = 65_536  # rows of a staged table the leak scan reads at a time


def release_memory() -> None:
    """Hand freed memory back to the system between phases, so one phase's garbage does not raise the peak.

    Arrow's allocator and glibc's malloc both keep freed pages for reuse (glibc also raises its mmap threshold
    after large frees, so later numpy arrays come from a heap that never shrinks by itself).
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _load_libc()
