"""Every masking operator a template rule may apply to a column writes values of that column's type: over a matrix
of column types of real MariaDB and PostgreSQL sources (integers, whole and fractional decimals, PostgreSQL's
numeric read as its text, strings, dates, binaries, UUIDs, enums) and every operator the column's kind accepts,
the package loads into a fresh MariaDB database with the real ``mariadb`` client (a PostgreSQL source's into
PostgreSQL with ``psql`` too), and no masked value is its row's original."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from hfit_dagster.masking.catalog import OPERATOR_KINDS
from hfit_dagster.masking.column_kinds import ColumnKind, column_kind
from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb
from tests.privacy.test_columns_mariadb import ssn_like

ROWS = 40
# operators whose output is not a per-value fake of the input (kept, or whole free text redacted in place)
NOT_FAKES = {"keep", "redact_text", "json_pii"}
_SSNS = ssn_like(ROWS, seed=18)


def _value(kind: str, i: int) -> Any:
    """Row ``i``'s original of a column of ``kind``: SSN-like numbers and texts, dates, bytes, UUIDs."""
    ssn = _SSNS[i]
    return {
        "int": ssn, "small": 10_000 + ssn % 20_000, "dec": Decimal(ssn), "big": Decimal(ssn) * 10**9 + i,
        "money": Decimal(ssn) / 100, "text": f"{ssn // 10**6:03d}-{ssn // 10**4 % 100:02d}-{ssn % 10**4:04d}",
        "date": dt.date(1950, 1, 1) + dt.timedelta(days=ssn % 20_000),
        "stamp": dt.datetime(2020, 1, 1) + dt.timedelta(seconds=ssn),
        "bytes": ssn.to_bytes(8, "big") * 2, "uuid": str(uuid.UUID(int=ssn * 7919)), "label": "abc"[i % 3],
    }[kind]


# (column type, kind of its values) per source
MARIADB_TYPES = {
    "int": ("INT", "int"), "bigint": ("BIGINT", "int"), "smallint": ("SMALLINT", "small"),
    "dec9": ("DECIMAL(9,0)", "dec"), "dec30": ("DECIMAL(30,0)", "big"), "money": ("DECIMAL(12,2)", "money"),
    "chr": ("CHAR(11)", "text"), "vchr": ("VARCHAR(64)", "text"), "txt": ("TEXT", "text"), "day": ("DATE", "date"),
    "stamp": ("DATETIME", "stamp"), "bin": ("VARBINARY(16)", "bytes"), "enm": ("ENUM('a','b','c')", "label"),
}
POSTGRES_TYPES = {
    "int": ("integer", "int"), "bigint": ("bigint", "int"), "smallint": ("smallint", "small"),
    "num9": ("numeric(9,0)", "dec"), "num30": ("numeric(30,0)", "big"), "money": ("numeric(12,2)", "money"),
    "numfree": ("numeric", "dec"), "chr": ("char(11)", "text"), "vchr": ("varchar(64)", "text"),
    "txt": ("text", "text"), "day": ("date", "date"), "stamp": ("timestamp", "stamp"), "bin": ("bytea", "bytes"),
    "uid": ("uuid", "uuid"), "enm": ("letter", "label"),
}


def _operators(sql_type: str) -> list[str]:
    """Every operator a template rule may apply to a column of ``sql_type`` (the rule check's own table; an email
    fits neither 11 characters nor one-letter labels, a rule saying so is refused before any build)."""
    kind = column_kind("ENUM" if sql_type == "letter" else sql_type)
    return sorted(name for name in OPERATORS
                  if name != "keep" and (name not in OPERATOR_KINDS or kind in OPERATOR_KINDS[name])
                  and not (name == "email" and ("(11)" in sql_type or kind == ColumnKind.ENUM)))


def _tables(types: dict[str, tuple[str, str]]) -> dict[str, tuple[list[tuple[str, str]], str]]:
    """Per column type one table ``t_<type>``: its columns (``c_<operator>``, type) and the kind of its values."""
    return {f"t_{name}": ([(f"c_{op}", sql_type) for op in _operators(sql_type)], kind)
            for name, (sql_type, kind) in types.items()}


def _template(tables: dict[str, tuple[list[tuple[str, str]], str]]) -> str:
    lines = ["templateName: privacy-operator-types", "exports:"]
    lines += [f"  {t}: {{provider: SRC, query: 'SELECT * FROM {t} ORDER BY id'}}" for t in tables]
    lines += ["masking:"] + [f"  {t}.{c}: '{c[2:]}'" for t, (columns, _) in tables.items() for c, _ in columns]
    return "\n".join(lines) + "\n"


def _same(a: Any, b: Any) -> bool:
    """Whether a loaded value is its original, whatever type each side reads as."""
    def norm(v: Any) -> str:
        if isinstance(v, Decimal) and v == v.to_integral_value():
            return str(int(v))
        if isinstance(v, bytes | bytearray | memoryview):
            return bytes(v).hex()
        return str(v).strip()
    return a is not None and b is not None and norm(a) == norm(b)


