"""The socket reader of PostgreSQL's binary COPY (``postgres_copy._Reader``) fed replies a buggy or hostile
server, a proxy or a cut connection can send, through a real socket pair: each is a CopyProtocolError (or the
server's error) that names no value of the reply, raised before any of its rows becomes a batch, and never a read
outside the bytes received (the compiled loops check every length; with ``NUMBA_DISABLE_JIT=1``, ``make
test-nojit``, a missing check shows as IndexError). A well-formed reply of the same shape still reads whole.
"""

from __future__ import annotations

import socket
import struct
import threading
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest

from hfit_dagster.extract import postgres_copy
from hfit_dagster.extract.postgres_copy import (
    _KINDS,
    CopyProtocolError,
    CopyTimeout,
    ServerError,
    _Reader,
    copy_batches,
    open_copy_connection,
)

SECRET = b"jane.doe@example.com"
TYPES = ["int4", "text", "int8"]
SCHEMA = pa.schema([("id", pa.int64()), ("email", pa.string()), ("n", pa.int64())])
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
END = b"c\x00\x00\x00\x04" + b"C\x00\x00\x00\x0bCOPY 1\x00" + b"Z\x00\x00\x00\x05I"


def message(kind: bytes, body: bytes) -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


def field(value: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if value is None else len(value).to_bytes(4, "big") + value


def row(*values: bytes | None) -> bytes:
    return len(values).to_bytes(2, "big") + b"".join(field(v) for v in values)


GOOD_ROW = row((7).to_bytes(4, "big"), SECRET, (9).to_bytes(8, "big"))
START = message(b"H", bytes(3)) + message(b"d", HEADER + GOOD_ROW)


def read(reply: bytes, batch_rows: int = 10, close: bool = True) -> list[pa.RecordBatch]:
    """The batches ``_Reader`` makes of ``reply`` sent through a socket pair (the sender closes after it)."""
    ours, theirs = socket.socketpair()

    def send() -> None:
        try:
            theirs.sendall(reply)
        except OSError:  # the reader stopped and closed its end
            pass
        if close:
            theirs.close()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    kinds = np.array([_KINDS[t][0] for t in TYPES], dtype=np.int64)
    widths = np.array([_KINDS[t][1] for t in TYPES], dtype=np.int64)
    try:
        return list(_Reader(ours, kinds, widths, SCHEMA, batch_rows).batches())
    finally:
        ours.close()
        sender.join(5)
        if not close:
            theirs.close()


def refused(reply: bytes, batch_rows: int = 10) -> str:
    with pytest.raises(CopyProtocolError) as caught:
        read(reply, batch_rows)
    text = str(caught.value)
    assert "jane" not in text and "example" not in text
    return text


def test_a_well_formed_reply_reads_whole() -> None:
    """The reply the hostile cases below alter reads as its rows (so each refusal is the alteration's)."""
    batches = read(START + message(b"d", GOOD_ROW) + message(b"d", TRAILER) + END, batch_rows=1)
    assert [b.to_pylist() for b in batches] == [[{"id": 7, "email": SECRET.decode(), "n": 9}]] * 2


@pytest.mark.parametrize("cut", [1, 3, 6, 20, 40])
def test_a_connection_cut_mid_stream_is_refused(cut: int) -> None:
    """A connection closed part way (in a message's header, a row, the trailer) yields no batch of the rows
    received and says the server closed the connection."""
    reply = START + message(b"d", GOOD_ROW) + message(b"d", TRAILER) + END
    at = len(START) + cut
    assert "closed the connection" in refused(reply[:at], batch_rows=10)


@pytest.mark.parametrize("length", [
    len(SECRET) + 1, 200, 1 << 20, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFF00,
])
def test_a_field_longer_than_its_message_or_negative_is_refused(length: int) -> None:
    """A field length past its message's end (a few bytes, far past the buffer, or negative other than -1
    for NULL) is refused, not read from the following bytes or from memory past the buffer."""
    body = (3).to_bytes(2, "big") + field((7).to_bytes(4, "big")) + length.to_bytes(4, "big") + SECRET
    body += field((9).to_bytes(8, "big"))
    text = refused(START + message(b"d", body) + message(b"d", TRAILER) + END)
    assert "field" in text


@pytest.mark.parametrize("fields", [
    [(7).to_bytes(4, "big"), SECRET],  # a field short
    [(7).to_bytes(4, "big"), SECRET, (9).to_bytes(8, "big"), b"x"],  # a field more
])
def test_a_row_of_another_field_count_is_refused(fields: list[bytes]) -> None:
    """A row whose field count differs from the result's columns is refused."""
    refused(START + message(b"d", row(*fields)) + message(b"d", TRAILER) + END)


def test_a_row_whose_count_claims_more_fields_than_it_has_is_refused() -> None:
    """A row announcing the right count but ending early (the message's bytes run out in a field length or
    before the count) reads nothing past its message."""
    short = (3).to_bytes(2, "big") + field((7).to_bytes(4, "big")) + field(SECRET)
    refused(START + message(b"d", short) + message(b"d", GOOD_ROW) + message(b"d", TRAILER) + END)
    refused(START + message(b"d", GOOD_ROW[:-9] + b"\x00") + END)
    refused(START + message(b"d", b"\x00") + END)


@pytest.mark.parametrize(("column", "value"), [
    (0, b"\x00\x00\x07"), (0, b""), (0, bytes(5)), (2, bytes(4)), (2, bytes(9)),
])
def test_a_fixed_width_field_of_another_width_is_refused(column: int, value: bytes) -> None:
    """An int4 of 3 bytes (or 0, 5) or an int8 of 4 or 9 is refused, not decoded from its neighbours' bytes."""
    values: list[bytes | None] = [(7).to_bytes(4, "big"), SECRET, (9).to_bytes(8, "big")]
    values[column] = value
    text = refused(START + message(b"d", row(*values)) + message(b"d", TRAILER) + END)
    assert "width" in text or "bytes" in text


def test_a_huge_message_length_is_refused_without_growing_the_buffer() -> None:
    """A message announcing more than a server can send (PostgreSQL's messages stay under 1 GB) is refused
    at its header, not waited for with a buffer grown to its size."""
    for size in (0xFFFFFFFF, (1 << 30) + 5):
        text = refused(START + b"d" + size.to_bytes(4, "big") + GOOD_ROW)
        assert "closed" not in text


def test_data_after_the_trailer_is_refused() -> None:
    """Rows after the trailer (in its message or a later one) are not read as rows; neither is a reply that
    ends without the trailer (a proxy ending the COPY early)."""
    refused(START + message(b"d", TRAILER + GOOD_ROW) + END)
    refused(START + message(b"d", TRAILER) + message(b"d", GOOD_ROW) + END)
    refused(START + message(b"d", TRAILER + b"\x00") + END)
    refused(START + message(b"d", GOOD_ROW) + END)
    refused(message(b"C", b"SELECT 0\x00") + message(b"Z", b"I"))


def test_a_bad_signature_or_header_extension_is_refused() -> None:
    """A reply whose first data is not the binary COPY signature, or whose header extension runs past its
    message, is refused."""
    refused(message(b"H", bytes(3)) + message(b"d", b"PGCOPY\n\xff\r\n\x01" + bytes(8) + GOOD_ROW) + END)
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(4) + (0xFFFFFF00).to_bytes(4, "big")
    refused(message(b"H", bytes(3)) + message(b"d", header + GOOD_ROW) + END)


def test_an_error_between_rows_is_the_servers_error() -> None:
    """An ErrorResponse after some rows is the server's error (SQLSTATE and message), and the rows of the
    batch it interrupts are not yielded."""
    error = message(b"E", b"SERROR\x00C22012\x00Mdivision by zero\x00\x00")
    with pytest.raises(ServerError) as caught:
        read(START + message(b"d", GOOD_ROW) + error + message(b"Z", b"I"))
    assert caught.value.sqlstate == "22012"


def test_a_batch_is_cut_by_its_bytes_so_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose batch would hold more than the reader's byte bound end the batch early: the buffer holds
    one batch's bytes and a message, not ``batch_rows`` rows of any size."""
    monkeypatch.setattr(postgres_copy, "BATCH_BYTES", 1000)
    big = row((1).to_bytes(4, "big"), b"y" * 600, (2).to_bytes(8, "big"))
    reply = START + b"".join(message(b"d", big) for _ in range(5)) + message(b"d", TRAILER) + END
    batches = read(reply, batch_rows=100)
    assert sum(b.num_rows for b in batches) == 6
    big_rows = [sum(1 for v in b.column("email").to_pylist() if len(v) == 600) for b in batches]
    assert len(batches) >= 3 and max(big_rows) <= 2  # the bound's bytes, then one row more at most


def _serve_one_connection(listener: socket.socket, copy_reply: bytes, hold: threading.Event | None = None) -> None:
    """Just enough of a PostgreSQL server for ``open_copy_connection`` (no TLS, no password, simple queries)
    and ``copy_batches``: the COPY is answered with ``copy_reply``, then the connection is closed (after ``hold``
    is set, when given: a server that stops sending but keeps the connection)."""
    conn, _ = listener.accept()
    with conn:
        stream = conn.makefile("rb")

        def packet(kind: bool) -> tuple[bytes, bytes]:
            tag = stream.read(1) if kind else b""
            size = struct.unpack("!i", stream.read(4))[0]
            return tag, stream.read(size - 4)

        _, body = packet(kind=False)
        if struct.unpack("!i", body[:4])[0] == 80877103:  # SSLRequest: refused, the startup follows in the clear
            conn.sendall(b"N")
            packet(kind=False)
        conn.sendall(message(b"R", bytes(4)) + message(b"S", b"client_encoding\x00UTF8\x00")
                     + message(b"S", b"server_version\x0016.0\x00") + message(b"K", bytes(8))
                     + message(b"Z", b"I"))
        while True:
            tag, body = packet(kind=True)
            if tag != b"Q":
                return
            if body.startswith(b"COPY"):
                conn.sendall(copy_reply)
                if hold is not None:
                    hold.wait(30)
                return
            if body.startswith(b"SELECT"):
                column = b"s\x00" + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0)
                conn.sendall(message(b"T", struct.pack("!h", 1) + column)
                             + message(b"D", struct.pack("!hi", 1, 1) + b"x")
                             + message(b"C", b"SELECT 1\x00") + message(b"Z", b"T"))
            else:
                conn.sendall(message(b"C", b"OK\x00") + message(b"Z", b"T"))


