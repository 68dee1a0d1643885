"""The vectorized MySQL/MariaDB read path gives the very batches PyMySQL's row-by-row decoding gives.

Against a real MariaDB (every column type, NULLs, zero dates, odd batch sizes) and against hand-made
protocol streams (long length prefixes, a row split over several 16 MiB packets, one-byte reads, error
packets, sequence errors).
"""

from __future__ import annotations

import random
import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pytest
import sqlalchemy as sa
from pymysql.connections import MySQLResult

from hfit_dagster.extract import mysql_fast
from hfit_dagster.extract.arrow_types import schema_for
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import MARIADB, mariadb_url
from tests.pipeline.test_type_torture import ROWS, TORTURE


def read_all(url: str, table_name: str, sql: str, batch_rows: int, fast: bool,
             values: dict[str, Any] | None = None) -> list[pa.RecordBatch]:
    """Every batch of ``sql``, read by the fast path (``fast``) or the reference path."""
    engine = create_source_engine("SRC", url)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, [table_name]).tables[table_name]
            return list(stream_query(conn, table, ExportQuery.parse(sql), values or {}, batch_rows,
                                    fast_read=fast))
    finally:
        engine.dispose()


@pytest.fixture
def typed_source(mariadb_database) -> str:
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(TORTURE)
        placeholders = ", ".join(["%s"] * 28 + ["ST_GeomFromText(%s)"])
        rows = list(ROWS)
        for i in range(4, 260):  # enough rows for several batches, NULLs and long texts mixed in
            rows.append((i, i % 128, i % 256, -i, i * 1000, i * 10**12, i, i % 2, f"{i % 999}.25", f"{i}.5", i / 3,
                         i / 7, "2024-02-29", f"{i % 800}:01:02", f"2024-01-01 00:00:{i % 60:02d}.{i:06d}",
                         None if i % 3 else "2030-01-01 00:00:00", 1901 + i % 200, "abcd"[: i % 5],
                         "x" * (i % 200), None if i % 4 else "é" * (i * 100), "m" * (i * 700), b"\x00\x01\x02\x03",
                         bytes([i % 256]) * (i % 60), bytes(range(i % 256)), "medium", "b", "{}", b"\x01", None))
        for row in rows:
            cur.execute(f"INSERT INTO torture VALUES ({placeholders})", list(row))
        cur.execute("CREATE TABLE zero_dates (id INT PRIMARY KEY, d DATE, dt DATETIME, ts TIMESTAMP NULL)")
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("INSERT INTO zero_dates VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), "
                    "(2, '2024-01-02', '2024-01-02 03:04:05', '2024-01-02 03:04:05'), (3, NULL, NULL, NULL), "
                    "(4, '2024-00-00', '2024-02-30 10:00:00', NULL), (5, '2024-02-30', '2024-04-00 00:00:00.5', NULL)")
        cur.executemany("INSERT INTO zero_dates VALUES (%s, %s, %s, NULL)",
                        [(i, "2024-02-29" if i % 3 else "2023-02-29", f"2024-0{i % 9 + 1}-31 01:02:03")
                         for i in range(6, 40)])
        conn.commit()
    return mariadb_url(name)


@pytest.mark.mariadb
@pytest.mark.parametrize("batch_rows", [1, 7, 100, 10_000])
def test_fast_path_gives_the_same_batches_for_every_type(typed_source: str, batch_rows: int) -> None:
    sql = "SELECT * FROM torture ORDER BY id"
    fast = read_all(typed_source, "torture", sql, batch_rows, True)
    slow = read_all(typed_source, "torture", sql, batch_rows, False)
    assert [b.num_rows for b in fast] == [b.num_rows for b in slow]
    for f, s in zip(fast, slow, strict=True):
        assert f.schema == s.schema
        assert f.equals(s)


