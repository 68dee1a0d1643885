"""Decimal text (a PostgreSQL numeric read as the server's text) into a DECIMAL column: the compiled row writer
writes exactly what the Arrow path, its reference, writes.

What it protects: a package built from a PostgreSQL source has the same SQL whichever path rendered its numeric
columns: plain decimals as unquoted numbers, NULL as NULL, and anything else (NaN, infinities, money text,
blanks) left to the Arrow path, which quotes, strips or nulls it per dialect and counts what it nulled. Also
run with ``NUMBA_DISABLE_JIT=1`` (``make test-nojit``).
"""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hfit_dagster.package.sql import compiled_rows
from hfit_dagster.package.sql.writer import SqlScriptWriter

PLAIN = ["0", "-0.05", "12.50", "99999999.99", "-99999999.99", "123456789012345678901234567890.0123456789",
         "0.0000001", "-1", None]
NOT_PLAIN = ["NaN", "Infinity", "-Infinity", "$1,234.50", " 1.5", "1.", ".5", "-", "", "1e5", "+1", "1.2.3",
             "1-2", "12\n"]


def _table(nullable: bool) -> sa.Table:
    return sa.Table("t", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("amount", sa.Numeric(40, 10), nullable=nullable))


def _script(values: list[str | None], dialect: str, compiled: bool) -> tuple[bytes, int]:
    batch = pa.RecordBatch.from_pydict({"id": pa.array(range(len(values)), pa.int64()),
                                        "amount": pa.array(values, pa.string())})
    writer = SqlScriptWriter(out := io.BytesIO(), dialect, max_statement_bytes=300, compiled_rows=compiled)
    writer.write_rows(_table(nullable=True), batch)
    writer.flush()
    return out.getvalue(), writer.nulled_floats


@pytest.mark.parametrize("dialect", ["mysql", "postgresql", "sqlite"])
def test_compiled_decimal_text_equals_the_arrow_path(dialect: str) -> None:
    """Plain decimals (with NULLs, in random order, from sliced arrays) are written by the compiled loop, and the
    script is byte for byte the Arrow path's; a batch with one value that is not plain is the Arrow path's too."""
    rng = random.Random(5)
    plain = [rng.choice(PLAIN) for _ in range(500)]
    assert _script(plain, dialect, True) == _script(plain, dialect, False)
    for start, length in ((3, 1), (17, 200)):
        part = plain[start:start + length]
        assert _script(part, dialect, True) == _script(part, dialect, False)
    for odd in NOT_PLAIN:
        mixed = plain[:40] + [odd] + plain[40:80]
        assert _script(mixed, dialect, True) == _script(mixed, dialect, False), odd


def test_only_plain_decimal_text_takes_the_compiled_loop() -> None:
    """The compiled loop takes a column of plain decimals (NULLs included) and declines any other text, which
    then goes to the Arrow path as literals."""
    writer = SqlScriptWriter(io.BytesIO(), "postgresql")
    table = _table(nullable=True)
    plain = pa.RecordBatch.from_pydict({"id": pa.array([1, 2], pa.int64()), "amount": pa.array(["1.50", None])})
    assert writer.row_source(table, plain).kinds == [compiled_rows.NUMBER, compiled_rows.BARE]
    for odd in NOT_PLAIN:
        batch = pa.RecordBatch.from_pydict({"id": pa.array([1, 2], pa.int64()), "amount": pa.array(["1.50", odd])})
        assert writer.row_source(table, batch).kinds == [compiled_rows.NUMBER, compiled_rows.LITERAL], odd
