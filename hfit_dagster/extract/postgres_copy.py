"""PostgreSQL binary COPY read straight from the connection's socket and decoded by compiled loops.

Why: ADBC's PostgreSQL driver (``postgres_fast``'s other decoder) receives a row at a time through libpq
(``PQgetCopyData``: an allocation and a copy per row) and appends each field to Arrow builders: ~260 ns a row of
the benchmark's order_items, about 2.5 times the MySQL reader's cost for the same rows. Here, as in
``mysql_fast``, the bytes go from the socket into one buffer (``recv_into``, no object per row), one compiled pass
locates the fields of a batch's rows and one compiled pass per column gathers its values into Arrow buffers.

The connection: a psycopg connection of its own (libpq does the authentication), in ``REPEATABLE READ, READ ONLY``
on the snapshot the build's connection exported (``SET TRANSACTION SNAPSHOT``), with its ``search_path``. The
``COPY (...) TO STDOUT (FORMAT binary)`` is sent by libpq; the reply is read from the socket by this module, which
leaves libpq's view of the connection behind: the connection serves this one statement and is closed after it.
A connection that would encrypt (TLS, GSS) is not used: ``open_copy_connection`` returns None and the caller reads
by ADBC.

What is decoded: the types of ``postgres_fast.FAST_TYPES`` as their binary send format gives them (integers and
floats big-endian, ``bool`` a byte, ``date`` days and ``timestamp``/``time`` microseconds since 2000-01-01 with
``infinity``/``-infinity`` the type's largest/smallest value, text, ``json`` and ``bytea`` their bytes); ``numeric``
and ``jsonb`` are cast to text by the server (``postgres_fast`` wraps the statement), so their text is the
server's. Errors from the server (an ErrorResponse mid-stream) are raised as :class:`ServerError` with its
SQLSTATE and primary message, for ``db_errors`` to describe without values.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from hfit_dagster.jit import compiled

RECEIVE = 1 << 20  # the least free room a receive gets
INITIAL_BUFFER = 1 << 23
MAX_MESSAGE = 1 << 30  # a server's messages stay under its 1 GB allocation limit: a larger length is not a server's
BATCH_BYTES = 1 << 28  # a batch ends at the first row past this many bytes, so the buffer holds a batch and a message
_DAYS_2000 = 10_957
_MICROS_2000 = _DAYS_2000 * 86_400 * 1_000_000
_SIGNATURE_BYTES = np.frombuffer(b"PGCOPY\n\xff\r\n\x00", dtype=np.uint8)

# column kinds of the compiled gather: (kind, value width)
INT, FLOAT, BOOL, DATE, STAMP, TIME, BYTES = 0, 1, 2, 3, 4, 5, 6
_KINDS: dict[str, tuple[int, int]] = {
    "int2": (INT, 2), "int4": (INT, 4), "int8": (INT, 8), "float4": (FLOAT, 4), "float8": (FLOAT, 8),
    "bool": (BOOL, 1), "date": (DATE, 4), "timestamp": (STAMP, 8), "timestamptz": (STAMP, 8), "time": (TIME, 8),
    "numeric": (BYTES, 0), "text": (BYTES, 0), "varchar": (BYTES, 0), "bpchar": (BYTES, 0), "json": (BYTES, 0),
    "jsonb": (BYTES, 0), "bytea": (BYTES, 0),
}
# walk results
MORE, DONE, ERROR, BROKEN = 0, 1, 2, 3
# why a reply was BROKEN (state[3]), with the column in state[2] where one is at fault
_BROKEN_REASONS = {
    1: "a message length outside the protocol's range",
    2: "a first row without the binary COPY signature or with a header longer than its message",
    3: "a row ending inside its message's bytes",
    4: "a row whose field count differs from the result's columns",
    5: "a field (column {column}) longer than its message or of a negative length",
    6: "a field (column {column}) of another width than its type's",
    7: "data after the binary COPY's trailer",
    8: "the end of the command without the binary COPY's trailer",
    9: "several rows in one message over a batch's end",
}


class ServerError(Exception):
    """An ErrorResponse of the server, in the shape ``db_errors.describe_db_error`` reads."""

    def __init__(self, sqlstate: str | None, message: str) -> None:
        super().__init__(message.splitlines()[0] if message else "server error")
        self.sqlstate = sqlstate
        self.message_primary = message


class CopyProtocolError(Exception):
    """The server's reply was not the binary COPY this module reads (a message cut short, a row whose field
    count differs from the result's columns)."""


