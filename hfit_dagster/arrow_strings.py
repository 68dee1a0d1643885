"""Arrow string arrays as numpy views: the UTF-8 bytes and the value offsets that compiled loops read.

One place for the buffer layout (an int32 offset per value plus one, relative to the array's own offset,
into one data buffer), used by masking, the leak check and the SQL writer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def as_utf8(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A plain ``string`` array (chunked, large and view strings converted)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


def string_buffers(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)``: value ``i`` is ``data[offsets[i]:offsets[i + 1]]`` (uint8 bytes, int64 offsets);
    no copy of the bytes. A NULL is whatever its slot holds (usually empty): callers look at validity."""
    values = as_utf8(values)
    n = len(values)
    offsets_buffer, data_buffer = values.buffers()[1], values.buffers()[2]
    if offsets_buffer is None or offsets_buffer.size < 4 * (values.offset + n + 1):  # none, or empty: all ""
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[values.offset : values.offset + n + 1]
        offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return data, offsets


def pack_byte_columns(columns: list[tuple[np.ndarray, np.ndarray]], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Several ``(data, offsets)`` columns of ``rows`` values (as :func:`string_buffers` gives them) as one byte
    buffer and a (columns, rows + 1) matrix of offsets into it, for compiled loops that read them all."""
    offsets = np.empty((len(columns), rows + 1), dtype=np.int64)
    pieces = []
    base = 0
    for j, (data, bounds) in enumerate(columns):
        pieces.append(data[bounds[0] : bounds[-1]])
        offsets[j] = bounds
        offsets[j] += base - int(bounds[0])
        base += int(bounds[-1] - bounds[0])
    return (np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)), offsets
