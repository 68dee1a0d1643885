"""Database errors name the provider, the export and the column the server names, carry the server's own
message without data values, and a hint that fits the cause; on MariaDB, PostgreSQL and SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymysql
import pytest

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.db_errors import clean_message
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import MARIADB, PG_ADMIN, mariadb_url


def run(url: str, sql: str, table: str = "canary") -> ProviderError:
    engine = create_source_engine("SRC", url)
    try:
        with pytest.raises(ProviderError) as info, read_only_snapshot("SRC", engine) as conn:
            reflected = reflect_tables("SRC", conn, [table]).tables[table]
            list(stream_query(conn, reflected, ExportQuery.parse(sql), {}, 100))
    finally:
        engine.dispose()
    return info.value


@pytest.fixture
def mariadb_source(mariadb_database) -> str:
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE canary (id INT PRIMARY KEY, name VARCHAR(40), code VARCHAR(10))")
        cur.execute("INSERT INTO canary VALUES (1, 'Grace Hopper', 'x17'), (2, 'Ada', '42')")
        conn.commit()
    return mariadb_url(name)


@pytest.fixture
def postgres_source(postgres_database) -> str:
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE TABLE canary (id int PRIMARY KEY, name text, code text)")
        conn.execute("INSERT INTO canary VALUES (1, 'Grace Hopper', 'x17'), (2, 'Ada', '42')")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def sqlite_source(tmp_path: Path) -> str:
    path = tmp_path / "src.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE canary (id INTEGER PRIMARY KEY, name TEXT, code TEXT)")
        conn.execute("INSERT INTO canary VALUES (1, 'Grace Hopper', 'x17'), (2, 'Ada', '42')")
    return f"sqlite:///{path}"


@pytest.mark.mariadb
def test_mariadb_errors_name_the_cause(mariadb_source: str) -> None:
    closed = run("mysql+pymysql://root:s3cret@127.0.0.1:1/x", "SELECT * FROM canary")
    assert "provider 'SRC'" in closed.message and "cannot reach the server (code 2003)" in closed.message
    assert "port" in (closed.hint or "") and "s3cret" not in str(closed)
    missing = run(mariadb_source.replace("/hfit_t_", "/hfit_nope_"), "SELECT * FROM canary")
    assert "unknown database (code 1049)" in missing.message and "hfit_nope_" in missing.message
    assert "does not exist" in (missing.hint or "")
    column = run(mariadb_source, "SELECT id, nmae FROM canary")
    assert "export 'canary'" in column.message and "unknown column (code 1054)" in column.message
    assert "'nmae'" in column.message and "columns" in (column.hint or "")
    table = run(mariadb_source, "SELECT c.* FROM canary AS c JOIN invoices AS i ON i.id = c.id")
    assert "unknown table (code 1146)" in table.message and ".invoices' doesn't exist" in table.message


@pytest.mark.postgres
def test_postgres_errors_name_the_cause(postgres_source: str) -> None:
    closed = run("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/x", "SELECT * FROM canary")
    assert "cannot reach the server" in closed.message and "s3cret" not in str(closed)
    missing = run(postgres_source.replace("/hfit_t_", "/hfit_nope_"), "SELECT * FROM canary")
    assert "unknown database" in missing.message and "hfit_nope_" in missing.message
    column = run(postgres_source, "SELECT id, nmae FROM canary")
    assert "export 'canary'" in column.message and "unknown column (code 42703)" in column.message
    assert '"nmae"' in column.message
    data = run(postgres_source, "SELECT * FROM canary WHERE id = CAST(code AS INTEGER)")
    assert "a value does not fit its type (code 22P02)" in data.message
    assert '"?"' in data.message and "x17" not in str(data)


def test_sqlite_errors_name_the_cause(sqlite_source: str, tmp_path: Path) -> None:
    column = run(sqlite_source, "SELECT id, nmae FROM canary")
    assert "export 'canary'" in column.message and "unknown column" in column.message and "nmae" in column.message
    missing = run(f"sqlite:///{tmp_path}/no/such/dir.db", "SELECT * FROM canary")
    assert "cannot reach the server" in missing.message


def test_loose_sqlite_values_are_read_or_named(tmp_path: Path) -> None:
    """A loosely typed SQLite column: epoch numbers in a DATETIME read as Unix time; text in a NUMERIC is an
    error naming provider, export and column, never the value."""
    path = tmp_path / "loose.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, amount NUMERIC(10,2), at DATETIME)")
        conn.execute("INSERT INTO t VALUES (1, 'secret-text', 1700000000), (2, 12.5, '2024-01-01 10:00:00')")
    url = f"sqlite:///{path}"
    engine = create_source_engine("SRC", url)
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["t"]).tables["t"]
        rows = [r for b in stream_query(conn, table, ExportQuery.parse("SELECT id, at FROM t"), {}, 10)
                for r in b.to_pylist()]
        assert [str(r["at"]) for r in rows] == ["2023-11-14 22:13:20", "2024-01-01 10:00:00"]
        with pytest.raises(ProviderError) as info:
            list(stream_query(conn, table, ExportQuery.parse("SELECT * FROM t"), {}, 10))
    engine.dispose()
    assert "provider 'SRC', export 't': column 'amount'" in info.value.message
    assert "secret-text" not in str(info.value)


def test_server_messages_lose_their_values_and_keep_names() -> None:
    names = frozenset({"canary", "code", "db1", "field", "list"})
    assert clean_message("Unknown column 'code' in 'field list'", names) == "Unknown column 'code' in 'field list'"
    assert clean_message("Incorrect DECIMAL value: 'x17' for column `db1`.`canary`.`code` at row 1", names) == (
        "Incorrect DECIMAL value: '?' for column `db1`.`canary`.`code` at row 1")
    assert clean_message('invalid input syntax for type integer: "x17"', names) == (
        'invalid input syntax for type integer: "?"')
    assert clean_message("Can't connect to MySQL server on '10.0.0.7' ([Errno 111])", names) == (
        "Can't connect to MySQL server on '?' ([Errno 111])")
    assert clean_message("date/time field value out of range: 2024-02-30", names) == (
        "date/time field value out of range: ?")