class CopyTimeout(Exception):
    """The server sent nothing for the read's timeout: stopped, hung, or behind a network that dropped the
    connection without a word."""


def open_copy_connection(conninfo: str, snapshot: str, search_path: str) -> Any | None:
    """A psycopg connection reading ``snapshot``, or None when its traffic would be encrypted (the socket then
    carries no plain protocol) or it cannot be opened without encryption."""
    import psycopg

    try:
        conn = psycopg.connect(conninfo, autocommit=True, gssencmode="disable")
    except psycopg.OperationalError:
        return None
    if conn.pgconn.ssl_in_use:
        conn.close()
        return None
    try:
        with psycopg.ClientCursor(conn) as cur:  # SET TRANSACTION SNAPSHOT takes no bound parameter
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            cur.execute("SELECT set_config('search_path', %s, true)", [search_path])
    except psycopg.Error:
        conn.close()
        raise
    return conn


def copy_batches(conn: Any, statement: str, pg_types: list[str], schema: pa.Schema,
                 batch_rows: int, read_timeout: float) -> Iterator[pa.RecordBatch]:
    """The rows of ``statement`` (a SELECT, its parameters merged) as batches of ``batch_rows`` rows of ``schema``;
    ``conn`` (from :func:`open_copy_connection`) is closed when the batches end or are abandoned. A wait of
    ``read_timeout`` seconds for the server's next bytes raises :class:`CopyTimeout`."""
    kinds = np.array([_KINDS[t][0] for t in pg_types], dtype=np.int64)
    widths = np.array([_KINDS[t][1] for t in pg_types], dtype=np.int64)
    pgconn = conn.pgconn
    sock: socket.socket | None = None
    try:
        pgconn.send_query(f"COPY ({statement}) TO STDOUT (FORMAT binary)".encode())
        while pgconn.flush():  # psycopg's connections are non-blocking: flush until all of it is sent
            pass
        sock = socket.socket(fileno=os.dup(pgconn.socket))
        sock.settimeout(read_timeout)
        yield from _Reader(sock, kinds, widths, schema, max(1, batch_rows)).batches()
    finally:
        if sock is not None:
            sock.close()
        conn.close()