@pytest.mark.parametrize("reply", [
    START + b"d" + (0xFFFFFFF0).to_bytes(4, "big") + GOOD_ROW,
    START + message(b"d", (3).to_bytes(2, "big") + field((7).to_bytes(4, "big")) + (0xFFFFFFFE).to_bytes(4, "big")),
    START + message(b"d", GOOD_ROW),
], ids=["huge-message", "negative-field", "cut"])
def test_a_hostile_server_over_tcp_is_refused_in_bounded_memory(reply: bytes) -> None:
    """Over a real connection (psycopg's startup and snapshot statements, then the COPY read from its socket), a
    server announcing a 4 GB message, a field of length -2, or closing mid-stream: a CopyProtocolError naming no
    value, the connection closed, and the reader's memory its first buffer (no allocation of the announced size)."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = threading.Thread(target=_serve_one_connection, args=(listener, reply), daemon=True)
    server.start()
    try:
        conn = open_copy_connection(f"host=127.0.0.1 port={listener.getsockname()[1]} user=hfit dbname=source",
                                    "00000003-0000001B-1", "public")
        assert conn is not None
        read(START + message(b"d", TRAILER) + END)  # the loops compiled before memory is traced
        tracemalloc.start()
        try:
            with pytest.raises(CopyProtocolError) as caught:
                list(copy_batches(conn, "SELECT id, email, n FROM people", TYPES, SCHEMA, 10, 30))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "jane" not in str(caught.value) and conn.closed
        assert peak < 4 * postgres_copy.INITIAL_BUFFER
    finally:
        server.join(5)
        listener.close()


def test_a_server_that_stops_sending_mid_copy_fails_the_read_after_its_timeout() -> None:
    """A server (or a network) that sends the first rows of a COPY and then nothing, the connection left open: the
    read fails with CopyTimeout after the read's timeout instead of waiting forever, naming no value."""
    listener = socket.create_server(("127.0.0.1", 0))
    hold = threading.Event()
    server = threading.Thread(target=_serve_one_connection, args=(listener, START, hold), daemon=True)
    server.start()
    try:
        conn = open_copy_connection(f"host=127.0.0.1 port={listener.getsockname()[1]} user=hfit dbname=source",
                                    "00000003-0000001B-1", "public")
        assert conn is not None
        with pytest.raises(CopyTimeout) as caught:
            list(copy_batches(conn, "SELECT id, email, n FROM people", TYPES, SCHEMA, 10, 0.5))
        assert str(caught.value) == "the server sent nothing for 0.5 s" and conn.closed
    finally:
        hold.set()
        server.join(5)
        listener.close()
