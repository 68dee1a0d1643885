"""Source-side fidelity: values read from MariaDB and PostgreSQL are what the server holds.

TIMESTAMPs in UTC whatever the session zone of the writer, FLOAT/real as the stored 4-byte value (fast and
reference MySQL paths), PostgreSQL intervals with their months, timetz with its offset, JSON as the server's
text (numbers keep their digits, a JSON null is not SQL NULL), and PostgreSQL's infinity, BC dates, years
after 9999 and 24:00 read in their documented Arrow values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pymysql
import pytest

from hfit_dagster.extract.source import (
    create_source_engine,
    read_only_snapshot,
    reflect_tables,
    stream_query,
    stream_rows_by_keys,
)
from hfit_dagster.template.query import ExportQuery
from tests.conftest import MARIADB, PG_ADMIN, mariadb_url


def read(url: str, table_name: str, sql: str, *, fast_read: bool = True, by_key: list[Any] | None = None
         ) -> pa.Table:
    engine = create_source_engine("SRC", url)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, [table_name]).tables[table_name]
            if by_key is not None:
                batches = list(stream_rows_by_keys(conn, table, ("id",), [(k,) for k in by_key], 100,
                                                   fast_read=fast_read))
            else:
                batches = list(stream_query(conn, table, ExportQuery.parse(sql), {}, 100, fast_read=fast_read))
    finally:
        engine.dispose()
    return pa.Table.from_batches(batches).sort_by("id" if "id" in table.c else table.c[0].name)


@pytest.fixture
def mariadb_values(mariadb_database) -> str:
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+05:00'")  # the writer's zone: the server stores UTC
        cur.execute("CREATE TABLE vals (id INT PRIMARY KEY, ts TIMESTAMP NULL, f FLOAT, f2 FLOAT(10,2), d DOUBLE, "
                    "j JSON)")
        cur.execute("INSERT INTO vals VALUES (1, '2024-06-01 12:00:00', 16777217, 123.45, 0.1, '{\"a\": 1.50}'), "
                    "(2, '2024-01-01 00:30:00', 0.1, 1.5, 1e300, 'null'), (3, NULL, 3.4028234e38, NULL, NULL, NULL), "
                    "(4, '2024-03-31 02:30:00', -1.17549435e-38, -0.01, -0.0, '[1, 2.0]')")
        conn.commit()
    return mariadb_url(name)


@pytest.mark.mariadb
@pytest.mark.parametrize("fast_read", [True, False])
@pytest.mark.parametrize("how", ["star", "columns", "window", "join", "by_key"])
def test_mariadb_values_read_exactly(mariadb_values: str, fast_read: bool, how: str) -> None:
    sql = {"star": "SELECT * FROM vals",
           "columns": "SELECT v.id, v.ts, v.f AS f, f2, d, j FROM vals AS v WHERE v.id > 0",
           "window": "SELECT * FROM (SELECT * FROM vals) AS hfit_window WHERE hfit_window.id > 0",
           "join": "SELECT v.* FROM vals AS v JOIN vals AS w ON w.id = v.id ORDER BY v.id",
           "by_key": ""}[how]
    table = read(mariadb_values, "vals", sql, fast_read=fast_read, by_key=[1, 2, 3, 4] if how == "by_key" else None)
    assert table.schema.field("f").type == pa.float32() and table.schema.field("d").type == pa.float64()
    rows = table.to_pylist()
    assert [r["ts"] for r in rows] == [datetime(2024, 6, 1, 7), datetime(2023, 12, 31, 19, 30), None,
                                       datetime(2024, 3, 30, 21, 30)]
    stored = np.array([16777217, 0.1, 3.4028234e38, -1.17549435e-38], dtype=np.float32)
    assert table.column("f").to_numpy().tobytes() == stored.tobytes()
    assert table.column("f2").to_pylist()[:2] == [float(np.float32(123.45)), 1.5]
    assert [r["d"] for r in rows] == [0.1, 1e300, None, -0.0]
    assert [r["j"] for r in rows] == ['{"a": 1.50}', "null", None, "[1, 2.0]"]


@pytest.fixture
def postgres_values(postgres_database) -> str:
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("SET TimeZone = 'Asia/Kolkata'")
        conn.execute("CREATE TABLE vals (id int PRIMARY KEY, iv interval, tz timetz, j json, jb jsonb, r real, "
                     "d date, ts timestamp, tstz timestamptz, t time)")
        conn.execute("""INSERT INTO vals VALUES
            (1, '1 mon', '12:00:00+05:30', '{"a": 1.50}', '{"a": 1.50}', 16777217, '2024-01-01',
             '2024-01-01 10:00:00', '2024-06-01 12:00:00+05:30', '12:30:00'),
            (2, '1 year 2 mons 3 days 04:05:06.5', '00:00:00-08', 'null', 'null', 0.1, 'infinity', 'infinity',
             '-infinity', '24:00:00'),
            (3, '-1 mon +2 days', NULL, NULL, NULL, NULL, '0044-03-15 BC', '0001-01-01 00:00:00 BC', NULL, NULL),
            (4, NULL, NULL, '  [1, 2.0]', '[1, 2.0]', NULL, '-infinity', '10000-01-01 00:00:00',
             '12000-01-01 00:00:00+00', '23:59:59.999999')""")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.mark.postgres
@pytest.mark.parametrize("by_key", [False, True])
def test_postgres_values_read_exactly(postgres_values: str, by_key: bool) -> None:
    table = read(postgres_values, "vals", "SELECT * FROM vals", by_key=[1, 2, 3, 4] if by_key else None)
    rows = table.select(["iv", "tz", "j", "jb"]).to_pylist()  # Python cannot hold infinity: no whole rows
    assert [r["iv"] for r in rows] == ["P1M", "P1Y2M3DT4H5M6.5S", "P-1M2D", None]
    assert [r["tz"] for r in rows] == ["12:00:00+05:30", "00:00:00-08", None, None]
    assert [r["j"] for r in rows] == ['{"a": 1.50}', "null", None, "  [1, 2.0]"]
    assert [r["jb"] for r in rows] == ['{"a": 1.50}', "null", None, "[1, 2.0]"]
    assert table.schema.field("r").type == pa.float32()
    assert table.column("r").to_numpy(zero_copy_only=False)[:2].tolist() == [
        float(np.float32(16777217)), float(np.float32(0.1))]
    schema = table.schema
    assert schema.field("iv").metadata[b"hfit.text"] == b"iso8601_interval"
    assert b"infinity=max" in schema.field("d").metadata[b"hfit.edge_values"]
    days = table.column("d").cast(pa.int32()).to_pylist()
    assert days == [19723, 2**31 - 1, -735160, -(2**31)]  # 44 BC is astronomical year -43 (the server counts -735160)
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    assert ts[0] == 1704103200 * 10**6 and ts[1] == 2**63 - 1
    assert ts[2] == -62167219200 * 10**6 and ts[3] == 253402300800 * 10**6  # 1 BC = year 0; 10000-01-01
    tstz = table.column("tstz").cast(pa.int64()).to_pylist()
    assert tstz[0] == 1717223400 * 10**6 and tstz[1] == -(2**63) and tstz[2] is None
    assert tstz[3] == 316516204800 * 10**6
    assert table.column("t").cast(pa.int64()).to_pylist() == [45_000 * 10**6, 86_400 * 10**6, None,
                                                              86_400 * 10**6 - 1]


@pytest.mark.postgres
def test_postgres_ranges_are_server_text_and_catalogs_keep_their_loaders(postgres_database) -> None:
    """Ranges read as the server writes them; SQLAlchemy's reflection (identity columns, read through JSON from
    the catalogs) still gets psycopg's own values, since only row reads use the text loaders."""
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE TABLE ident (a int, b int GENERATED ALWAYS AS IDENTITY, r int4range, "
                     "t tstzrange, PRIMARY KEY (a, b))")
        conn.execute("INSERT INTO ident (a, r, t) VALUES (1, '[1,5)', '[2024-01-01 00:00+00,)'), (1, 'empty', NULL)")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = create_source_engine("SRC", url)
    with read_only_snapshot("SRC", engine) as conn:
        table = reflect_tables("SRC", conn, ["ident"]).tables["ident"]
        assert table.c.b.identity is not None and table.c.b.identity.always
    engine.dispose()
    rows = read(url, "ident", "SELECT * FROM ident").to_pylist()
    assert [(r["r"], r["t"]) for r in sorted(rows, key=lambda r: r["b"])] == [
        ("[1,5)", '["2024-01-01 00:00:00+00",)'), ("empty", None)]


