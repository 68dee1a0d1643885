"""The package's SQL script, proven by loading it with each target's own client into a real server."""

from __future__ import annotations

import io
import random
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pymysql
import pytest
import sqlalchemy as sa

from hfit_dagster.errors import BuildError
from hfit_dagster.package.sql import SqlScriptWriter, tables_in_dependency_order
from hfit_dagster.package.sql.compiled_rows import RowSource
from hfit_dagster.package.sql.writer import insert_statements
from tests.conftest import MARIADB as MARIADB_SERVER

MARIADB = {**MARIADB_SERVER, "charset": "utf8mb4"}

# Text that breaks naive quoting or the loading client: quotes, backslashes, line breaks, NUL, Ctrl-Z,
# comment and statement markers, client meta-commands, placeholders, 4-byte UTF-8.
TRICKY_TEXT = [
    "", "'", "''", "\\", "\\'", "\\\\n", "a\nb", "a\r\nb", "nul\x00byte", "ctrl-z\x1a!", "tab\there",
    "emoji 😀🎉 and 中文", "-- not a comment", "/* nor this */", "x'); DROP TABLE parent; --", "\\N",
    "NULL", "$$dollar$$", "E'x'", ":name %s ?", "line\u2028sep", "trailing space ", "delimiter //",
    "\\g \\q", "back\\slash' quote\"",
]

SQLITE_SCHEMA = """
CREATE TABLE parent (
    id INTEGER PRIMARY KEY,
    code VARCHAR NOT NULL UNIQUE,
    name VARCHAR(60) DEFAULT 'n/a',
    active BOOLEAN NOT NULL DEFAULT 1,
    amount NUMERIC(12, 2),
    created DATETIME,
    birthday DATE,
    notes TEXT,
    photo BLOB,
    ratio FLOAT
);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES parent(id),
    tag VARCHAR,
    qty INTEGER,
    CONSTRAINT uq_child_tag UNIQUE (parent_id, tag)
);
CREATE INDEX ix_child_tag ON child (tag);
"""

PARENT_ARROW = pa.schema([
    ("id", pa.int64()), ("code", pa.string()), ("name", pa.string()), ("active", pa.bool_()),
    ("amount", pa.decimal128(12, 2)), ("created", pa.timestamp("us")), ("birthday", pa.date32()),
    ("notes", pa.string()), ("photo", pa.binary()), ("ratio", pa.float64()),
])
CHILD_ARROW = pa.schema([("id", pa.int64()), ("parent_id", pa.int64()), ("tag", pa.string()),
                         ("qty", pa.int64())])


# ------------------------------------------------------------------------------------------ helpers


def build_sqlite_source(path: Path) -> sa.Engine:
    """Parent/child SQLite source; codes differ only by case/accent, so keys must compare exactly."""
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for statement in SQLITE_SCHEMA.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    md = sa.MetaData()
    md.reflect(engine)
    parent, child = md.tables["parent"], md.tables["child"]
    codes = ["abc", "ABC", "é", "e"]
    parents = []
    for i, text in enumerate(TRICKY_TEXT, start=1):
        parents.append({
            "id": i, "code": codes[i - 1] if i <= len(codes) else f"code-{i}",
            "name": f"Name {i} O'Brien" if i % 3 else None,
            "active": i % 2 == 0, "amount": Decimal(f"{i * 1234}.{i % 100:02d}") * (-1 if i % 4 == 0 else 1),
            "created": datetime(2024, 10, 15, 14, 30, 0, i * 37_003 % 1_000_000),
            "birthday": date(1950 + i, 1 + i % 12, 1 + i % 28),
            "notes": text, "photo": bytes([0, 39, 92, 10, 13, 26, i]) if i % 5 else b"",
            "ratio": [0.1, 1e300, -2.5e-310, 1 / 3, 123456789.125][i % 5],
        })
    parents.append({"id": 0, "code": "zero-id", "active": False})  # id 0 must stay 0 (NO_AUTO_VALUE_ON_ZERO)
    parents.append({"id": 999, "code": "all-null", "active": True})
    with engine.begin() as conn:
        conn.execute(sa.insert(parent), [{c.name: r.get(c.name) for c in parent.columns} for r in parents])
        conn.execute(sa.insert(child), [
            {"id": i, "parent_id": i % 20 + 1, "tag": f"tag {i % 7}" if i % 9 else None, "qty": i * 10}
            for i in range(1, 41)
        ])
    return engine


def reflect(engine: sa.Engine) -> dict[str, sa.Table]:
    md = sa.MetaData()
    md.reflect(engine)
    return dict(md.tables)


def source_rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]