@pytest.mark.mariadb
@pytest.mark.parametrize("batch_rows", [1, 4, 100])
def test_zero_and_invalid_dates_read_as_null_on_both_paths(typed_source: str, batch_rows: int) -> None:
    """Dates off the calendar (0000-00-00, 2024-00-00, 2024-02-30, 2024-04-00) are NULL on the fast path (its
    compiled parsers) and on the reference path (PyMySQL hands them over as text) alike; the fields say so."""
    sql = "SELECT * FROM zero_dates WHERE id > :low ORDER BY id"
    fast = pa.Table.from_batches(read_all(typed_source, "zero_dates", sql, batch_rows, True, {"low": 0}))
    slow = pa.Table.from_batches(read_all(typed_source, "zero_dates", sql, batch_rows, False, {"low": 0}))
    assert fast.equals(slow)
    rows = {r["id"]: r for r in fast.to_pylist()}
    assert [rows[i]["d"] for i in (1, 3, 4, 5)] == [None] * 4
    assert [rows[i]["dt"] for i in (1, 4, 5)] == [None] * 3 and rows[1]["ts"] is None
    assert str(rows[2]["d"]) == "2024-01-02" and str(rows[2]["ts"]) == "2024-01-02 03:04:05"
    assert rows[6]["d"] is None and str(rows[7]["d"]) == "2024-02-29"  # 2023-02-29 is off the calendar
    assert rows[8]["dt"] is None and str(rows[7]["dt"]) == "2024-08-31 01:02:03"  # 2024-09-31 is not a day
    assert all(fast.schema.field(c).metadata[b"hfit.zero_date"] == b"null" for c in ("d", "dt", "ts"))


@pytest.mark.mariadb
def test_bound_parameters_and_empty_results(typed_source: str) -> None:
    sql = "SELECT * FROM torture WHERE id IN :ids AND vc <> :text ORDER BY id"
    values = {"ids": [1, 5, 9, 400], "text": "it's \\ odd"}
    fast = read_all(typed_source, "torture", sql, 2, True, values)
    slow = read_all(typed_source, "torture", sql, 2, False, values)
    assert pa.Table.from_batches(fast).equals(pa.Table.from_batches(slow))
    assert read_all(typed_source, "torture", "SELECT * FROM torture WHERE id < 0", 5, True) == []


@pytest.mark.mariadb
def test_the_fast_path_is_taken_for_pymysql(typed_source: str) -> None:
    engine = create_source_engine("SRC", typed_source)
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["torture"]).tables["torture"]
        result = conn.execution_options(stream_results=True, yield_per=5).execute(sa.text("SELECT * FROM torture"))
        batches = mysql_fast.fast_batches(result, schema_for(table, list(result.keys())), 5)
        assert batches is not None
        assert sum(b.num_rows for b in batches) == 259
        result.close()
        # the connection is usable afterwards, in the same transaction
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM torture").scalar() == 259
    engine.dispose()


# ------------------------------------------------------------------------------ hand-made protocol streams


def lenenc(value: bytes | None) -> bytes:
    if value is None:
        return b"\xfb"
    n = len(value)
    if n < 251:
        head = bytes([n])
    elif n < 1 << 16:
        head = b"\xfc" + struct.pack("<H", n)
    elif n < 1 << 24:
        head = b"\xfd" + struct.pack("<I", n)[:3]
    else:
        head = b"\xfe" + struct.pack("<Q", n)
    return head + value


def packets(payloads: list[bytes], seq: int = 1) -> bytes:
    out = bytearray()
    for payload in payloads:
        while True:  # a payload of 16 MiB - 1 or more is split, with an empty packet after an exact multiple
            piece, payload = payload[: mysql_fast.MAX_PACKET], payload[mysql_fast.MAX_PACKET :]
            out += struct.pack("<I", len(piece))[:3] + bytes([seq & 0xFF]) + piece
            seq += 1
            if len(piece) < mysql_fast.MAX_PACKET:
                break
    return bytes(out)


EOF = b"\xfe\x00\x00\x02\x00"


class FakeFile:
    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.pos, self.chunk = data, 0, chunk

    def read1(self, n: int) -> bytes:
        piece = self.data[self.pos : self.pos + min(n, self.chunk)]
        self.pos += len(piece)
        return piece

    def readinto1(self, buffer: memoryview) -> int:
        piece = self.read1(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)