class _Reader:
    """Receives the reply into one buffer and decodes it batch by batch. The fields of the rows of the batch
    being filled are located in the buffer (``pos``, ``lens``): the buffer keeps them, from ``keep``, until the
    batch is decoded; when it makes room it moves them to the front and their positions with them."""

    def __init__(self, sock: socket.socket, kinds: np.ndarray, widths: np.ndarray, schema: pa.Schema,
                 batch_rows: int) -> None:
        self.sock, self.kinds, self.widths, self.schema, self.batch_rows = sock, kinds, widths, schema, batch_rows
        self.buf = np.empty(INITIAL_BUFFER, dtype=np.uint8)
        self.keep = self.start = self.end = 0
        ncols = len(kinds)
        self.pos = np.empty((ncols, batch_rows), dtype=np.int64)
        self.lens = np.empty((ncols, batch_rows), dtype=np.int64)
        self.state = np.zeros(4, dtype=np.int64)  # [0] signature ahead, [1] trailer seen, [2] error end, [3] need

    def _receive(self, need: int, rows: int) -> None:
        """One receive, with room for a message of ``need`` bytes at ``start``."""
        if self.keep and len(self.buf) - self.end < max(RECEIVE, need - (self.end - self.start)):
            kept = self.end - self.keep
            self.buf[:kept] = self.buf[self.keep : self.end]
            self.pos[:, :rows] -= self.keep
            self.start -= self.keep
            self.end, self.keep = kept, 0
        room = max(RECEIVE, need - (self.end - self.start))
        if len(self.buf) - self.end < room:
            grown = np.empty(max(2 * len(self.buf), self.end + room), dtype=np.uint8)
            grown[: self.end] = self.buf[: self.end]
            self.buf = grown
        try:
            got = self.sock.recv_into(memoryview(self.buf)[self.end :])
        except TimeoutError:
            raise CopyTimeout(f"the server sent nothing for {self.sock.gettimeout():g} s") from None
        if got == 0:
            raise CopyProtocolError("the server closed the connection during the read")
        self.end += got

    def batches(self) -> Iterator[pa.RecordBatch]:
        rows = 0
        self.state[0] = 1
        while True:
            byte_stop = self.keep + BATCH_BYTES
            at, rows, result = _walk(self.buf, self.start, self.end, rows, self.batch_rows, byte_stop, self.widths,
                                     self.pos, self.lens, self.state)
            if result == BROKEN:
                reason = _BROKEN_REASONS[int(self.state[3])].format(column=int(self.state[2]) + 1)
                raise CopyProtocolError(f"the server's binary COPY is malformed: {reason}")
            if result == ERROR:
                raise _server_error(bytes(self.buf[at : self.state[2]]))
            self.start = at
            full = rows == self.batch_rows or (rows > 0 and at >= byte_stop)
            if full or (result == DONE and rows):
                yield self._batch(rows)  # decoded from the buffer before it moves
                rows, self.keep = 0, at
            if result == DONE:
                return
            if not full:
                self._receive(int(self.state[3]), rows)

    def _batch(self, rows: int) -> pa.RecordBatch:
        arrays = []
        for j, field in enumerate(self.schema):
            pos, lens = self.pos[j, :rows], self.lens[j, :rows]
            kind, width = int(self.kinds[j]), int(self.widths[j])
            valid = lens >= 0
            nulls = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
            if kind == BYTES:
                offsets = np.empty(rows + 1, dtype=np.int32)
                total = _text_offsets(lens, offsets)
                data = np.empty(total, dtype=np.uint8)
                _gather_bytes(self.buf, pos, lens, data)
                storage = pa.binary() if pa.types.is_binary(field.type) else pa.string()
                arrays.append(pa.Array.from_buffers(storage, rows, [nulls, pa.py_buffer(offsets), pa.py_buffer(data)]))
                continue
            values = np.empty(rows, dtype=np.int64)
            _gather_fixed(self.buf, pos, lens, width, kind, values)
            arrays.append(_fixed_array(values, width, kind, field.type, rows, nulls))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _fixed_array(values: np.ndarray, width: int, kind: int, target: pa.DataType, rows: int,
                 nulls: pa.Buffer | None) -> pa.Array:
    if kind == FLOAT:
        data = values.astype(np.uint32).view(np.float32) if width == 4 else values.view(np.float64)
        return pa.Array.from_buffers(target, rows, [nulls, pa.py_buffer(data)])
    if kind == BOOL:
        return pa.Array.from_buffers(pa.bool_(), rows, [nulls, pa.py_buffer(np.packbits(values != 0,
                                                                                       bitorder="little"))])
    if kind == DATE:
        return pa.Array.from_buffers(pa.date32(), rows, [nulls, pa.py_buffer(values.astype(np.int32))])
    return pa.Array.from_buffers(target, rows, [nulls, pa.py_buffer(values)])  # int64, timestamp, time64


def _server_error(message: bytes) -> ServerError:
    """The ErrorResponse's fields (a code byte, then NUL-terminated text, each) as a :class:`ServerError`."""
    fields: dict[str, str] = {}
    for part in message.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return ServerError(fields.get("C"), fields.get("M", ""))


@compiled
def _int_be(buf: np.ndarray, p: int, width: int) -> int:  # pragma: no cover - compiled
    """An unsigned big-endian value of at most 4 bytes."""
    v = 0
    for k in range(width):
        v = v * 256 + np.int64(buf[p + k])
    return v


@compiled
def _int64_be(buf: np.ndarray, p: int) -> int:  # pragma: no cover - compiled
    """A signed big-endian 8-byte value (two halves, so plain Python never leaves int64 either)."""
    high = _int_be(buf, p, 4)
    if high >= 2147483648:
        high -= 4294967296
    return high * 4294967296 + _int_be(buf, p + 4, 4)


