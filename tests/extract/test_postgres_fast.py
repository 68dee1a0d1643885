"""The PostgreSQL fast read path (ADBC's binary COPY) gives the very batches the reference path (psycopg rows
through SQLAlchemy) gives, on the same snapshot, with parameters bound by the driver.

Against the real PostgreSQL: every type the fast path takes with its edge values (NaN, infinities, BC dates,
24:00:00, -0, empty and NULL), odd batch sizes, bound parameters that look like SQL, a row committed after the
snapshot began, a template schema, a failing query, a read abandoned half way, and the explicit fallback for
types it does not take.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.postgres_fast import FAST_READER
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import PG_ADMIN

pytestmark = pytest.mark.postgres

TYPED = r"""
CREATE TABLE typed (
  id int PRIMARY KEY, i16 smallint, i64 bigint, n numeric, n2 numeric(12,2), n38 numeric(38,10), r real,
  dp double precision, b boolean, c char(4), vc varchar(20), tx text, by bytea, d date, ts timestamp,
  tz timestamptz, tm time, j json, jb jsonb
);
INSERT INTO typed VALUES
 (1, -32768, -9223372036854775808, 0.0000001, 12.50, 1234567890123456789012345678.0123456789, 16777217,
  'NaN', true, 'ab', 'quote '' "dq"', E'line1\nline2\ttab 😀 中文', '\x00ff', 'infinity', 'infinity',
  'infinity', '24:00:00', '{"k": [1, "two", null], "n": 1.50}', '{"n": 1.50, "s": "x"}'),
 (2, 32767, 9223372036854775807, -1e-40, -0.01, -0.0000000001, 1.1, 1.7976931348623157e308, false, '', '', '',
  '\x', '-infinity', '-infinity', '-infinity', '00:00:00', 'null', 'null'),
 (3, 0, 0, 'NaN', 'NaN', 0, 'Infinity', '-0', NULL, NULL, NULL, NULL, NULL, '0044-03-15 BC',
  '0044-03-15 12:00:00 BC', '10000-01-01 00:00:00+00', '12:34:56.789', '[]', '{}'),
 (4, NULL, NULL, 'Infinity', 99999999.99, NULL, '-Infinity', 0.1, NULL, NULL, NULL, NULL, '\x01', '2024-02-29',
  '2024-02-29 23:59:59.999999', '2024-06-01 12:00:00+02', NULL, NULL, NULL),
 (5, NULL, NULL, '-Infinity', 0, NULL, NULL, -1.5e-300, NULL, NULL, NULL, NULL, NULL, '0001-01-01 BC',
  '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', NULL, '"just a string"', '0');
INSERT INTO typed (id, i16, i64, n, n2, r, dp, b, c, vc, tx, by, d, ts, tz, tm, j, jb)
SELECT g, g % 300, g::bigint * 1000003, (g * 7)::numeric / 8, g % 1000 + 0.25, g / 3.0, g / 7.0, g % 2 = 0,
       left('wxyz', g % 5), repeat('v', g % 20), CASE WHEN g % 4 = 0 THEN NULL ELSE repeat('é', g % 50) END,
       decode(lpad(to_hex(g), 8, '0'), 'hex'), DATE '2020-01-01' + g, TIMESTAMP '2020-01-01' + g * INTERVAL '1 min',
       TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1.5 s', TIME '00:00:00' + g * INTERVAL '1 s',
       json_build_object('g', g), jsonb_build_object('g', g)
FROM generate_series(6, 2500) AS g;
CREATE TABLE other_types (id int PRIMARY KEY, u uuid, iv interval, ai int[]);
INSERT INTO other_types VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 year 2 mons', '{1,NULL,3}'),
  (2, NULL, NULL, NULL);