class FakeConnection:
    def __init__(self, data: bytes, chunk: int) -> None:
        self._rfile = FakeFile(data, chunk)
        self._sock = type("Sock", (), {"settimeout": lambda self, t: None})()
        self._read_timeout = self._current_timeout = None
        self._next_seq_id = 1
        self.encoding = "utf8"
        self.closed = False

    def _force_close(self) -> None:
        self.closed = True


def fake_reader(data: bytes, chunk: int, converters: list[Any], schema: pa.Schema,
                batch_rows: int = 3) -> tuple[Any, FakeConnection]:
    conn = FakeConnection(data, chunk)
    result = MySQLResult.__new__(MySQLResult)
    result.converters, result.unbuffered_active, result.connection = converters, True, conn
    cursor = type("Cursor", (), {"rownumber": 0})()
    return mysql_fast._RowReader(cursor, conn, result, schema, batch_rows, batch_rows), conn


SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string())])
CONVERTERS = [("ascii", int), ("utf8", None)]


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_long_values_and_split_rows_decode(chunk: int) -> None:
    texts = [None, "a", "é" * 200, "b" * 70_000, "c" * 300_000, "", "d" * 40]
    if chunk > 1:
        texts.append("z" * (mysql_fast.MAX_PACKET + 10))  # one row over two packets
    rows = [lenenc(str(i).encode()) + lenenc(None if t is None else t.encode()) for i, t in enumerate(texts)]
    reader, conn = fake_reader(packets(rows) + packets([EOF], seq=len(rows) + 1 + (chunk > 1)), chunk,
                               CONVERTERS, SCHEMA)
    table = pa.Table.from_batches(list(reader.batches()))
    assert table.column("id").to_pylist() == list(range(len(texts)))
    assert table.column("text").to_pylist() == texts
    assert conn._next_seq_id == (len(rows) + 2 + (chunk > 1)) & 0xFF
    assert not reader.result.unbuffered_active


def test_an_error_packet_mid_result_is_a_dbapi_error() -> None:
    rows = [lenenc(b"1") + lenenc(b"x")]
    error = b"\xff" + struct.pack("<H", 1317) + b"#70100Query execution was interrupted"
    reader, _ = fake_reader(packets(rows) + packets([error], seq=2), 1 << 20, CONVERTERS, SCHEMA)
    with pytest.raises(sa.exc.DBAPIError) as info:
        list(reader.batches())
    assert isinstance(info.value.orig, pymysql.err.OperationalError) and info.value.orig.args[0] == 1317


def test_a_sequence_error_closes_the_connection() -> None:
    rows = [lenenc(b"1") + lenenc(b"x"), lenenc(b"2") + lenenc(b"y")]
    data = bytearray(packets(rows) + packets([EOF], seq=3))
    data[len(packets(rows[:1])) + 3] = 9  # the second row's sequence id
    reader, conn = fake_reader(bytes(data), 1 << 20, CONVERTERS, SCHEMA)
    with pytest.raises(sa.exc.DBAPIError, match="sequence"):
        list(reader.batches())
    assert conn.closed


def test_a_row_with_missing_fields_is_refused() -> None:
    reader, conn = fake_reader(packets([lenenc(b"1")]) + packets([EOF], seq=2), 1 << 20, CONVERTERS, SCHEMA)
    with pytest.raises(sa.exc.DBAPIError, match="fewer fields"):
        list(reader.batches())


def test_locate_reads_every_length_prefix() -> None:
    values = [b"", b"x" * 250, b"y" * 251, b"z" * 65_536, None]
    data = b"".join(lenenc(v) for v in values)
    raw = np.frombuffer(data, dtype=np.uint8)
    shape = (len(values), 1)
    start, length, null = np.empty(shape, np.int64), np.empty(shape, np.int64), np.empty(shape, np.bool_)
    assert mysql_fast._locate_all(raw, np.array([0]), np.array([len(data)]), start, length, null) == 0
    assert [None if null[j, 0] else data[start[j, 0] : start[j, 0] + length[j, 0]] for j in range(len(values))] \
        == values
    short = np.array([len(data) - 1])  # the row ends before its last field (the NULL)
    assert mysql_fast._locate_all(raw, np.array([0]), short, start, length, null) == 1
    one = np.frombuffer(lenenc(b"abc"), dtype=np.uint8)  # the row ends inside its only field
    assert mysql_fast._locate_all(one, np.array([0]), np.array([3]), start[:1], length[:1], null[:1]) == 2