@compiled
def _walk(buf: np.ndarray, start: int, end: int, rows: int, limit: int, byte_stop: int, widths: np.ndarray,
          pos: np.ndarray, lens: np.ndarray, state: np.ndarray) -> tuple[int, int, int]:  # pragma: no cover
    """Locate the fields of whole messages in ``buf[start:end]`` until ``limit`` rows, or a row starting at
    ``byte_stop`` or later: ``(next message, rows, result)``; ``state[3]`` is the size of a message not received
    whole yet, ``state[2]`` the end of an error's fields (which start at the returned position). Every length is
    checked against its message before it is read or followed (the compiled loop has no bounds checks);
    a BROKEN result leaves its reason in ``state[3]`` and the column at fault in ``state[2]``."""
    ncols = pos.shape[0]
    at = start
    while at + 5 <= end:
        kind = buf[at]
        size = _int_be(buf, at + 1, 4)
        if size < 4 or size > MAX_MESSAGE:
            state[3] = 1
            return at, rows, 3
        if at + 1 + size > end:
            state[3] = 1 + size
            return at, rows, 0
        body, stop = at + 5, at + 1 + size
        if kind == 69:  # E: ErrorResponse
            state[2] = stop
            return body, rows, 2
        if kind == 90:  # Z: ReadyForQuery, after CopyDone and CommandComplete
            if state[1] == 0:
                state[3] = 8
                return at, rows, 3
            return stop, rows, 1
        if kind == 100:  # d: CopyData, whole rows (the first after the signature, the last the trailer)
            if state[1] == 1:
                state[3] = 7
                return at, rows, 3
            if rows == limit or (rows > 0 and at >= byte_stop):
                return at, rows, 0
            p = body
            if state[0] == 1:
                if stop - p < 19:
                    state[3] = 2
                    return at, rows, 3
                for k in range(11):
                    if buf[p + k] != _SIGNATURE_BYTES[k]:
                        state[3] = 2
                        return at, rows, 3
                extension = _int_be(buf, p + 15, 4)
                if extension > stop - p - 19:
                    state[3] = 2
                    return at, rows, 3
                p += 19 + extension
                state[0] = 0
            while p < stop:
                if stop - p < 2:
                    state[3] = 3
                    return at, rows, 3
                count = _int_be(buf, p, 2)
                p += 2
                if count == 0xFFFF:  # the trailer, alone at its message's end
                    state[1] = 1
                    if p != stop:
                        state[3] = 7
                        return at, rows, 3
                    continue
                if count != ncols:
                    state[3] = 4
                    return at, rows, 3
                if rows == limit:  # several rows in one message over a batch's end: not what servers send
                    state[3] = 9
                    return at, rows, 3
                for j in range(ncols):
                    if stop - p < 4:
                        state[3] = 3
                        return at, rows, 3
                    n = _int_be(buf, p, 4)
                    p += 4
                    if n == 0xFFFFFFFF:
                        pos[j, rows] = p
                        lens[j, rows] = -1
                        continue
                    if n > stop - p:
                        state[2], state[3] = j, 5
                        return at, rows, 3
                    if widths[j] != 0 and n != widths[j]:
                        state[2], state[3] = j, 6
                        return at, rows, 3
                    pos[j, rows] = p
                    lens[j, rows] = n
                    p += n
                rows += 1
        at = stop  # H (CopyOutResponse), c (CopyDone), C (CommandComplete), N, S, A: nothing to read here
    state[3] = 5
    return at, rows, 0


@compiled
def _text_offsets(lens: np.ndarray, offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    total = 0
    for i in range(lens.shape[0]):
        offsets[i] = total
        if lens[i] > 0:
            total += lens[i]
    offsets[lens.shape[0]] = total
    return total


@compiled
def _gather_bytes(buf: np.ndarray, pos: np.ndarray, lens: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    at = 0
    for i in range(pos.shape[0]):
        n = lens[i]
        if n > 0:
            out[at : at + n] = buf[pos[i] : pos[i] + n]
            at += n


@compiled
def _gather_fixed(buf: np.ndarray, pos: np.ndarray, lens: np.ndarray, width: int, kind: int,
                  out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Big-endian values of ``width`` bytes as int64: integers sign-extended, floats as their bits, dates and
    timestamps moved to the Unix epoch (their infinities the type's largest and smallest value), NULLs 0."""
    top = 1 << (8 * width - 1)
    for i in range(pos.shape[0]):
        if lens[i] < 0:
            out[i] = 0
            continue
        if width == 8:
            v = _int64_be(buf, pos[i])
        else:
            v = _int_be(buf, pos[i], width)
            if kind != 1 and v >= top:  # signed, except a float's bits
                v -= 2 * top
        if kind == 3 and -2147483648 < v < 2147483647:
            v += _DAYS_2000
        elif kind == 4 and -9223372036854775807 - 1 < v < 9223372036854775807:
            v += _MICROS_2000
        out[i] = v