"""


@pytest.fixture
def typed_source(postgres_database) -> str:
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute(TYPED)
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def read(url: str, table_name: str, sql: str, batch_rows: int, fast: bool, values: dict[str, Any] | None = None,
         schema: str | None = None) -> tuple[list[pa.RecordBatch], bool]:
    """Every batch of ``sql`` by the fast or the reference path, and whether an ADBC reader was opened."""
    engine = create_source_engine("SRC", url)
    try:
        with read_only_snapshot("SRC", engine, schema=schema) as conn:
            table = reflect_tables("SRC", conn, [table_name]).tables[table_name]
            batches = list(stream_query(conn, table, ExportQuery.parse(sql), values or {}, batch_rows,
                                        fast_read=fast))
            return batches, FAST_READER in conn.info
    finally:
        engine.dispose()


def _bits(column: pa.Array) -> Any:
    """A column's values with floats as their bit patterns, so NaN equals NaN and -0.0 differs from 0.0."""
    if pa.types.is_floating(column.type):
        width = np.int32 if column.type == pa.float32() else np.int64
        values = column.fill_null(0).to_numpy(zero_copy_only=False).view(width).tolist()
        return [v if ok else None for v, ok in zip(values, column.is_valid().to_pylist(), strict=True)]
    if pa.types.is_date32(column.type):
        return column.cast(pa.int32()).to_pylist()
    if pa.types.is_timestamp(column.type) or pa.types.is_time64(column.type):
        return column.cast(pa.int64()).to_pylist()
    return column.to_pylist()


def assert_same_batches(fast: list[pa.RecordBatch], reference: list[pa.RecordBatch]) -> None:
    assert [b.num_rows for b in fast] == [b.num_rows for b in reference]
    for f, r in zip(fast, reference, strict=True):
        assert f.schema.equals(r.schema, check_metadata=True)
        for name in f.schema.names:
            assert _bits(f.column(name)) == _bits(r.column(name)), name


@pytest.mark.parametrize("batch_rows", [1, 3, 1000, 100_000])
def test_fast_path_gives_the_reference_batches_for_every_type_it_takes(typed_source: str, batch_rows: int) -> None:
    """A PostgreSQL export read by ADBC holds exactly the values (and batch sizes) the reference path gives."""
    sql = "SELECT * FROM typed ORDER BY id"
    fast, opened = read(typed_source, "typed", sql, batch_rows, True)
    reference, _ = read(typed_source, "typed", sql, batch_rows, False)
    assert opened, "the fast path was not taken"
    assert sum(b.num_rows for b in fast) == 2500
    assert_same_batches(fast, reference)
    first = pa.Table.from_batches(fast).slice(0, 5).combine_chunks()
    # the server's own spellings and the documented edge values, not only agreement between the paths
    assert first.column("n").to_pylist() == ["0.0000001", "-0.0000000000000000000000000000000000000001", "NaN",
                                             "Infinity", "-Infinity"]
    assert first.column("d").cast(pa.int32()).to_pylist() == [2**31 - 1, -(2**31), -735160, 19782, -719528]
    assert first.column("tm").cast(pa.int64()).to_pylist()[:3] == [86_400_000_000, 0, 45_296_789_000]


def test_types_it_does_not_take_go_to_the_reference_path(typed_source: str) -> None:
    """A query with a column the fast path cannot decode exactly (uuid, interval, arrays) is read whole by the
    reference path, and gives its values."""
    fast, opened = read(typed_source, "other_types", "SELECT * FROM other_types ORDER BY id", 10, True)
    reference, _ = read(typed_source, "other_types", "SELECT * FROM other_types ORDER BY id", 10, False)
    assert not opened
    assert_same_batches(fast, reference)
    assert fast[0].column("ai").to_pylist() == ["[1, null, 3]", None]


def test_bound_parameters_are_merged_by_the_driver(typed_source: str) -> None:
    """Values bound to a template query (text with quotes, backslashes and percent signs, a list of keys) select
    the same rows on both paths: the driver quotes them, nothing in them is read as SQL."""
    sql = "SELECT * FROM typed WHERE (vc = :v OR id IN :ids OR tx LIKE '%:%') AND vc <> :w ORDER BY id"
    values = {"v": "quote ' \"dq\"", "ids": [3, 7, 2400], "w": "x'; DROP TABLE typed; --\\ %s %%"}
    fast, opened = read(typed_source, "typed", sql, 100, True, values)
    reference, _ = read(typed_source, "typed", sql, 100, False, values)
    assert opened
    assert_same_batches(fast, reference)
    assert [r for b in fast for r in b.column("id").to_pylist()] == [1, 7, 2400]


