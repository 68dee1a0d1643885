"""Extraction: read-only transactions, bound parameters, Arrow batches with exact types, clear errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pymysql
import pytest
import sqlalchemy as sa

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.source import (
    create_source_engine,
    read_only_snapshot,
    reflect_tables,
    stream_query,
    stream_rows_by_keys,
)
from hfit_dagster.template.query import ExportQuery
from tests.conftest import MARIADB, mariadb_url


@pytest.fixture
def mariadb_source(mariadb_database) -> str:
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE canary (id INT PRIMARY KEY, note VARCHAR(100), amount DECIMAL(10,2), at DATETIME(6))")
        cur.execute("INSERT INTO canary VALUES (1, 'a', 1.50, '2024-10-15 14:30:00.123456'), (2, 'b', 2.00, NULL)")
        conn.commit()
    return mariadb_url(name)


@pytest.mark.mariadb
def test_mariadb_reads_run_in_a_read_only_transaction(mariadb_source: str) -> None:
    """Even if a write reached the driver, the source refuses it inside hfit's snapshot."""
    engine = create_source_engine("SRC", mariadb_source)
    with read_only_snapshot("SRC", engine) as conn:
        with pytest.raises(sa.exc.SQLAlchemyError):
            conn.exec_driver_sql("DELETE FROM canary")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM canary").scalar() == 2
    engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("payload", ["1 OR 1=1", "1; DROP TABLE canary", "' OR ''='", "1) UNION SELECT 1,2,3,4 -- "])
def test_parameters_are_bound_as_literals(mariadb_source: str, payload: str) -> None:
    """An injection payload in a parameter is a value compared as data: no rows, canary intact."""
    engine = create_source_engine("SRC", mariadb_source)
    query = ExportQuery.parse("SELECT * FROM canary WHERE note = :note")
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["canary"]).tables["canary"]
        batches = list(stream_query(conn, table, query, {"note": payload}, 100))
    assert sum(b.num_rows for b in batches) == 0
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM canary").scalar() == 2
    engine.dispose()


@pytest.mark.mariadb
def test_batches_keep_exact_types(mariadb_source: str) -> None:
    engine = create_source_engine("SRC", mariadb_source)
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["canary"]).tables["canary"]
        rows = [r for b in stream_rows_by_keys(conn, table, ("id",), [(1,), (2,)], 100) for r in b.to_pylist()]
    engine.dispose()
    assert rows[0] == {"id": 1, "note": "a", "amount": Decimal("1.50"), "at": datetime(2024, 10, 15, 14, 30, 0, 123456)}
    assert rows[1]["at"] is None


def test_sqlite_source_is_query_only(demo_source: str) -> None:
    engine = create_source_engine("SRC", demo_source)
    with pytest.raises(ProviderError), read_only_snapshot("SRC", engine) as conn:
        conn.exec_driver_sql("DELETE FROM products")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM products").scalar() > 0
    engine.dispose()


def test_missing_table_is_named(demo_source: str) -> None:
    engine = create_source_engine("SRC", demo_source)
    with read_only_snapshot("SRC", engine) as conn, pytest.raises(ProviderError, match="has no table.*invoices"):
        reflect_tables("SRC", conn, ["customers", "invoices"])
    engine.dispose()


def test_export_must_return_columns_of_its_table(demo_source: str) -> None:
    engine = create_source_engine("SRC", demo_source)
    query = ExportQuery.parse("SELECT id, 1 AS extra FROM products")
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["products"]).tables["products"]
        with pytest.raises(ProviderError, match="returns column.*extra"):
            list(stream_query(conn, table, query, {}, 100))
    engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("sql", ["SELECT *, other AS id FROM kids", "SELECT id, name, other AS name FROM kids"])
def test_an_export_naming_a_column_twice_is_refused_by_name(mariadb_database, sql: str) -> None:
    """A query whose result names one column twice (``SELECT *, other AS id``): a ProviderError naming the
    column, not a crash deeper in the build (pyarrow's 'Field "id" exists 2 times')."""
    from tests.conftest import fill_mariadb

    database = mariadb_database()
    fill_mariadb(database, {"kids": ("id INT PRIMARY KEY, name VARCHAR(10), other INT", [(1, "a", 7)])})
    engine = create_source_engine("SRC", mariadb_url(database))
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["kids"]).tables["kids"]
        column = "id" if "AS id" in sql else "name"
        with pytest.raises(ProviderError, match=f"returns column\\(s\\) {column} more than once"):
            list(stream_query(conn, table, ExportQuery.parse(sql), {}, 100))
    engine.dispose()


def test_dead_source_is_a_provider_error_without_secrets() -> None:
    engine = create_source_engine("SRC", "mysql+pymysql://root:s3cret@127.0.0.1:1/x")
    with pytest.raises(ProviderError) as info, read_only_snapshot("SRC", engine):
        pass
    assert "s3cret" not in str(info.value) and "SRC" in str(info.value)


@pytest.mark.mariadb
@pytest.mark.parametrize("fast_read", [True, False])
def test_zero_and_invalid_dates_read_as_null(mariadb_database, fast_read: bool) -> None:
    """Legacy MySQL dates off the calendar (zero dates, zero month or day, February 30) are read, as NULL, by
    ``SELECT *`` on a NOT NULL column too; the field metadata tells the package writer (docs/templates.md)."""
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("CREATE TABLE legacy (id INT PRIMARY KEY, born DATE NOT NULL, seen DATETIME NULL)")
        cur.execute("INSERT INTO legacy VALUES (1, '1990-04-01', '2024-02-30 10:00:00'), (2, '0000-00-00', NULL), "
                    "(3, '2024-00-00', '0000-00-00 00:00:00'), (4, '2024-02-30', '2024-02-29 23:59:59')")
        conn.commit()
    engine = create_source_engine("SRC", mariadb_url(name))
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["legacy"]).tables["legacy"]
        batches = list(stream_query(conn, table, ExportQuery.parse("SELECT * FROM legacy"), {}, 100,
                                    fast_read=fast_read))
        keyed = list(stream_rows_by_keys(conn, table, ("id",), [(1,), (2,), (3,), (4,)], 100, fast_read=fast_read))
    engine.dispose()
    for read in (batches, keyed):
        rows = sorted((r for b in read for r in b.to_pylist()), key=lambda r: r["id"])
        assert [r["born"] for r in rows] == [datetime(1990, 4, 1).date(), None, None, None]
        assert [r["seen"] for r in rows] == [None, None, None, datetime(2024, 2, 29, 23, 59, 59)]
        assert read[0].schema.field("born").metadata[b"hfit.zero_date"] == b"null"