@pytest.mark.parametrize("by_key", [False, True])
def test_sqlite_decimals_read_as_the_stored_number_prints(tmp_path, by_key: bool) -> None:
    """SQLite stores a DECIMAL as REAL (or INTEGER): read through the double's shortest text, not its binary
    expansion, on the query path and the by-key path alike."""
    import sqlite3

    path = tmp_path / "dec.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE d (id INTEGER PRIMARY KEY, amount DECIMAL(30,10), small NUMERIC(6,2))")
        conn.execute("INSERT INTO d VALUES (1, '12345678901234567890.0123456789', 1.1), (2, '0.0000000001', 7), "
                     "(3, NULL, 0.1)")
    table = read(f"sqlite:///{path}", "d", "SELECT * FROM d", by_key=[1, 2, 3] if by_key else None)
    assert [str(v) for v in table.column("amount").to_pylist()[:2]] == ["12345678901234567000.0000000000",
                                                                          "1E-10"]
    assert [str(v) for v in table.column("small").to_pylist()] == ["1.10", "7.00", "0.10"]


@pytest.mark.postgres
def test_postgres_numeric_arrays_keep_their_text(postgres_database) -> None:
    """numeric[] elements (NaN included) keep their digits in the array's JSON text."""
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE TABLE na (id int PRIMARY KEY, an numeric[], an2 numeric(10,3)[])")
        conn.execute("INSERT INTO na VALUES (1, '{1.50,NaN,-0.001}', '{1.500,NULL}'), (2, '{}', NULL)")
    table = read(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "na", "SELECT * FROM na")
    assert table.column("an").to_pylist() == ['[1.50, "NaN", -0.001]', "[]"]
    assert table.column("an2").to_pylist() == ["[1.500, null]", None]


def test_postgres_numerics_are_read_as_their_text(postgres_database) -> None:
    """Every PostgreSQL numeric, numeric(p,s) too, is read as its decimal text: NaN (which numeric(p,s) holds and no
    Arrow decimal does) and Infinity stay, small values keep their digits rather than an exponent."""
    name = postgres_database()
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE TABLE nv (id int PRIMARY KEY, p numeric(10,2), u numeric)")
        conn.execute("INSERT INTO nv VALUES (1, 'NaN', 0.0000001), (2, 1.50, '-Infinity'), (3, NULL, 1000)")
    table = read(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "nv", "SELECT * FROM nv")
    assert table.schema.field("p").type == pa.string()
    assert table.schema.field("p").metadata[b"hfit.text"] == b"numeric"
    assert table.column("p").to_pylist() == ["NaN", "1.50", None]
    assert table.column("u").to_pylist() == ["0.0000001", "-Infinity", "1000"]
