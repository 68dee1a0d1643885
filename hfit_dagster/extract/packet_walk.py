"""The reader's hot loop, compiled: walk MySQL packet headers (one step per row) without holding the GIL.

Why compiled: in Python this loop was ~0.9 µs a row and held the GIL the whole time (~11 s for the 12M rows
of the default benchmark), so the masking on the main thread waited for it. Compiled with numba
(``nogil=True``) it takes ~5 ns a row and the masking runs beside it. Only the common case is handled
here; anything else stops the walk at that packet and the caller handles it in Python.
"""

from __future__ import annotations

import numpy as np

from hfit_dagster.jit import compiled

MAX_PACKET = 0xFFFFFF

#: why ``walk_packets`` stopped
LIMIT = 0  # ``limit`` rows located
NEED_MORE = 1  # the next packet header is not complete in the buffer
RARE = 2  # the packet at ``pos`` is incomplete, empty, 16 MiB or more, led by 0xFE/0xFF (EOF, error, 8-byte length)


@compiled
def walk_packets(buf: np.ndarray, pos: int, end: int, limit: int, starts: np.ndarray,
                 count: int) -> tuple[int, int, int]:  # pragma: no cover - compiled; tested through the reader
    """Record the payload offsets of complete ordinary row packets from ``pos``: ``(count, pos, why)``.

    ``starts[count:]`` receives the offsets; ``count`` goes up to ``limit`` at most.
    """
    while count < limit:
        if pos + 4 > end:
            return count, pos, NEED_MORE
        length = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8) | (np.int64(buf[pos + 2]) << 16)
        stop = pos + 4 + length
        if stop > end or length == MAX_PACKET or length == 0 or buf[pos + 4] >= 0xFE:
            return count, pos, RARE
        starts[count] = pos + 4
        pos = stop
        count += 1
    return count, pos, LIMIT
