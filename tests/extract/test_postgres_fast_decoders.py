"""The PostgreSQL fast path's two decoders, the compiled socket reader (``postgres_copy``, the default) and ADBC's
driver, each give the very batches the reference path (psycopg rows through SQLAlchemy) gives.

Against the real PostgreSQL: every type the fast path takes with its edge values (the ``typed`` table of
``test_postgres_fast``), batch sizes from 1 row up, rows larger than the reader's first buffer, a result that
spans many receives, a query failing after rows were sent, and a read abandoned half way. Also run with
``NUMBA_DISABLE_JIT=1`` (``make test-nojit``), where the compiled loops run as plain Python.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pyarrow as pa
import pytest

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.postgres_fast import ADBC, FAST_DECODER, FAST_READER, SOCKET
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import PG_ADMIN
from tests.extract.test_postgres_fast import TYPED, assert_same_batches

pytestmark = pytest.mark.postgres

LARGE = """
CREATE TABLE large (id int PRIMARY KEY, body text, blob bytea, amount numeric(12,2), doc jsonb);
INSERT INTO large SELECT g, repeat(chr(97 + g % 26), 9000000 + g), decode(repeat('ab', 100 + g), 'hex'),
       g * 1.25, jsonb_build_object('g', g) FROM generate_series(1, 3) AS g;
CREATE TABLE many (id int PRIMARY KEY, name text, at timestamp, d date, f real, ok boolean, n numeric);
INSERT INTO many SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name ' || g || repeat('x', g % 40) END,
       TIMESTAMP '2001-02-03 04:05:06' + g * INTERVAL '1 second', DATE '1999-12-31' + g % 1000, g / 3.0, g % 3 = 0,
       CASE WHEN g % 11 = 0 THEN 'NaN' ELSE g / 7.0 END
FROM generate_series(1, 60000) AS g;
"""


def _database(postgres_database, ddl: str) -> str:
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute(ddl)
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def typed(postgres_database) -> str:
    return _database(postgres_database, TYPED)


@pytest.fixture
def source(postgres_database) -> str:
    return _database(postgres_database, LARGE)


def read(url: str, table_name: str, sql: str, batch_rows: int, decoder: str | None,
         values: dict[str, Any] | None = None) -> list[pa.RecordBatch]:
    """Every batch of ``sql`` by ``decoder`` (None: the reference path); a fast read checks which decoder read."""
    engine = create_source_engine("SRC", url)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            if decoder is not None:
                conn.info[FAST_DECODER] = decoder
            table = reflect_tables("SRC", conn, [table_name]).tables[table_name]
            batches = list(stream_query(conn, table, ExportQuery.parse(sql), values or {}, batch_rows,
                                        fast_read=decoder is not None))
            if decoder is not None:
                reader = conn.info[FAST_READER]
                assert (reader._adbc is None) == (decoder == SOCKET), "read by the other decoder"
            return batches
    finally:
        engine.dispose()


@pytest.mark.parametrize("decoder", [SOCKET, ADBC])
@pytest.mark.parametrize("batch_rows", [1, 7, 1000, 100_000])
def test_fast_path_decoders_give_the_reference_batches(typed: str, decoder: str, batch_rows: int) -> None:
    """Every type the fast path takes, with NaN, infinities, BC dates, 24:00:00, -0, empty text and NULLs."""
    sql = "SELECT * FROM typed ORDER BY id"
    assert_same_batches(read(typed, "typed", sql, batch_rows, decoder), read(typed, "typed", sql, batch_rows, None))


@pytest.mark.parametrize("decoder", [SOCKET, ADBC])
def test_fast_path_decoders_read_rows_larger_than_a_buffer_and_many_receives(source: str, decoder: str) -> None:
    """Rows of 9 MB (more than the socket reader's first buffer) and 60,000 rows over many receives, in batches
    that end inside a receive: the reference path's values, with parameters bound."""
    sql = "SELECT * FROM large WHERE id >= :low ORDER BY id"
    fast = read(source, "large", sql, 2, decoder, {"low": 1})
    assert_same_batches(fast, read(source, "large", sql, 2, None, {"low": 1}))
    assert [len(v) for b in fast for v in b.column("body").to_pylist()] == [9_000_001, 9_000_002, 9_000_003]
    sql = "SELECT * FROM many ORDER BY id"
    assert_same_batches(read(source, "many", sql, 4099, decoder), read(source, "many", sql, 4099, None))


@pytest.mark.parametrize("decoder", [SOCKET, ADBC])
def test_a_query_failing_after_rows_were_sent_names_the_provider_and_hides_values(source: str, decoder: str) -> None:
    """An error the server sends in the middle of the rows is a ProviderError with the SQLSTATE, without the
    value that caused it or the bound values."""
    sql = "SELECT id, (100 / (id - 59000))::text AS name FROM many WHERE name IS DISTINCT FROM :secret ORDER BY id"
    with pytest.raises(ProviderError) as caught:
        read(source, "many", sql, 1000, decoder, {"secret": "jane.doe@example.com"})
    message = str(caught.value)
    assert "'SRC'" in message and "division by zero" in message
    assert "jane.doe" not in message and "59000" not in message
    if decoder == SOCKET:  # ADBC's error after the first rows carries no SQLSTATE
        assert "22012" in message


def test_a_socket_read_abandoned_half_way_leaves_the_snapshot_usable(source: str) -> None:
    """Stopping after the first batch and reading again on the same snapshot gives every row the second time."""
    engine = create_source_engine("SRC", source)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, ["many"]).tables["many"]
            query = ExportQuery.parse("SELECT * FROM many ORDER BY id")
            first = stream_query(conn, table, query, {}, 100)
            assert next(first).num_rows == 100
            first.close()
            assert sum(b.num_rows for b in stream_query(conn, table, query, {}, 5000)) == 60_000
            assert conn.info[FAST_READER]._adbc is None
    finally:
        engine.dispose()