def as_batch(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def write_script(path: Path, tables: list[sa.Table], batches: dict[str, list[pa.RecordBatch]],
                 dialect: str = "mysql", written: set[str] | None = None, **kwargs: Any) -> SqlScriptWriter:
    """Writes the script the way the package writer does: all DDL, then the rows, parents first."""
    ordered = tables_in_dependency_order(tables)
    with path.open("wb") as out:
        writer = SqlScriptWriter(out, dialect, **kwargs)
        writer.set_written_tables(written if written is not None else {t.name for t in ordered})
        writer.write_preamble(["hfit test package", "evil comment\nDROP DATABASE x;"])
        for table in ordered:
            writer.write_create_table(table)
        for table in ordered:
            for batch in batches.get(table.name, []):
                writer.write_rows(table, batch)
        writer.write_postamble()
    return writer


def load_mariadb(script: Path, database: str) -> None:
    with script.open("rb") as stdin:
        result = subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", database], stdin=stdin,
                                capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def mariadb_query(database: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with pymysql.connect(database=database, **MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(sql, args)
        return list(cur.fetchall())


def load_psql(script: Path, database: str) -> None:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-q",
         "-f", str(script)], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def sqlite_batches(engine: sa.Engine, tables: dict[str, sa.Table]) -> dict[str, list[pa.RecordBatch]]:
    parent_rows = source_rows(engine, tables["parent"])
    child_rows = source_rows(engine, tables["child"])
    return {
        # two batches for parent: a table's rows arrive in several batches
        "parent": [as_batch(parent_rows[:10], PARENT_ARROW), as_batch(parent_rows[10:], PARENT_ARROW)],
        "child": [as_batch(child_rows, CHILD_ARROW)],
    }


# ------------------------------------------------------------------------------------------ tests


def test_dependency_order_puts_parents_first_and_breaks_cycles_deterministically() -> None:
    """Tables load parent-first; a foreign-key cycle or self-reference never crashes and orders by name."""
    md = sa.MetaData()
    sa.Table("orders", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("customer_id", sa.ForeignKey("customers.id")))
    sa.Table("customers", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("referrer_id", sa.ForeignKey("customers.id")))
    sa.Table("items", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("order_id", sa.ForeignKey("orders.id")))
    sa.Table("b_cycle", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("a_id", sa.ForeignKey("a_cycle.id")))
    sa.Table("a_cycle", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("b_id", sa.ForeignKey("b_cycle.id")))
    sa.Table("after_cycle", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("b_id", sa.ForeignKey("b_cycle.id")))
    tables = list(md.tables.values())
    names = [t.name for t in tables_in_dependency_order(tables)]
    assert names == ["customers", "orders", "items", "a_cycle", "b_cycle", "after_cycle"]
    assert [t.name for t in tables_in_dependency_order(list(reversed(tables)))] == names


@pytest.mark.mariadb
def test_sqlite_source_loads_into_mariadb_with_every_value_and_key(
    tmp_path: Path, mariadb_database: Callable[[], str]
) -> None:
    """`mysql db < package.sql` from a SQLite source: all values exact (quotes, NUL, emoji, microseconds,
    decimals, blobs, NULLs), keys and foreign keys present, no dangling reference, ids keep counting."""
    engine = build_sqlite_source(tmp_path / "source.db")
    tables = reflect(engine)
    script = tmp_path / "package.sql"
    writer = write_script(script, list(tables.values()), sqlite_batches(engine, tables))
    assert writer.omitted_foreign_keys == []
    text = script.read_bytes().decode("utf-8")
    assert "\nDROP DATABASE x;" not in text  # a caller's comment line cannot inject a statement
    assert "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" in text

    db = mariadb_database()
    load_mariadb(script, db)

    expected = source_rows(engine, tables["parent"])
    got = mariadb_query(db, "SELECT id, code, name, active, amount, created, birthday, notes, photo, ratio "
                            "FROM parent ORDER BY id")
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        want_values = tuple(int(v) if isinstance(v, bool) else v for v in want.values())
        assert row == want_values
    child_expected = [tuple(r.values()) for r in source_rows(engine, tables["child"])]
    assert mariadb_query(db, "SELECT id, parent_id, tag, qty FROM child ORDER BY id") == child_expected

    fks = mariadb_query(db, "SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema."
                            "REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s", (db,))
    assert fks == [("child", "parent")]
    dangling = mariadb_query(db, "SELECT COUNT(*) FROM child c LEFT JOIN parent p ON p.id = c.parent_id "
                                 "WHERE p.id IS NULL")
    assert dangling == [(0,)]
    uniques = mariadb_query(db, "SELECT DISTINCT INDEX_NAME, NON_UNIQUE FROM information_schema.STATISTICS "
                                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'child' ORDER BY 1", (db,))
    # index and constraint names are schema text: named by their table and columns
    assert ("PRIMARY", 0) in uniques and ("child_parent_id_tag_key", 0) in uniques and ("child_tag_idx", 1) in uniques
    column_types = dict(mariadb_query(db, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                                          "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'parent'", (db,)))
    assert column_types["code"] == "varchar(255)"  # unbounded VARCHAR in a unique key
    assert column_types["notes"] == "longtext"  # unbounded text elsewhere keeps every character
    assert column_types["created"] == "datetime(6)" and column_types["amount"] == "decimal(12,2)"
    with pymysql.connect(database=db, autocommit=True, **MARIADB) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO parent (code, active) VALUES ('new', 1)")
        assert cur.lastrowid == 1000  # AUTO_INCREMENT continues after the loaded ids


@pytest.mark.mariadb
def test_mariadb_types_round_trip_exactly_into_another_database(
    tmp_path: Path, mariadb_database: Callable[[], str]
) -> None:
    """MySQL-only types (unsigned, ENUM, SET, JSON, YEAR, BIT, TIME(6)...) keep their exact column
    definition and every value, extremes included, when a MariaDB source becomes a MariaDB fixture."""
    source_db = mariadb_database()
    with pymysql.connect(database=source_db, autocommit=True, **MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("""
            CREATE TABLE kinds (
                id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                big BIGINT UNSIGNED, flag TINYINT(1) NOT NULL DEFAULT 0,
                mood ENUM('ok','so-so','it''s bad') DEFAULT 'ok', tags SET('x','y','z'), doc JSON,
                yr YEAR, bits BIT(8) DEFAULT b'101', money DECIMAL(30,10), dbl DOUBLE, flt FLOAT,
                t TIME(6), dt DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
                ts TIMESTAMP(6) NULL DEFAULT NULL, raw VARBINARY(32), body MEDIUMTEXT,
                code VARCHAR(20) COLLATE utf8mb4_bin NOT NULL, legacy VARCHAR(40) CHARACTER SET latin1,
                UNIQUE KEY uq_code (code), KEY ix_body (body(20))
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
        rows = [
            (1, 18446744073709551615, 1, "it's bad", "x,z", '{"a": [1, 2.5, null], "b": "é\\"q"}', 2155,
             0b10100101, "-12345678901234567890.0123456789", 1.7976931348623157e308, 0.1,
             "-838:59:59.000000", "1000-01-01 00:00:00.000001", "2038-01-19 03:14:07.999999",
             b"\x00'\\\n\x1a", TRICKY_TEXT[4], "a", "caf\xe9"),
            (4294967295, 0, 0, "ok", "", "[]", 1901, 0, "0.0000000001", 5e-324, -3.4e38,
             "838:59:59.999999", "9999-12-31 23:59:59.999999", "1970-01-01 00:00:01.000000",
             b"", "\n".join(TRICKY_TEXT), "A", None),
            (7, None, 0, None, None, None, None, None, None, None, None, None, None, None, None, None, "b",
             None),
        ]
        cur.executemany(
            "INSERT INTO kinds (id, big, flag, mood, tags, doc, yr, bits, money, dbl, flt, t, dt, ts, raw,"
            " body, code, legacy) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{source_db}?charset=utf8mb4")
    table = reflect(engine)["kinds"]
    raw_rows = mariadb_query(source_db, "SELECT * FROM kinds ORDER BY id")
    arrow = pa.schema([
        ("id", pa.int64()), ("big", pa.uint64()), ("flag", pa.int64()), ("mood", pa.string()),
        ("tags", pa.string()), ("doc", pa.string()), ("yr", pa.int16()), ("bits", pa.binary()),
        ("money", pa.decimal128(30, 10)), ("dbl", pa.float64()), ("flt", pa.float64()),
        ("t", pa.duration("us")), ("dt", pa.timestamp("us")), ("ts", pa.timestamp("us")),
        ("raw", pa.binary()), ("body", pa.string()), ("code", pa.string()), ("legacy", pa.string()),
    ])
    batch = as_batch([dict(zip(arrow.names, r, strict=True)) for r in raw_rows], arrow)
    script = tmp_path / "package.sql"
    write_script(script, [table], {"kinds": [batch]})

    target_db = mariadb_database()
    load_mariadb(script, target_db)
    assert mariadb_query(target_db, "SELECT * FROM kinds ORDER BY id") == raw_rows
    definition = ("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
                  "COALESCE(COLLATION_NAME, '') LIKE 'utf8mb4%%' OR COLLATION_NAME IS NULL "
                  "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'kinds' "
                  "ORDER BY ORDINAL_POSITION")
    source_columns = mariadb_query(source_db, definition, (source_db,))
    target_columns = mariadb_query(target_db, definition, (target_db,))
    # SQLAlchemy's MySQL reflection does not read a b'...' default, so only BIT's default is lost.
    bits_default = [i for i, c in enumerate(source_columns) if c[0] == "bits"][0]
    assert source_columns[bits_default][3] == "b'101'" and target_columns[bits_default][3] == "NULL"
    target_columns[bits_default] = source_columns[bits_default]
    # an ENUM gains an explicit '' label (the value a non-strict server stores for an invalid one)
    mood = [i for i, c in enumerate(source_columns) if c[0] == "mood"][0]
    assert target_columns[mood][1] == source_columns[mood][1][:-1] + ",'')"
    target_columns[mood] = source_columns[mood]
    assert [c[:5] for c in target_columns] == [c[:5] for c in source_columns]
    assert all(c[5] for c in target_columns)  # latin1 columns move to utf8mb4
    collations = dict(mariadb_query(target_db, "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema"
                                               ".COLUMNS WHERE TABLE_SCHEMA = %s", (target_db,)))
    assert collations["code"] == "utf8mb4_bin"


@pytest.mark.mariadb
def test_foreign_key_to_a_table_outside_the_package_is_left_out_and_reported(
    tmp_path: Path, mariadb_database: Callable[[], str]
) -> None:
    """A child exported without its parent loads (no constraint to a missing table) and the omission is
    reported for the manifest."""
    engine = build_sqlite_source(tmp_path / "source.db")
    tables = reflect(engine)
    batches = sqlite_batches(engine, tables)
    script = tmp_path / "package.sql"
    writer = write_script(script, [tables["child"]], {"child": batches["child"]}, written={"child"})
    assert writer.omitted_foreign_keys == ["child.parent_id -> parent.id"]
    assert "REFERENCES" not in script.read_text(encoding="utf-8")

    db = mariadb_database()
    load_mariadb(script, db)
    assert mariadb_query(db, "SELECT COUNT(*) FROM child") == [(40,)]
    assert mariadb_query(db, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                             "WHERE CONSTRAINT_SCHEMA = %s", (db,)) == [(0,)]


@pytest.mark.mariadb
def test_insert_statements_stay_within_the_size_bound(
    tmp_path: Path, mariadb_database: Callable[[], str]
) -> None:
    """Large tables become several INSERTs no larger than max_statement_bytes (one oversized row gets its
    own statement), and every row still loads."""
    md = sa.MetaData()
    table = sa.Table("events", md, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("payload", sa.Text))
    rows = [{"id": i, "payload": f"event {i} " + "x" * (i % 50)} for i in range(1, 3001)]
    rows.append({"id": 5000, "payload": "big " * 2000})
    batch = as_batch(rows, pa.schema([("id", pa.int32()), ("payload", pa.string())]))
    out = io.BytesIO()
    writer = SqlScriptWriter(out, "mysql", max_statement_bytes=4096)
    writer.write_preamble([])
    writer.write_create_table(table)
    assert writer.write_rows(table, batch) == len(rows)
    writer.write_postamble()
    inserts = [s for s in out.getvalue().decode().split(";\n") if s.lstrip().startswith("INSERT")]
    assert len(inserts) > 30
    oversized = [s for s in inserts if len(s.encode()) + 2 > 4096]
    assert len(oversized) == 1 and "big big" in oversized[0] and oversized[0].count("\n(") == 1
    script = tmp_path / "package.sql"
    script.write_bytes(out.getvalue())
    db = mariadb_database()
    load_mariadb(script, db)
    assert mariadb_query(db, "SELECT COUNT(*), SUM(LENGTH(payload)) FROM events") == [
        (len(rows), sum(len(r["payload"]) for r in rows))]


@pytest.mark.postgres
def test_sqlite_source_loads_into_postgresql(tmp_path: Path, postgres_database: Callable[[], str]) -> None:
    """`psql -f package.sql` from a SQLite source: values exact (NUL removed: PostgreSQL text cannot hold
    it, and the writer counts it), foreign keys validated after the data, SERIAL ids keep counting."""
    engine = build_sqlite_source(tmp_path / "source.db")
    tables = reflect(engine)
    script = tmp_path / "package.sql"
    writer = write_script(script, list(tables.values()), sqlite_batches(engine, tables), "postgresql")
    assert writer.removed_nul_characters == 1
    db = postgres_database()
    load_psql(script, db)

    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as conn:
        got = conn.execute("SELECT id, code, name, active, amount, created, birthday, notes, photo, ratio "
                           "FROM parent ORDER BY id").fetchall()
        expected = source_rows(engine, tables["parent"])
        for row, want in zip(got, expected, strict=True):
            want_values = list(want.values())
            want_values[7] = want_values[7].replace("\x00", "") if want_values[7] else want_values[7]
            assert tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) == tuple(want_values)
        assert conn.execute("SELECT id, parent_id, tag, qty FROM child ORDER BY id").fetchall() == [
            tuple(r.values()) for r in source_rows(engine, tables["child"])]
        fks = conn.execute("SELECT table_name FROM information_schema.table_constraints "
                           "WHERE constraint_type = 'FOREIGN KEY'").fetchall()
        assert fks == [("child",)]
        new_id = conn.execute("INSERT INTO parent (code) VALUES ('new') RETURNING id").fetchone()
        assert new_id == (1000,)


def test_sqlite_source_loads_into_sqlite(tmp_path: Path) -> None:
    """A SQLite target: the script runs with sqlite3's executescript and gives back the same rows
    (NUL inside text included), keys and foreign keys."""
    engine = build_sqlite_source(tmp_path / "source.db")
    tables = reflect(engine)
    script = tmp_path / "package.sql"
    write_script(script, list(tables.values()), sqlite_batches(engine, tables), "sqlite")
    target_path = tmp_path / "target.db"
    with sqlite3.connect(target_path) as conn:
        conn.executescript(script.read_text(encoding="utf-8"))
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT COUNT(*) FROM pragma_foreign_key_list('child')").fetchone() == (1,)
    target = sa.create_engine(f"sqlite:///{target_path}")
    target_tables = reflect(target)
    for name in ("parent", "child"):
        assert source_rows(target, target_tables[name]) == source_rows(engine, tables[name])


@pytest.mark.mariadb
@pytest.mark.postgres
def test_values_render_exactly_in_every_dialect(
    tmp_path: Path, mariadb_database: Callable[[], str], postgres_database: Callable[[], str]
) -> None:
    """One table of edge values per Arrow type, loaded into MariaDB, PostgreSQL and SQLite, reads back
    identical: special floats, 64-bit integers, time zones converted to UTC, durations, JSON-like lists."""
    md = sa.MetaData()
    table = sa.Table(
        "edge", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("i64", sa.BigInteger),
        sa.Column("f", sa.Float), sa.Column("ts_tz", sa.DateTime(timezone=True)),
        sa.Column("dur", sa.Interval), sa.Column("items", sa.JSON), sa.Column("txt", sa.Text),
    )
    minus_5 = datetime(2024, 7, 1, 23, 30, 0, 7, tzinfo=timezone(timedelta(hours=-5)))
    rows = [
        {"id": 1, "i64": -(2**63), "f": float("inf"),
         "ts_tz": datetime.fromisoformat("2024-03-01T02:00:00.5+02:00"),
         "dur": timedelta(hours=26, microseconds=5), "items": [1, "two", None], "txt": "\\'\x00\n"},
        {"id": 2, "i64": 2**63 - 1, "f": float("nan"), "ts_tz": minus_5, "dur": -timedelta(seconds=1),
         "items": [], "txt": None},
        {"id": 3, "i64": None, "f": -0.0, "ts_tz": None, "dur": None, "items": None, "txt": "😀"},
    ]
    arrow = pa.schema([("id", pa.int32()), ("i64", pa.int64()), ("f", pa.float64()),
                       ("ts_tz", pa.timestamp("us", tz="Europe/Paris")), ("dur", pa.duration("us")),
                       ("items", pa.list_(pa.string())), ("txt", pa.string())])
    batch = as_batch([{**r, "items": None if r["items"] is None else [None if v is None else str(v)
                                                                        for v in r["items"]]}
                      for r in rows], arrow)
    utc = [datetime(2024, 3, 1, 0, 0, 0, 500000), datetime(2024, 7, 2, 4, 30, 0, 7), None]

    scripts = {}
    for dialect in ("mysql", "postgresql", "sqlite"):
        scripts[dialect] = tmp_path / f"{dialect}.sql"
        write_script(scripts[dialect], [table], {"edge": [batch]}, dialect)

    db = mariadb_database()
    load_mariadb(scripts["mysql"], db)
    got = mariadb_query(db, "SELECT id, i64, f, ts_tz, dur, items, txt FROM edge ORDER BY id")
    assert got == [
        (1, -(2**63), None, utc[0], timedelta(hours=26, microseconds=5), '["1", "two", null]', "\\'\x00\n"),
        (2, 2**63 - 1, None, utc[1], -timedelta(seconds=1), "[]", None),
        (3, None, -0.0, None, None, None, "😀"),
    ]

    pg = postgres_database()
    load_psql(scripts["postgresql"], pg)
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={pg}") as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        got_pg = conn.execute("SELECT id, i64, f::text, ts_tz, dur, items::text, txt FROM edge "
                              "ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], r[3].replace(tzinfo=None) if r[3] else None, r[4], r[5], r[6])
            for r in got_pg] == [
        (1, -(2**63), "Infinity", utc[0], timedelta(hours=26, microseconds=5), '["1", "two", null]', "\\'\n"),
        (2, 2**63 - 1, "NaN", utc[1], -timedelta(seconds=1), "[]", None),
        (3, None, "-0", None, None, None, "😀"),
    ]

    with sqlite3.connect(tmp_path / "edge.db") as conn:
        conn.executescript(scripts["sqlite"].read_text(encoding="utf-8"))
        got_lite = conn.execute("SELECT id, i64, f, ts_tz, dur, items, txt FROM edge ORDER BY id").fetchall()
    assert got_lite == [
        (1, -(2**63), float("inf"), "2024-03-01 00:00:00.500000", "26:00:00.000005", '["1", "two", null]',
         "\\'\x00\n"),
        (2, 2**63 - 1, "NaN", utc[1].isoformat(sep=" ", timespec="microseconds"), "-00:00:01.000000", "[]",
         None),
        (3, None, -0.0, None, None, None, "😀"),
    ]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_postgresql_source_loads_into_mariadb(
    tmp_path: Path, mariadb_database: Callable[[], str], postgres_database: Callable[[], str]
) -> None:
    """PostgreSQL-only types (uuid, jsonb, arrays, enum, interval, inet, timestamptz, unbounded numeric)
    land in MariaDB with their values; a text key referenced by a foreign key stays case-sensitive."""
    source = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'it''s bad')")
        conn.execute("""
            CREATE TABLE accounts (
                id serial PRIMARY KEY, handle text NOT NULL UNIQUE, ext_id uuid NOT NULL, profile jsonb,
                scores int[], mood mood DEFAULT 'ok', wait interval, ip inet, seen timestamptz DEFAULT now(),
                avatar bytea, ratio real, balance numeric, seq bigint GENERATED BY DEFAULT AS IDENTITY,
                born date)""")
        conn.execute("CREATE TABLE sessions (id bigserial PRIMARY KEY, "
                     "account_handle text REFERENCES accounts(handle), started timestamp(3))")
        conn.execute("""
            INSERT INTO accounts (handle, ext_id, profile, scores, mood, wait, ip, seen, avatar, ratio,
                                  balance, born) VALUES
            ('Ann', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1, "b": [true, null, "x\\"y"]}',
             '{1,2,3}', 'it''s bad', '1 day 02:03:04.5', '192.168.0.1/24', '2024-06-30 23:59:59.999999+02',
             '\\x00275c', 0.5, 123456789012345678901234567890.123456789, '1999-12-31'),
            ('ann', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '[]', '{}', 'ok', '-00:00:01', '::1',
             NULL, '', -1.5e-7, -0.000000000000000000000000000001, NULL),
            ('Åsa', 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL)""")
        conn.execute("INSERT INTO sessions (account_handle, started) VALUES ('ann', '2024-01-01 10:00:00.123'),"
                     " ('Ann', NULL), (NULL, '2024-01-02 00:00:00')")
        accounts = conn.execute(
            "SELECT id, handle, ext_id::text, profile::text, scores, mood::text, wait, host(ip), seen, avatar,"
            " ratio, balance::text, seq, born FROM accounts ORDER BY id").fetchall()
        sessions = conn.execute("SELECT id, account_handle, started FROM sessions ORDER BY id").fetchall()
    tables = reflect(sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}"))
    accounts_arrow = pa.schema([
        ("id", pa.int64()), ("handle", pa.string()), ("ext_id", pa.string()), ("profile", pa.string()),
        ("scores", pa.list_(pa.int64())), ("mood", pa.string()), ("wait", pa.duration("us")),
        ("ip", pa.string()), ("seen", pa.timestamp("us", tz="UTC")), ("avatar", pa.binary()),
        ("ratio", pa.float64()), ("balance", pa.string()), ("seq", pa.int64()), ("born", pa.date32()),
    ])
    sessions_arrow = pa.schema([("id", pa.int64()), ("account_handle", pa.string()),
                                ("started", pa.timestamp("us"))])
    batches = {
        "accounts": [as_batch([dict(zip(accounts_arrow.names, r, strict=True)) for r in accounts],
                              accounts_arrow)],
        "sessions": [as_batch([dict(zip(sessions_arrow.names, r, strict=True)) for r in sessions],
                              sessions_arrow)],
    }
    script = tmp_path / "package.sql"
    write_script(script, list(tables.values()), batches)
    db = mariadb_database()
    load_mariadb(script, db)

    got = mariadb_query(db, "SELECT * FROM accounts ORDER BY id")
    assert [r[:4] for r in got] == [r[:4] for r in accounts]
    assert [r[4] for r in got] == ["[1, 2, 3]", "[]", None]
    # an interval is its text in MySQL (months, more than 838 hours); here the reader's duration text
    assert [r[6] for r in got] == ["26:03:04.500000", "-00:00:01.000000", None]
    assert [(r[5], r[7]) for r in got] == [(r[5], r[7]) for r in accounts]
    assert [r[8] for r in got] == [datetime(2024, 6, 30, 21, 59, 59, 999999), None, None]
    assert [r[9] for r in got] == [b"\x00'\\", b"", None]
    assert [r[10] for r in got] == [0.5, -1.5e-7, None]
    assert [None if r[11] is None else Decimal(r[11]) for r in got] == [
        None if r[11] is None else Decimal(r[11]) for r in accounts]
    assert [r[12:] for r in got] == [tuple(r[12:]) for r in accounts]
    assert mariadb_query(db, "SELECT * FROM sessions ORDER BY id") == sessions
    types = dict(mariadb_query(db, "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME), CONCAT(COLUMN_TYPE, ' ', "
                                   "COALESCE(COLLATION_NAME, '')) FROM information_schema.COLUMNS "
                                   "WHERE TABLE_SCHEMA = %s", (db,)))
    assert types["accounts.handle"] == types["sessions.account_handle"] == "varchar(255) utf8mb4_bin"
    assert types["accounts.balance"].startswith("longtext")  # unbounded numeric: its text, every digit
    assert types["accounts.mood"].startswith("enum('ok','it''s bad')")
    assert mariadb_query(db, "SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema."
                             "REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s", (db,)) == [
        ("sessions", "accounts")]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_source_loads_into_postgresql(
    tmp_path: Path, mariadb_database: Callable[[], str], postgres_database: Callable[[], str]
) -> None:
    """MySQL-only types land in PostgreSQL without loss (unsigned 64-bit as NUMERIC(20,0), BIT as its
    integer); a self-referencing foreign key whose parent row comes later still loads."""
    source = mariadb_database()
    with pymysql.connect(database=source, autocommit=True, **MARIADB) as conn, conn.cursor() as cur:
        cur.execute("""
            CREATE TABLE kinds (
                id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id INT UNSIGNED,
                big BIGINT UNSIGNED, flag TINYINT(1), mood ENUM('ok','it''s bad'), tags SET('x','y','z'),
                doc JSON, yr YEAR, bits BIT(8), money DECIMAL(30,10), dbl DOUBLE, t TIME(6), dt DATETIME(6),
                raw VARBINARY(16), body MEDIUMTEXT, code VARCHAR(20) COLLATE utf8mb4_bin NOT NULL UNIQUE,
                CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES kinds(id))""")
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        cur.executemany(
            "INSERT INTO kinds VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", [
                (1, 7, 18446744073709551615, 1, "it's bad", "x,z", '{"k": "v"}', 2155, 0b10100101,
                 "-12345678901234567890.0123456789", 1 / 3, "23:59:59.999999", "1000-01-01 00:00:00.000001",
                 b"\x00'\\", "\n".join(t for t in TRICKY_TEXT if "\x00" not in t), "a"),
                (7, None, 0, 0, "ok", "", "[]", 1901, 0, "0.0000000001", -0.0, "00:00:00", None, b"", "",
                 "A"),
            ])
    tables = reflect(sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{source}?charset=utf8mb4"))
    raw_rows = mariadb_query(source, "SELECT * FROM kinds ORDER BY id")
    arrow = pa.schema([
        ("id", pa.int64()), ("parent_id", pa.int64()), ("big", pa.uint64()), ("flag", pa.int64()),
        ("mood", pa.string()), ("tags", pa.string()), ("doc", pa.string()), ("yr", pa.int16()),
        ("bits", pa.binary()), ("money", pa.decimal128(30, 10)), ("dbl", pa.float64()),
        ("t", pa.duration("us")), ("dt", pa.timestamp("us")), ("raw", pa.binary()), ("body", pa.string()),
        ("code", pa.string()),
    ])
    batch = as_batch([dict(zip(arrow.names, r, strict=True)) for r in raw_rows], arrow)
    script = tmp_path / "package.sql"
    write_script(script, [tables["kinds"]], {"kinds": [batch]}, "postgresql")
    db = postgres_database()
    load_psql(script, db)
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}") as conn:
        got = conn.execute("SELECT * FROM kinds ORDER BY id").fetchall()
        fks = conn.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'").fetchall()
    expected = []
    for row in raw_rows:
        values = list(row)
        values[2] = Decimal(values[2])  # NUMERIC(20,0)
        values[8] = format(int.from_bytes(values[8], "big"), "08b")  # BIT(8), read as its digits
        # values[11]: MySQL TIME is a signed interval (up to ±838 h), so it becomes INTERVAL and stays a timedelta
        expected.append(tuple(values))
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got] == expected
    assert fks == [("kinds_parent_id_fkey",)]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_awkward_identifiers_are_quoted_by_each_dialect(
    tmp_path: Path, mariadb_database: Callable[[], str], postgres_database: Callable[[], str]
) -> None:
    """Reserved words, quote characters, spaces and mixed case in table and column names load unchanged in
    every dialect (no hand-built quoting to break out of); index and constraint names, built from them, too."""
    md = sa.MetaData()
    parent = sa.Table("Order `Items\"", md, sa.Column("select", sa.Integer, primary_key=True),
                      sa.Column("a`b", sa.String(20)), sa.Column('c"d', sa.String(20)))
    sa.Index("ix `q\"", parent.c["a`b"])
    child = sa.Table("group", md, sa.Column("Mixed Case", sa.Integer, primary_key=True),
                     sa.Column("where", sa.ForeignKey(parent.c["select"], name="fk `q\"")))
    batches = {
        parent.name: [as_batch([{"select": 1, "a`b": "x", 'c"d': "y"}],
                               pa.schema([("select", pa.int32()), ("a`b", pa.string()), ('c"d', pa.string())]))],
        "group": [as_batch([{"Mixed Case": 5, "where": 1}],
                           pa.schema([("Mixed Case", pa.int32()), ("where", pa.int32())]))],
    }
    scripts = {d: tmp_path / f"{d}.sql" for d in ("mysql", "postgresql", "sqlite")}
    for dialect, script in scripts.items():
        write_script(script, [parent, child], batches, dialect)

    db = mariadb_database()
    load_mariadb(scripts["mysql"], db)
    assert mariadb_query(db, "SELECT `select`, `a``b`, `c\"d` FROM `Order ``Items\"`") == [(1, "x", "y")]
    assert mariadb_query(db, "SELECT `Mixed Case`, `where` FROM `group`") == [(5, 1)]
    assert mariadb_query(db, "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
                             "WHERE CONSTRAINT_SCHEMA = %s", (db,)) == [("group_where_fkey",)]

    pg = postgres_database()
    load_psql(scripts["postgresql"], pg)
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={pg}") as conn:
        assert conn.execute('SELECT "select", "a`b", "c""d" FROM "Order `Items"""').fetchall() == [(1, "x", "y")]
        assert conn.execute('SELECT "Mixed Case", "where" FROM "group"').fetchall() == [(5, 1)]
        assert conn.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'").fetchall() == [
            ("group_where_fkey",)]

    with sqlite3.connect(tmp_path / "ids.db") as conn:
        conn.executescript(scripts["sqlite"].read_text(encoding="utf-8"))
        assert conn.execute('SELECT "select", "a`b", "c""d" FROM "Order `Items"""').fetchall() == [(1, "x", "y")]


def test_secondary_indexes_can_be_left_out_but_unique_keys_stay(tmp_path: Path) -> None:
    """include_indexes=False drops plain secondary indexes only; unique keys still guard the data, and the
    same tables always give the same script."""
    engine = build_sqlite_source(tmp_path / "source.db")
    tables = list(reflect(engine).values())
    first, second = tmp_path / "a.sql", tmp_path / "b.sql"
    write_script(first, tables, {}, include_indexes=False)
    write_script(second, tables, {}, include_indexes=False)
    text = first.read_text(encoding="utf-8")
    assert first.read_bytes() == second.read_bytes()
    assert "child_tag_idx" not in text
    assert "CONSTRAINT `child_parent_id_tag_key` UNIQUE" in text and "UNIQUE (`code`)" in text


@pytest.mark.mariadb
def test_a_value_too_long_for_its_column_fails_the_load_instead_of_truncating(
    tmp_path: Path, mariadb_database: Callable[[], str]
) -> None:
    """SQLite does not enforce VARCHAR lengths (and a masked fake can outgrow one): loading such a value
    stops with an error rather than silently storing a truncated value."""
    md = sa.MetaData()
    table = sa.Table("people", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("nick", sa.String(5)))
    batch = as_batch([{"id": 1, "nick": "much too long"}], pa.schema([("id", pa.int32()), ("nick", pa.string())]))
    script = tmp_path / "package.sql"
    write_script(script, [table], {"people": [batch]})
    db = mariadb_database()
    with script.open("rb") as stdin:
        result = subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", db], stdin=stdin, capture_output=True)
    assert result.returncode != 0 and b"Data too long" in result.stderr
    assert mariadb_query(db, "SELECT COUNT(*) FROM people") == [(0,)]


def test_rows_are_joined_with_their_statement_heads_and_line_ends() -> None:
    """Rows come out as [head]( literals , ... ) and ',\\n', or ';\\n' where a statement ends; a statement
    stays within max_statement_bytes unless one row alone is larger; any literal text is copied as it is."""
    rng = random.Random(5)
    n = 500
    columns = [[rng.choice(["", "1", "'a''b'", "NULL", "'é ü'", "x" * rng.randint(0, 400)]) for _ in range(n + 3)]
               for _ in range(4)]
    source = RowSource.empty(n)
    for column in columns:  # sliced arrays: read from an offset into their buffers
        source.add_literals(pa.array(column, pa.string()).slice(3))
    head = 'INSERT INTO "t" ("a","b","c","d") VALUES\n'
    text = insert_statements(head, source, max_statement_bytes=2_000)
    assert len(text) == n  # one string per row
    statements = "".join(text.to_pylist()).split(head)[1:]
    assert all(s.count(";\n") == 1 and s.endswith(";\n") for s in statements)  # "," inside, ";" at the end
    assert len(statements) > 5
    assert all(len((head + s).encode()) <= 2_000 or s.count("\n") == 1 for s in statements)
    flat = [line[:-1] for s in statements for line in s.splitlines()]
    assert flat == ["(" + ",".join(c[i + 3] for c in columns) + ")" for i in range(n)]


def test_an_unknown_dialect_is_refused_with_the_choices() -> None:
    with pytest.raises(BuildError, match="unsupported SQL dialect 'oracle'") as raised:
        SqlScriptWriter(io.BytesIO(), "oracle")
    assert raised.value.hint == "choose one of mysql, postgresql, sqlite"