def test_an_abandoned_result_is_read_to_its_end() -> None:
    """Closed early (the build failed elsewhere), the reader skips the rest so the connection stays in sync."""
    rows = [lenenc(str(i).encode()) + lenenc(b"v" * (i % 300)) for i in range(50)]
    rows.append(lenenc(b"50") + lenenc(b"w" * (mysql_fast.MAX_PACKET + 3)))  # a long row among the skipped ones
    rows.append(lenenc(b"51") + lenenc(b"\xfe\x00"))
    data = packets(rows) + packets([EOF], seq=len(rows) + 2)
    reader, conn = fake_reader(data, 4096, CONVERTERS, SCHEMA, batch_rows=4)
    batches = reader.batches()
    assert next(batches).num_rows == 4
    batches.close()
    assert not reader.result.unbuffered_active and not conn.closed
    assert conn._rfile.pos == len(data)
    assert conn._next_seq_id == (len(rows) + 3) & 0xFF


@pytest.mark.parametrize("batch_rows", [1, 2])
def test_a_row_of_16_mib_or_more_in_the_last_slot_of_a_batch(batch_rows: int) -> None:
    """A row split over two packets may be the last row a batch has room for; the next batch starts behind it."""
    texts = ["a", "z" * (mysql_fast.MAX_PACKET + 10), "b", "c"]
    rows = [lenenc(str(i).encode()) + lenenc(t.encode()) for i, t in enumerate(texts)]
    reader, conn = fake_reader(packets(rows) + packets([EOF], seq=len(rows) + 2), 1 << 20, CONVERTERS, SCHEMA,
                               batch_rows=batch_rows)
    batches = list(reader.batches())
    assert [b.num_rows for b in batches] == [batch_rows] * (len(texts) // batch_rows)
    assert pa.Table.from_batches(batches).column("text").to_pylist() == texts
    assert conn._next_seq_id == (len(rows) + 3) & 0xFF


def test_an_empty_packet_mid_result_is_refused() -> None:
    """A zero-length packet where a row should be is a protocol error: refused, the connection closed."""
    rows = [lenenc(b"1") + lenenc(b"x"), b""]
    reader, conn = fake_reader(packets(rows) + packets([EOF], seq=3), 1 << 20, CONVERTERS, SCHEMA)
    with pytest.raises(sa.exc.DBAPIError, match="empty packet"):
        list(reader.batches())
    assert conn.closed


def test_a_wrong_sequence_id_on_the_end_of_the_result_is_refused() -> None:
    rows = [lenenc(b"1") + lenenc(b"x")]
    reader, conn = fake_reader(packets(rows) + packets([EOF], seq=7), 1 << 20, CONVERTERS, SCHEMA)
    with pytest.raises(sa.exc.DBAPIError, match="sequence"):
        list(reader.batches())
    assert conn.closed


@pytest.mark.parametrize(("texts", "scale", "expected"), [
    (["0", "-7", "123456789012345678", None], -1, [0, -7, 123456789012345678, 0]),
    (["12.5", "-0.01", "7", "999.99"], 2, [1250, -1, 700, 99999]),
    (["1234567890123456789"], -1, None),  # 19 digits: left to Arrow's cast (may not fit an int64)
    (["1.5"], -1, None), (["1.234"], 2, None), (["-"], -1, None), ([""], -1, None), (["1e5"], -1, None),
])
def test_numbers_are_parsed_from_the_wire_text_or_left_to_arrow(texts, scale, expected) -> None:
    """Integers and decimals straight from MySQL's text; anything unusual goes back to Arrow's exact cast."""
    data = b"".join((t or "").encode() for t in texts)
    lengths = np.array([len((t or "").encode()) for t in texts], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    null = np.array([t is None for t in texts])
    values, ok = mysql_fast._parse_numbers(np.frombuffer(data, dtype=np.uint8), starts, lengths, null, scale)
    assert ok == (expected is not None)
    if expected is not None:
        assert values.tolist() == expected


def test_datetimes_parsed_from_the_wire_equal_arrows_cast() -> None:
    """DATETIME text is parsed by a compiled loop: every valid value (leap days, fractions of 1-6 digits, years
    1-9999) gives Arrow's timestamp, a date off the calendar (which Arrow refuses) is marked invalid (NULL), and
    odd layouts are left to Arrow."""
    rnd = random.Random(4)
    values = []
    for _ in range(20_000):
        year = rnd.choice([1, 4, 100, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999, rnd.randrange(1, 10_000)])
        text = (f"{year:04d}-{rnd.randrange(1, 13):02d}-{rnd.choice([1, 28, 29, 30, 31, rnd.randrange(1, 29)]):02d} "
                f"{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}")
        if rnd.random() < 0.5:
            text += "." + "".join(str(rnd.randrange(10)) for _ in range(rnd.randint(1, 6)))
        values.append(text)

    def parsed(texts: list[str | None]) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
        array = pa.array(texts, pa.string())
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32).astype(np.int64)
        null = ~array.is_valid().to_numpy(zero_copy_only=False)
        micros, invalid, ok = mysql_fast._parse_datetimes(np.frombuffer(array.buffers()[2], dtype=np.uint8),
                                                          offsets[:-1], np.diff(offsets), null)
        return micros, ok, null, invalid

    valid = []
    for text in values:
        try:
            pc.cast(pa.array([text]), pa.timestamp("us"))
            valid.append(text)
        except pa.ArrowInvalid:
            _, ok, _, invalid = parsed([text])  # e.g. 1900-02-29: Arrow refuses it, the loop marks it invalid
            assert ok and invalid[0], text
    micros, ok, null, invalid = parsed([*valid, None])
    assert ok and len(valid) > 15_000 and not invalid.any()
    expected = pc.cast(pa.array(valid), pa.timestamp("us")).cast(pa.int64()).to_numpy()
    assert micros[:-1].tolist() == expected.tolist() and null[-1]
    for off_calendar in ["0000-00-00 00:00:00", "2020-13-01 00:00:00", "2020-02-30 00:00:00", "2020-00-10 00:00:00"]:
        assert parsed([off_calendar])[3][0], off_calendar
    for odd in ["2020-01-01 24:00:00", "2020-01-01T00:00:00", "2020-01-01 00:00:00.", "2020-01-01 00:00:0x",
                "2020-01-01 00:00:00.1234567"]:
        assert not parsed([odd])[1], odd


def test_the_fast_read_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``HFIT_FAST_READ=0`` chooses the reference path for a whole build (settings pass it down)."""
    from hfit_dagster.settings import HfitSettings

    monkeypatch.delenv("HFIT_FAST_READ", raising=False)
    assert HfitSettings().fast_read is True
    monkeypatch.setenv("HFIT_FAST_READ", "0")
    assert HfitSettings().fast_read is False


def test_dates_parsed_from_the_wire_equal_arrows_cast() -> None:
    """DATE text is parsed by a compiled loop: every calendar date gives Arrow's date32, a date off the calendar
    (0000-00-00, month or day 0, February 29 of a common year, April 31) is NULL, another layout is declined."""
    rnd = random.Random(5)
    texts = [f"{rnd.choice([1, 1600, 1900, 1970, 2000, 2024, 9999, rnd.randrange(1, 10_000)]):04d}-"
             f"{rnd.randrange(0, 13):02d}-{rnd.choice([0, 1, 28, 29, 30, 31, rnd.randrange(1, 29)]):02d}"
             for _ in range(20_000)] + [None]
    array = pa.array(texts, pa.string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32).astype(np.int64)
    null = ~array.is_valid().to_numpy(zero_copy_only=False)
    parsed = mysql_fast._dates(array.buffers()[2], offsets[:-1], np.diff(offsets), null)
    for text, value in zip(texts, parsed.to_pylist(), strict=True):
        try:
            expected = pc.cast(pa.array([text], pa.string()), pa.date32())[0].as_py()
        except pa.ArrowInvalid:
            expected = None
        assert value == expected, text
    with pytest.raises(mysql_fast._Unsupported):
        odd = pa.array(["2024/01/01"])
        mysql_fast._dates(odd.buffers()[2], np.array([0]), np.array([10]), np.array([False]))