def test_fast_read_sees_the_snapshot_not_later_commits(typed_source: str) -> None:
    """Rows committed after the build's snapshot began are not exported by the fast path either: its connection
    reads the snapshot the build's connection exported."""
    engine = create_source_engine("SRC", typed_source)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, ["typed"]).tables["typed"]
            dsn = PG_ADMIN.replace("dbname=postgres", f"dbname={engine.url.database}")
            with psycopg.connect(dsn, autocommit=True) as writer:
                writer.execute("INSERT INTO typed (id) VALUES (9999)")
                writer.execute("DELETE FROM typed WHERE id = 1")
            batches = list(stream_query(conn, table, ExportQuery.parse("SELECT * FROM typed"), {}, 1000))
            assert FAST_READER in conn.info
            ids = {i for b in batches for i in b.column("id").to_pylist()}
            assert 9999 not in ids and 1 in ids and len(ids) == 2500
    finally:
        engine.dispose()


def test_fast_read_reads_the_template_schema(typed_source: str) -> None:
    """With a template ``schema:``, the fast path reads that schema's table, not the public one of that name."""
    dsn = PG_ADMIN.replace("dbname=postgres", f"dbname={typed_source.rsplit('/', 1)[1]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop; CREATE TABLE shop.typed (id int PRIMARY KEY, vc varchar(20)); "
                     "INSERT INTO shop.typed VALUES (1, 'from shop'), (2, NULL)")
    fast, opened = read(typed_source, "typed", "SELECT * FROM typed ORDER BY id", 10, True, schema="shop")
    assert opened
    assert fast[0].to_pydict() == {"id": [1, 2], "vc": ["from shop", None]}


def test_a_failing_fast_read_names_the_provider_and_hides_values(typed_source: str) -> None:
    """A query that fails while the fast path reads it (a cast of personal text) is a ProviderError naming the
    provider and the export, without the value or the statement's bound values."""
    sql = "SELECT vc::int AS id FROM typed WHERE vc LIKE 'vvv%' AND vc <> :secret"
    with pytest.raises(ProviderError) as caught:
        read(typed_source, "typed", sql, 100, True, {"secret": "jane.doe@example.com"})
    message = str(caught.value)
    assert "'SRC'" in message and "typed" in message and "22P02" in message
    assert "vvv" not in message and "jane.doe" not in message


def test_a_read_abandoned_half_way_leaves_the_snapshot_usable(typed_source: str) -> None:
    """Stopping after the first batch (the plan preview does) and reading again gives every row the second time."""
    engine = create_source_engine("SRC", typed_source)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, ["typed"]).tables["typed"]
            query = ExportQuery.parse("SELECT id, vc FROM typed ORDER BY id")
            first: Iterator[pa.RecordBatch] = stream_query(conn, table, query, {}, 100)
            assert next(first).num_rows == 100
            first.close()
            again = list(stream_query(conn, table, query, {}, 100))
            assert sum(b.num_rows for b in again) == 2500 and FAST_READER in conn.info
            assert conn.execute(sa.text("SELECT count(*) FROM typed")).scalar() == 2500
    finally:
        engine.dispose()


def test_numerics_cast_by_the_server_keep_the_query_order_and_columns(typed_source: str) -> None:
    """A query with numeric columns (read as the server's text, cast by the server around the query), in its own
    column order, sorted by a numeric and ending in a comment, gives the reference path's rows in the same
    order."""
    sql = "SELECT n2, id, n, n38 FROM typed WHERE id <= 600 ORDER BY n2 DESC NULLS LAST, id -- by amount"
    fast, opened = read(typed_source, "typed", sql, 128, True)
    reference, _ = read(typed_source, "typed", sql, 128, False)
    assert opened
    assert_same_batches(fast, reference)
    rows = pa.Table.from_batches(fast)
    assert rows.column_names == ["n2", "id", "n", "n38"]
    assert rows.column("n2").to_pylist()[:3] == ["NaN", "99999999.99", "600.25"]
