"""The three engines of the fidelity matrix: a fresh database each, a package loaded with the engine's stock client,
and the rows of a table read back as the engine's Python driver returns them."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg.types.string import TextLoader

from tests.conftest import MARIADB

ENGINES = ("mysql", "postgresql", "sqlite")
# PostgreSQL types read as the server's own text, so that what a driver would round (months of an interval, the
# offset of a timetz, the digits of a jsonb number) is compared as it is stored.
PG_TEXT_TYPES = ("interval", "timetz", "json", "jsonb", "inet", "cidr", "macaddr", "macaddr8", "int4range",
                 "int8range", "numrange", "tsrange", "tstzrange", "daterange", "xml", "money", "bit", "varbit",
                 "tsvector", "citext")


def run_script(engine: str, database: str, script: Path | str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run an SQL script (a file or text) with the engine's stock client, stopping at the first error."""
    data = script.read_bytes() if isinstance(script, Path) else script.encode("utf-8")
    if engine == "mysql":
        command = ["mariadb", "-h127.0.0.1", "-uroot", "--default-character-set=utf8mb4", database]
    elif engine == "postgresql":
        command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-X"]
    else:
        command = ["sqlite3", "-bail", database]
    return subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)


def url(engine: str, database: str) -> str:
    """The SQLAlchemy URL of a source database."""
    if engine == "mysql":
        return f"mysql+pymysql://root@127.0.0.1:3306/{database}?charset=utf8mb4"
    if engine == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    return f"sqlite:///{database}"


def read_rows(engine: str, database: str, table: str, columns: list[str], order_by: str,
              single_floats: frozenset[str] = frozenset()) -> list[tuple[Any, ...]]:
    """Every row of `table` (the given columns), ordered by `order_by`. MySQL's text protocol sends a FLOAT with
    6 digits: `single_floats` are read as the double of their stored value instead."""
    if engine == "mysql":
        names = ", ".join(("(`{}` + 0e0)" if c in single_floats else "`{}`").format(c.replace("`", "``"))
                          for c in columns)
        quoted = "`" + table.replace("`", "``") + "`"
        with pymysql.connect(**MARIADB, database=database, charset="utf8mb4") as conn, conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(f"SELECT {names} FROM {quoted} ORDER BY `{order_by}`")
            return list(cur.fetchall())
    names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    quoted = '"' + table.replace('"', '""') + '"'
    if engine == "postgresql":
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute("SET intervalstyle = 'iso_8601'")  # the reader's text of an interval
            for name in PG_TEXT_TYPES:
                info = psycopg.types.TypeInfo.fetch(conn, name)
                if info is not None:
                    conn.adapters.register_loader(info.oid, TextLoader)
            return [tuple(r) for r in conn.execute(f'SELECT {names} FROM {quoted} ORDER BY "{order_by}"')]
    with sqlite3.connect(database) as conn:
        return [tuple(r) for r in conn.execute(f'SELECT {names} FROM {quoted} ORDER BY "{order_by}"')]


def table_names(engine: str, database: str) -> list[str]:
    if engine == "mysql":
        with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
            return [r[0] for r in cur.fetchall()]
    if engine == "postgresql":
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as conn:
            return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    with sqlite3.connect(database) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