def _check_loaded(rows_by_table: dict[str, list[tuple]], tables: dict[str, tuple[list[tuple[str, str]], str]],
                  fetch: Callable[[str, list[str]], list[tuple]]) -> dict[str, int]:
    """Per masked column, how many loaded values equal their row's original (an operator faking nothing)."""
    same: dict[str, int] = {}
    for table, (columns, _) in tables.items():
        names = [c for c, _ in columns]
        loaded = {row[0]: row[1:] for row in fetch(table, names)}
        assert len(loaded) == ROWS, table
        for position, name in enumerate(names):
            operator = name[2:]
            values = [loaded[row[0]][position] for row in rows_by_table[table]]
            if operator == "null":
                assert all(v is None for v in values), f"{table}.{name}"
                continue
            if operator == "fixed":
                assert len({str(v) for v in values}) == 1, f"{table}.{name}"
                continue
            if operator in NOT_FAKES or "enm" in table:  # an enum's masked value is one of its labels
                continue
            same[f"{table}.{name}"] = sum(_same(v, row[1 + position]) for v, row in zip(values, rows_by_table[table],
                                                                                          strict=True))
    return same


def _mariadb_rows(database: str, table: str, names: list[str]) -> list[tuple]:
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, {', '.join(names)} FROM {table}")  # noqa: S608 - the test's own names
        return list(cur.fetchall())


@pytest.mark.mariadb
def test_every_operator_writes_values_of_its_column_type_from_mariadb(
        mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A MariaDB source: each operator a rule may apply to INT, BIGINT, SMALLINT, DECIMAL(9,0), DECIMAL(30,0),
    DECIMAL(12,2), CHAR, VARCHAR, TEXT, DATE, DATETIME, VARBINARY and ENUM columns writes values the same column
    of the package holds (the package loads in strict mode), and none is its row's original."""
    source = mariadb_database()
    tables = _tables(MARIADB_TYPES)
    rows = {t: [(i, *[_value(kind, i)] * len(columns)) for i in range(ROWS)] for t, (columns, kind) in tables.items()}
    fill_mariadb(source, {t: ("id INT PRIMARY KEY, " + ", ".join(f"{c} {sql}" for c, sql in columns), rows[t])
                          for t, (columns, _) in tables.items()})
    settings = mariadb_source_settings(monkeypatch, tmp_path, source, batch_rows=25)
    built = build_package(parse_template(_template(tables)), {}, settings)

    target = mariadb_database()
    load_into_mariadb(built.path, target)
    same = _check_loaded(rows, tables, lambda t, names: _mariadb_rows(target, t, names))
    print(f"\n{len(same)} masked columns over {len(tables)} types; columns keeping an original: "
          f"{ {k: v for k, v in same.items() if v} }")
    assert {k: v for k, v in same.items() if v} == {}


@pytest.mark.postgres
def test_every_operator_writes_values_of_its_column_type_from_postgres(
        postgres_database: Callable[[], str], mariadb_database: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PostgreSQL source (numeric read as its decimal text, so a hash of a NUMERIC(9,0) SSN was hex): each
    operator a rule may apply to integer, bigint, smallint, numeric(9,0), numeric(30,0), numeric(12,2), numeric,
    char, varchar, text, date, timestamp, bytea, uuid and enum columns writes values of the column's type: the
    MySQL package loads into MariaDB, the PostgreSQL one into PostgreSQL, and no masked value is its original."""
    source = postgres_database()
    tables = _tables(POSTGRES_TYPES)
    rows = {t: [(i, *[_value(kind, i)] * len(columns)) for i in range(ROWS)] for t, (columns, kind) in tables.items()}
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TYPE letter AS ENUM ('a', 'b', 'c')")
        for table, (columns, _) in tables.items():
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, "
                        + ", ".join(f"{c} {sql}" for c, sql in columns) + ")")
            cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * (len(columns) + 1))})",  # noqa: S608
                            rows[table])
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}")
    spec = parse_template(_template(tables))

    built = build_package(spec, {}, load_settings(), dialect="mysql")
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    same = _check_loaded(rows, tables, lambda t, names: _mariadb_rows(target, t, names))
    print(f"\n{len(same)} masked columns over {len(tables)} types; columns keeping an original: "
          f"{ {k: v for k, v in same.items() if v} }")
    assert {k: v for k, v in same.items() if v} == {}

    built_pg = build_package(spec, {}, load_settings(), dialect="postgresql")
    target_pg = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target_pg, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(built_pg.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]

    def pg_rows(table: str, names: list[str]) -> list[tuple]:
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target_pg}") as conn:
            return conn.execute(f"SELECT id, {', '.join(names)} FROM {table}").fetchall()  # noqa: S608

    assert {k: v for k, v in _check_loaded(rows, tables, pg_rows).items() if v} == {}
