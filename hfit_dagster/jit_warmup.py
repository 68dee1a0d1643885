"""Compile every numba loop of hfit into numba's on-disk cache at install time: ``python -m hfit_dagster.jit_warmup``.

Why: compiling them costs ~20 s of CPU, which the first build after an install would otherwise pay (and every
build, where the cache is not kept). numba compiles one specialization per combination of argument types
(array dtype, layout, read-only or not, integer or boolean scalars), so the loops are reached here through the
code that calls them in a build, with the Arrow types a build's batches have: the MySQL reader over row packets
of every column kind it decodes, the PostgreSQL reader over a binary COPY reply, every masking operator, the
row-context search of free text, the leak check's token hashes and the SQL row writer with both escaping rules.
Each piece of data is made up; nothing is read or written but numba's cache.

:func:`unwarmed` names the compiled functions a warm-up in a fresh cache did not compile (the test of this
module runs it so that a new compiled loop cannot be forgotten here).
"""

from __future__ import annotations

import importlib
import io
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pymysql.converters as pymysql_converters

from hfit_dagster.checks.digit_text import digit_dot_digit, only_digits, separators_between_digits_dropped
from hfit_dagster.checks.token_hashes import TokenPatterns, add_first_tokens, first_token_filter, tokens_of
from hfit_dagster.extract.mysql_fast import _RowReader
from hfit_dagster.extract.postgres_copy import _KINDS as _PG_KINDS
from hfit_dagster.extract.postgres_copy import _Reader as _PgCopyReader
from hfit_dagster.jit import COMPILED
from hfit_dagster.masking.catalog import TEXT_OPERATORS
from hfit_dagster.masking.engine import Masker, rows_naming_own_values
from hfit_dagster.masking.known_spans import row_context
from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.package.sql.compiled_rows import MYSQL_ESCAPES, POSTGRESQL_ESCAPES, RowSource

KEY = b"jit-warmup-key-not-a-secret-0123456789"
NAMES = ["Quentin Zabrowski", "ada lovelace", "GRACE HOPPER", None, "Jean-Luc Picard", "Zoë Ødegård"]
TEXTS = ["Call Quentin Zabrowski at +44 20 7946 0958 or qz@mail.example", "ada lovelace wrote",
         "nothing here", None, "Jean-Luc Picard, FR76 3000 6000 0112 3456 7890 189", "Zoë Ødegård écrit"]
# a sample per operator input: most operators fake strings; these take other kinds too
STRINGS = pa.array(["qz@mail.example", "+44 20 7946 0958", "4111 1111 1111 1111", None,
                    "FR7630006000011234567890189", "10.0.0.1"], pa.string())
DATES = pa.array([date(1980, 1, 2), None, date(2001, 12, 31), date(1970, 1, 1), date(1999, 2, 28),
                  date(2020, 2, 29)], pa.date32())
INTEGERS = pa.array([1, 22, None, 4444, 55555, 666666], pa.int64())


