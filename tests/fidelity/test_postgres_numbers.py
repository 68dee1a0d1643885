"""PostgreSQL numbers through a build into each target: a ``numeric`` (read as the server's decimal text, to keep
NaN) is written into package.sql as a number, unquoted, and comes back exact; NaN and the infinities are quoted
only where the target column holds them (PostgreSQL; SQLite keeps them as text), NULL in a nullable MySQL DECIMAL.
``integer`` and ``smallint`` columns keep their width (a PostgreSQL table of generic types only is still a
PostgreSQL table: not every integer widened to BIGINT)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import psycopg
import pymysql
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY
from tests.fidelity.engines import run_script, url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mariadb]

SETUP = """
CREATE TABLE amounts (id int PRIMARY KEY, i4 int, s2 smallint, i8 bigint, p numeric(10,2), z numeric(9,0),
  u numeric, k numeric(6,1) NOT NULL);
INSERT INTO amounts VALUES
  (1, 5, 2, 9, 'NaN', 123456789, 'NaN', 1.5),
  (2, -2147483648, -32768, 9223372036854775807, 12345678.99, 0, 'Infinity', 0),
  (3, 2147483647, 32767, -1, -0.01, -5, '-Infinity', -99999.9),
  (4, NULL, NULL, NULL, 0.10, NULL, 0.0000001, 2);
"""
TEMPLATE = """
templateName: pg-numbers
exports:
  amounts: {provider: SRC, query: 'SELECT * FROM amounts ORDER BY id'}
masking:
  default: keep
"""
# the source's values, as PostgreSQL writes them (NULL: None)
P = ["NaN", "12345678.99", "-0.01", "0.10"]
Z = ["123456789", "0", "-5", None]
U = ["NaN", "Infinity", "-Infinity", "0.0000001"]
K = ["1.5", "0.0", "-99999.9", "2.0"]
INTEGERS = [(5, 2, 9), (-2147483648, -32768, 9223372036854775807), (2147483647, 32767, -1), (None, None, None)]


@pytest.fixture
def build_from_postgres(tmp_path: Path, postgres_database, monkeypatch: pytest.MonkeyPatch):
    source = postgres_database()
    done = run_script("postgresql", source, SETUP)
    assert done.returncode == 0, done.stderr.decode()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", url("postgresql", source))

    def build(dialect: str) -> tuple[Path, str]:
        package = build_package(parse_template(TEMPLATE), {}, load_settings(), dialect=dialect).path
        return package, (package / "package.sql").read_text(encoding="utf-8")
    return build


def _rows(script: str) -> list[str]:
    """The value rows of the script's INSERT into amounts, without their parentheses."""
    return [line.strip().rstrip(",;")[1:-1] for line in script.splitlines() if line.startswith("(")]


def _assert_numbers_unquoted(script: str) -> None:
    """The DECIMAL/NUMERIC columns p, z and k (5th, 6th and 8th) hold numbers, unquoted, or NULL or a quoted
    non-finite value: never a quoted number."""
    rows = [row.split(",") for row in _rows(script)]
    assert [(r[4], r[5], r[7]) for r in rows[1:]] == [("12345678.99", "0", "0.0"), ("-0.01", "-5", "-99999.9"),
                                                    ("0.10", "NULL", "2.0")]
    assert rows[0][4] in ("NULL", "'NaN'", "E'NaN'") and (rows[0][5], rows[0][7]) == ("123456789", "1.5")


def test_postgresql_target_gets_numbers_unquoted_nan_quoted_and_integer_widths(build_from_postgres,
                                                                               postgres_database) -> None:
    """PG -> PG: numeric values unquoted and exact, NaN and the infinities as quoted literals PostgreSQL reads
    back as the same numeric; int, smallint and bigint columns are created as integer, smallint and bigint."""
    package, script = build_from_postgres("postgresql")
    _assert_numbers_unquoted(script)
    assert "'NaN'" in script and "'Infinity'" in script and "'-Infinity'" in script
    target = postgres_database()
    done = run_script("postgresql", target, package / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={target}") as conn:
        rows = conn.execute("SELECT p::text, z::text, u::text, k::text, i4, s2, i8 FROM amounts ORDER BY id").fetchall()
        types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'amounts'").fetchall())
    assert [r[0] for r in rows] == P[:3] + ["0.10"]
    assert [r[1] for r in rows] == Z and [r[2] for r in rows] == U and [r[3] for r in rows] == K
    assert [tuple(r[4:]) for r in rows] == INTEGERS
    assert (types["i4"], types["s2"], types["i8"]) == ("integer", "smallint", "bigint")
    assert types["p"] == types["z"] == types["u"] == "numeric"


def test_mysql_target_gets_numbers_unquoted_and_exact(build_from_postgres, mariadb_database) -> None:
    """PG -> MariaDB: DECIMAL values unquoted and exact (Decimal equality, trailing zeros kept by the scale); NaN
    in a nullable DECIMAL is NULL; the unbounded numeric is LONGTEXT and keeps its text, quoted."""
    package, script = build_from_postgres("mysql")
    _assert_numbers_unquoted(script)
    target = mariadb_database()
    done = run_script("mysql", target, package / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT p, z, u, k, i4, s2, i8 FROM amounts ORDER BY id")
        rows = cur.fetchall()
        cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = 'amounts'", (target,))
        types = dict(cur.fetchall())
    assert [r[0] for r in rows] == [None, Decimal("12345678.99"), Decimal("-0.01"), Decimal("0.10")]
    assert [str(r[0]) for r in rows[1:]] == P[1:]
    assert [r[1] for r in rows] == [None if z is None else Decimal(z) for z in Z]
    assert [r[2] for r in rows] == U
    assert [str(r[3]) for r in rows] == K
    assert [tuple(r[4:]) for r in rows] == INTEGERS
    assert (types["i4"], types["s2"], types["i8"]) == ("int(11)", "smallint(6)", "bigint(20)")


def test_sqlite_target_stores_numbers_as_numbers(build_from_postgres, tmp_path: Path) -> None:
    """PG -> SQLite: finite numeric values are stored as SQLite numbers (integer or real, not text) equal to the
    source's; NaN and the infinities, which a SQLite number cannot be, keep their text."""
    package, script = build_from_postgres("sqlite")
    _assert_numbers_unquoted(script)
    target = str(tmp_path / "target.db")
    done = run_script("sqlite", target, package / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    with sqlite3.connect(target) as conn:
        rows = conn.execute("SELECT p, typeof(p), z, typeof(z), k, typeof(k) FROM amounts ORDER BY id").fetchall()
        u = [r[0] for r in conn.execute("SELECT u FROM amounts ORDER BY id")]
    assert rows[0][:2] == ("NaN", "text")
    for row, p in zip(rows[1:], P[1:], strict=True):
        assert row[1] == "real" and row[0] == float(p)
    for row, z in zip(rows, Z, strict=True):
        assert (row[2], row[3]) == ((None, "null") if z is None else (int(z), "integer"))
    for row, k in zip(rows, K, strict=True):
        assert row[5] in ("real", "integer") and row[4] == float(k)
    assert u == U
