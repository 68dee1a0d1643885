"""The compiled row writer (package/sql/compiled_rows.py) writes exactly what the Arrow path, its reference,
writes.

What it protects: a package's SQL text does not depend on which path rendered it, so the values that load
into MariaDB/PostgreSQL/SQLite are the ones the loading tests check. The comparison also runs with numba's
compilation off (``NUMBA_DISABLE_JIT=1``), where the loops run as plain Python.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hfit_dagster.package.sql import compiled_rows
from hfit_dagster.package.sql.writer import SqlScriptWriter


def _edge_columns() -> dict[str, pa.Array]:
    rng = random.Random(11)
    n = 400

    def pick(edges: list, make) -> list:  # edges first, then random values, a NULL now and then
        return edges + [None if rng.random() < 0.1 else make() for _ in range(n - len(edges))]

    alphabet = ["a", "Z", " ", "'", "\\", "\n", "\r", "\x1a", "\x00", "é", "😀", '"', "%", ";"]
    return {
        "i64": pa.array(pick([0, -1, 2**63 - 1, -(2**63), None], lambda: rng.randint(-(2**63), 2**63 - 1)),
                        pa.int64()),
        "i16": pa.array(pick([-(2**15), 2**15 - 1], lambda: rng.randint(-(2**15), 2**15 - 1)), pa.int16()),
        "u64": pa.array(pick([0, 2**63 - 1], lambda: rng.randint(0, 2**63 - 1)), pa.uint64()),
        "dec": pa.array(pick([Decimal("0.00"), Decimal("-0.05"), Decimal("99999999.99"), Decimal("-99999999.99")],
                             lambda: Decimal(rng.randint(-(10**10) + 1, 10**10 - 1)).scaleb(-2)),
                        pa.decimal128(10, 2)),
        "dec0": pa.array(pick([Decimal(10**18 - 1), Decimal(-(10**18) + 1)],
                              lambda: Decimal(rng.randint(-(10**18) + 1, 10**18 - 1))), pa.decimal128(18, 0)),
        "dec6": pa.array(pick([Decimal("0.000001"), Decimal("-0.000001")],
                              lambda: Decimal(rng.randint(-(10**12), 10**12)).scaleb(-6)), pa.decimal128(18, 6)),
        "ts": pa.array(pick([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(1970, 1, 1),
                             datetime(1969, 12, 31, 23, 59, 59, 999999), datetime(2000, 2, 29), datetime(1900, 3, 1)],
                            lambda: datetime(1, 1, 1) + timedelta(microseconds=rng.randint(0, 315537897599999999))),
                       pa.timestamp("us")),
        "day": pa.array(pick([0, -1, -719162, 2932896, 59, 60], lambda: rng.randint(-719162, 2932896)), pa.date32()),
        "txt": pa.array(pick(["", "plain", "it's", "\\", "nul\x00"],
                             lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))), pa.string()),
    }


def _script(columns: dict[str, pa.Array], table: sa.Table, dialect: str, compiled: bool) -> tuple[bytes, int]:
    out = io.BytesIO()
    writer = SqlScriptWriter(out, dialect, max_statement_bytes=2_000, compiled_rows=compiled)
    writer.write_rows(table, pa.RecordBatch.from_pydict(columns))
    writer.flush()
    return out.getvalue(), writer.removed_nul_characters


@pytest.mark.parametrize("dialect", ["mysql", "postgresql", "sqlite"])
def test_compiled_rows_equal_the_arrow_path(dialect: str) -> None:
    """Integers, decimals, dates, timestamps (as timestamps, as dates, zone-aware) and text with every escape."""
    columns = _edge_columns()
    md = sa.MetaData()
    table = sa.Table("t", md, *[sa.Column(name, sa.Text) for name in columns],
                     sa.Column("ts_date", sa.Date), sa.Column("ts_zone", sa.DateTime(timezone=True)))
    columns = {**columns, "ts_date": columns["ts"], "ts_zone": columns["ts"].cast(pa.timestamp("us", tz="UTC"))}
    for start, length in ((0, 400), (3, 1), (17, 200)):  # sliced arrays read from an offset into their buffers
        part = {name: values.slice(start, length) for name, values in columns.items()}
        assert _script(part, table, dialect, True) == _script(part, table, dialect, False)
    if dialect == "mysql":  # every column of this table is read straight from the batch
        source = SqlScriptWriter(io.BytesIO(), dialect).row_source(table, pa.RecordBatch.from_pydict(columns))
        assert compiled_rows.LITERAL not in source.kinds
    reference = SqlScriptWriter(io.BytesIO(), dialect, compiled_rows=False)
    assert set(reference.row_source(table, pa.RecordBatch.from_pydict(columns)).kinds) == {compiled_rows.LITERAL}


def test_compiled_rows_decline_what_they_do_not_cover() -> None:
    """Out-of-range values go to the Arrow path (False) instead of being written wrong."""
    source = compiled_rows.RowSource.empty(1)
    assert not source.add_integers(pa.array([2**64 - 1], pa.uint64()))
    assert not source.add_decimals(pa.array([Decimal(10**20)], pa.decimal128(30, 0)))
    assert not source.add_dates(pa.array([2932897], pa.date32()))  # 10000-01-01
    assert not source.add_timestamps(pa.array([-62135596800000001], pa.timestamp("us")), False, False)
    assert not source.add_text(pa.array(["a\x00b"]), compiled_rows.POSTGRESQL_ESCAPES)
    assert source.kinds == []
    assert source.add_text(pa.array(["a\x00b"]), compiled_rows.MYSQL_ESCAPES)
    source.add_literals(pa.array(["NULL"]))
    text, starts = source.rows_text()
    assert bytes(text) == b"('a\\0b',NULL),\n" and starts.tolist() == [0, len(text)]
