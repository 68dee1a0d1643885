"""A masked integer key fits every integer column joined to it by foreign keys: a BIGINT account id hashed by a
template rule, referenced by INT columns (directly, and through a BIGINT key that is itself a foreign key), gets
hashes every one of those columns holds, equal in the parent and all its children. Packages of real MariaDB and
PostgreSQL sources load with the real clients (no "Out of range", no "integer out of range"), every child row
still joins its parent, and no masked id is its original."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb

ACCOUNTS = 40
INT_MAX = 2**31 - 1

TEMPLATE = """
templateName: privacy-key-widths
exports:
  accounts: {provider: SRC, query: 'SELECT * FROM accounts'}
  profiles: {provider: SRC, query: 'SELECT * FROM profiles'}
  sessions: {provider: SRC, query: 'SELECT * FROM sessions'}
  orders: {provider: SRC, query: 'SELECT * FROM orders'}
masking:
  accounts.id: hash
"""

# the parent BIGINT, a BIGINT key that is also a foreign key to it, and INT columns referencing each
TABLES = (
    ("accounts", "id BIGINT PRIMARY KEY, tier VARCHAR(10)"),
    ("profiles", "account_id BIGINT PRIMARY KEY REFERENCES accounts (id), handle VARCHAR(20)"),
    ("sessions", "id INT PRIMARY KEY, profile_id INT REFERENCES profiles (account_id)"),
    ("orders", "id INT PRIMARY KEY, account_id INT REFERENCES accounts (id)"),
)

# each child row and the parent it must still join after masking
JOINS = {
    "orders": "SELECT COUNT(*) FROM orders o JOIN accounts a ON a.id = o.account_id",
    "sessions": "SELECT COUNT(*) FROM sessions s JOIN profiles p ON p.account_id = s.profile_id "
                "JOIN accounts a ON a.id = p.account_id",
}


def _rows() -> dict[str, list[tuple]]:
    """Account ids spread over the INT range (the originals fit every column), two orders and sessions each."""
    ids = random.Random(7).sample(range(1, INT_MAX), ACCOUNTS)
    return {
        "accounts": [(i, "gold" if n % 2 else "basic") for n, i in enumerate(ids)],
        "profiles": [(i, f"handle{n}") for n, i in enumerate(ids)],
        "sessions": [(n, ids[n % ACCOUNTS]) for n in range(1, 2 * ACCOUNTS + 1)],
        "orders": [(n, ids[n % ACCOUNTS]) for n in range(1, 2 * ACCOUNTS + 1)],
    }


def _check(query: Callable[[str], list[tuple]], originals: set[int]) -> None:
    """Every child row joins its parent, every id fits an INT, and no account id is its original."""
    for table, sql in JOINS.items():
        assert query(sql)[0][0] == 2 * ACCOUNTS, table
    masked = {row[0] for row in query("SELECT id FROM accounts")}
    assert len(masked) == ACCOUNTS
    assert all(abs(v) <= INT_MAX for v in masked)
    assert not masked & originals


@pytest.mark.mariadb
def test_a_bigint_key_referenced_by_int_columns_of_mariadb_is_hashed_into_their_range(
        mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MariaDB holds BIGINT keys referenced by INT columns when the children were created first with foreign key
    checks off (as a dump loads): a hash of the BIGINT was wrapped into BIGINT only and the package's INT children
    refused it ("Out of range"). Hashed into the INT range in the parent and every child, every row loads in
    strict mode and every order and session still joins its account.

    The package keeps the source's column types, and InnoDB refuses to create a foreign key from an INT column to
    a BIGINT one even with checks off, so those two constraints are left out of the script loaded here: what is
    tested is the rows."""
    source = mariadb_database()
    rows = _rows()
    with pymysql.connect(**MARIADB, database=source) as conn, conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table, columns in reversed(TABLES):  # children first: InnoDB refuses the INT child of a BIGINT then
            cur.execute(f"CREATE TABLE {table} ({_inline_keys(columns)})")
        for table, _ in TABLES:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows[table])  # noqa: S608 - the test's names
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, source, batch_rows=25)
    built = build_package(parse_template(TEMPLATE), {}, settings)
    loadable = tmp_path / "loadable"
    loadable.mkdir()
    lines = (built.path / "package.sql").read_text().splitlines(keepends=True)
    refused = ("ALTER TABLE `orders` ADD CONSTRAINT", "ALTER TABLE `sessions` ADD CONSTRAINT")
    assert sum(line.startswith(refused) for line in lines) == 2
    (loadable / "package.sql").write_text("".join(line for line in lines if not line.startswith(refused)))
    target = mariadb_database()
    load_into_mariadb(loadable, target)

    def query(sql: str) -> list[tuple]:
        with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    _check(query, {r[0] for r in rows["accounts"]})


def _inline_keys(columns: str) -> str:
    """MariaDB ignores a column's inline REFERENCES: the same key as a table constraint."""
    parts = []
    keys = []
    for part in columns.split(", "):
        if " REFERENCES " in part:
            column_part, parent = part.split(" REFERENCES ")
            parts.append(column_part)
            keys.append(f"FOREIGN KEY ({column_part.split()[0]}) REFERENCES {parent}")
        else:
            parts.append(part)
    return ", ".join(parts + keys)


@pytest.mark.postgres
def test_a_bigint_key_referenced_by_int_columns_of_postgres_is_hashed_into_their_range(
        postgres_database: Callable[[], str], mariadb_database: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PostgreSQL bigint key referenced by integer columns, directly and through a bigint key that is itself a
    foreign key: its hashes went past the integers ("integer out of range" in psql). The PostgreSQL package loads
    with psql and the MySQL one into MariaDB, every child row joins its parent, no account id is its original."""
    source = postgres_database()
    rows = _rows()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        for table, columns in TABLES:
            cur.execute(f"CREATE TABLE {table} ({columns})")
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows[table])  # noqa: S608 - the test's names
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}")
    spec = parse_template(TEMPLATE)
    originals = {r[0] for r in rows["accounts"]}

    built = build_package(spec, {}, load_settings(), dialect="postgresql")
    target = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(built.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]

    def pg_query(sql: str) -> list[tuple]:
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
            return conn.execute(sql).fetchall()

    _check(pg_query, originals)

    built = build_package(spec, {}, load_settings(), dialect="mysql")
    mysql_target = mariadb_database()
    load_into_mariadb(built.path, mysql_target)

    def mariadb_query(sql: str) -> list[tuple]:
        with pymysql.connect(**MARIADB, database=mysql_target) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    _check(mariadb_query, originals)