def _layouts(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``values`` in both memory layouts a build meets: buffers numpy may write (Arrow built them) and read-only
    ones (read from a driver's bytes, IPC, Parquet), which numba compiles separately."""
    batch = pa.record_batch([values], ["v"])
    return values, pa.ipc.read_record_batch(batch.serialize(), batch.schema).column(0)


def warm_mysql_reader() -> None:
    """The MySQL reader (``extract.mysql_fast``) over a made-up stream of text-protocol row packets with a
    column of each kind it decodes itself (integers, decimals, DATETIME, DATE, text, binary)."""
    converters = [("ascii", int), ("ascii", Decimal), ("ascii", pymysql_converters.convert_datetime),
                  ("ascii", pymysql_converters.convert_date), ("utf8", None), (None, None), ("ascii", float)]
    schema = pa.schema([("id", pa.int32()), ("amount", pa.decimal128(8, 2)), ("at", pa.timestamp("us")),
                        ("day", pa.date32()), ("name", pa.string()), ("blob", pa.binary()), ("ratio", pa.float64())])
    rows = [[b"1", b"12.50", b"2024-01-02 03:04:05", b"2024-01-02", "Zoë".encode(), b"\x00\x01", b"0.5"],
            [b"-2", b"0.07", b"2024-02-29 23:59:59.123456", b"0000-00-00", b"x", b"", b"1e3"],
            [None, None, None, None, None, None, None]]
    stream, seq = bytearray(), 1
    for row in rows:
        payload = b"".join(b"\xfb" if value is None else bytes([len(value)]) + value for value in row)
        stream += len(payload).to_bytes(3, "little") + bytes([seq]) + payload
        seq += 1
    eof = b"\xfe\x00\x00\x02\x00"
    stream += len(eof).to_bytes(3, "little") + bytes([seq]) + eof
    # stand-ins for PyMySQL's connection, result and cursor: only what the reader touches, the socket a byte stream
    conn = SimpleNamespace(_current_timeout=None, _read_timeout=None, _next_seq_id=1, encoding="utf8",
                           _rfile=io.BufferedReader(io.BytesIO(bytes(stream))), _force_close=lambda: None)
    result = SimpleNamespace(converters=converters, unbuffered_active=True, connection=conn, rows=None,
                             _check_packet_is_eof=lambda packet: None)
    reader = _RowReader(SimpleNamespace(rownumber=0), conn, result, schema, batch_rows=2, first_batch=1)
    for _ in reader.batches():
        pass


def warm_postgres_reader() -> None:
    """The PostgreSQL binary COPY reader (``extract.postgres_copy``) over a made-up reply: a column of each kind
    it decodes (integers of each width, floats, bool, date, timestamp, time, text, bytea), NULLs among them."""
    types = ["int2", "int4", "int8", "float4", "float8", "bool", "date", "timestamp", "time", "text", "bytea"]
    schema = pa.schema([("i2", pa.int64()), ("i4", pa.int64()), ("i8", pa.int64()), ("f4", pa.float32()),
                        ("f8", pa.float64()), ("b", pa.bool_()), ("d", pa.date32()), ("ts", pa.timestamp("us")),
                        ("t", pa.time64("us")), ("name", pa.string()), ("blob", pa.binary())])
    row = [(-2).to_bytes(2, "big", signed=True), (7).to_bytes(4, "big"), (-(2**40)).to_bytes(8, "big", signed=True),
           bytes.fromhex("3fc00000"), bytes.fromhex("3ff8000000000000"), b"\x01", (9000).to_bytes(4, "big"),
           (10**15).to_bytes(8, "big"), (3_600_000_000).to_bytes(8, "big"), "Zoë".encode(), b"\x00\xff"]

    def message(kind: bytes, body: bytes) -> bytes:
        return kind + (len(body) + 4).to_bytes(4, "big") + body

    def tuple_of(values: list[bytes | None]) -> bytes:
        fields = b"".join(b"\xff\xff\xff\xff" if v is None else len(v).to_bytes(4, "big") + v for v in values)
        return len(values).to_bytes(2, "big") + fields

    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    reply = (message(b"H", bytes(3)) + message(b"d", header + tuple_of(row)) + message(b"d", tuple_of([None] * 11))
             + message(b"d", tuple_of(row)) + message(b"d", b"\xff\xff") + message(b"c", b"")
             + message(b"C", b"COPY 3\x00") + message(b"Z", b"I"))
    kinds = np.array([_PG_KINDS[t][0] for t in types], dtype=np.int64)
    widths = np.array([_PG_KINDS[t][1] for t in types], dtype=np.int64)
    stream = io.BytesIO(reply)  # stands in for the socket: recv_into reads the reply in pieces
    sock = SimpleNamespace(recv_into=lambda view: stream.readinto(view[:7]))
    for _ in _PgCopyReader(sock, kinds, widths, schema, batch_rows=2).batches():
        pass


def warm_masking() -> None:
    """Every masking operator on a sample of its inputs (NULLs among them), and the search of free text for
    its row's own values and their fakes."""
    masker = Masker(KEY, fixed_values={"*": "fixed"})
    for name in OPERATORS:
        if name in TEXT_OPERATORS:  # free text: the analyzer's path, warmed below without Presidio
            continue
        for sample in (STRINGS, pa.array(NAMES, pa.string()), DATES if name == "date_of_birth" else INTEGERS):
            for values in _layouts(sample):
                try:
                    masker.mask_array(name, values)
                except Exception:  # noqa: BLE001 - an operator that does not take this kind of input
                    continue
    for texts, names in zip(_layouts(pa.array(TEXTS, pa.string())), _layouts(pa.array(NAMES, pa.string())),
                            strict=True):
        fakes = masker.mask_array("person_name", names)
        rows_naming_own_values(texts, [names])
        rows_naming_own_values(pc.fill_null(texts, ""), [names])
        row_context(texts, [names], [fakes])


def warm_leak_check() -> None:
    """The leak check's token hashes (tokens of values, the searched patterns and the first-token filter) and its
    digit passes (separators between digits dropped, digits only)."""
    samples = (pa.array([t or "" for t in TEXTS], pa.string()), pa.array([n or "" for n in NAMES], pa.string()),
               pa.array(["", ""], pa.string()))
    for values in (layout for sample in samples for layout in _layouts(sample)):
        separators_between_digits_dropped(values)
        only_digits(values)
        digit_dot_digit(values)
        tokens = tokens_of(values)
        if tokens.hashes.size:
            lengths = np.ones(tokens.hashes.size, dtype=np.int64)
            TokenPatterns.build(tokens.hashes, lengths, tokens.owner, first_tokens=tokens.hashes)
            add_first_tokens(first_token_filter(), tokens.hashes)


def warm_sql_rows() -> None:
    """The SQL row writer over a batch of each column kind, with MySQL's and PostgreSQL's escaping."""
    names = _layouts(pa.array(NAMES, pa.string()))
    decimals = _layouts(pa.array(["1.50", None, "-2.25", "0", "10", "3.14"], pa.string()))  # a numeric's text
    for escaping, layout in ((MYSQL_ESCAPES, 0), (MYSQL_ESCAPES, 1), (POSTGRESQL_ESCAPES, 0), (POSTGRESQL_ESCAPES, 1)):
        text = names[layout]
        n = len(NAMES)
        source = RowSource.empty(n)
        source.add_integers(INTEGERS)
        source.add_integers(pa.array(range(n), pa.int64()))
        source.add_decimals(pa.array([Decimal("1.50"), None, Decimal("-2.25"), Decimal("0"), Decimal("10"),
                                      Decimal("3.14")], pa.decimal128(8, 2)))
        moments = pa.array([datetime(2024, 1, 2, 3, 4, 5, 6), None, datetime(1970, 1, 1), datetime(1999, 12, 31),
                            datetime(2000, 2, 29, 12), datetime(2038, 1, 19)], pa.timestamp("us"))
        source.add_timestamps(moments, False, escaping == POSTGRESQL_ESCAPES)
        source.add_timestamps(moments, True, False)
        source.add_dates(DATES)
        source.add_text(text, escaping)
        source.add_text(pa.array(["it's", "a\\b", "\n", "", "x", "y"], pa.string()), escaping)
        source.add_literals(pa.array(["NULL", "1", "'a'", "2", "3", "4"], pa.string()))
        source.add_plain_decimals(decimals[layout])
        source.rows_text()


def warm_all() -> None:
    warm_mysql_reader()
    warm_postgres_reader()
    warm_masking()
    warm_leak_check()
    warm_sql_rows()


def unwarmed() -> list[str]:
    """The compiled functions without a compiled specialization in this process (after :func:`warm_all` in a
    fresh cache: the ones it does not reach), every module of hfit that compiles a function imported first."""
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        if "\n@compiled\n" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(package).with_suffix("").parts
            importlib.import_module(".".join((package.name, *parts)))
    return sorted(f"{d.py_func.__module__}.{d.py_func.__qualname__}" for d in COMPILED if not d.signatures)


def main() -> int:
    warm_all()
    print(f"numba: {len(COMPILED)} compiled functions warmed into the on-disk cache", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
