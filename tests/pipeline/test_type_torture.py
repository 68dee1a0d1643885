"""Values survive a build exactly: a MariaDB table with every type, built, loaded, compared column by column."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_url
from tests.pipeline.test_local_build import load_into_mariadb

pytestmark = pytest.mark.mariadb

TORTURE = """CREATE TABLE torture (
  id INT UNSIGNED PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, i24 MEDIUMINT, i64 BIGINT, u64 BIGINT UNSIGNED,
  flag TINYINT(1), dec_small DECIMAL(5,2), dec_big DECIMAL(30,10), f FLOAT, d DOUBLE,
  dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL, yr YEAR,
  c CHAR(4), vc VARCHAR(200), tx TEXT, mtx MEDIUMTEXT,
  bin BINARY(4), vbin VARBINARY(64), blb BLOB,
  en ENUM('small','medium','large'), st SET('a','b','c'), js JSON, bits BIT(8),
  pt POINT NULL
) DEFAULT CHARSET=utf8mb4"""

ROWS: list[tuple[Any, ...]] = [
    (1, -128, 255, -32768, -8388608, -9223372036854775808, 18446744073709551615, 1, "-999.99",
     "12345678901234567890.0123456789", 3.25, 2.2250738585072014e-308, "1000-01-01", "-838:59:59.000000",
     "1000-01-01 00:00:00.000000", "1970-01-01 00:00:01.000000", 1901, "ab", "quote ' and \\\\ back",
     "line1\nline2\r\n\ttab NUL\x00 end", "emoji 😀 中文 " * 100, b"\x00\x01\x02\x03", b"\xff\x00'\\",
     bytes(range(256)), "small", "a,c", '{"k": [1, "two", null], "emoji": "😀"}', b"\x81", "POINT(1 2)"),
    (2, 127, 0, 32767, 8388607, 9223372036854775807, 0, 0, "999.99", "-0.0000000001", -1.5e38,
     1.7976931348623157e308, "9999-12-31", "838:59:59.999999", "9999-12-31 23:59:59.999999",
     "2038-01-19 03:14:07.999999", 2155, "", "", "", "", b"\x00\x00\x00\x00", b"", b"", "large", "",
     "[]", b"\x00", None),
    (3,) + (None,) * 28,
]
TEMPLATE = """
templateName: torture
exports:
  torture:
    provider: SRC
    query: SELECT * FROM torture ORDER BY id
masking:
  default: keep
"""
COLUMNS = ("id,i8,u8,i16,i24,i64,u64,flag,dec_small,dec_big,f,d,dt,tm,dtm,ts,yr,c,vc,tx,mtx,bin,vbin,blb,en,st,js,"
           "bits").split(",")


def checksums(database: str) -> dict[str, str]:
    """sha256 per column over every row, ordered by id, as pymysql returns the values."""
    with pymysql.connect(**MARIADB, database=database, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {', '.join(COLUMNS)}, ST_AsText(pt) FROM torture ORDER BY id")
        rows = cur.fetchall()
    names = [*COLUMNS, "pt"]
    return {name: hashlib.sha256(repr([r[i] for r in rows]).encode()).hexdigest() for i, name in enumerate(names)}


@pytest.fixture
def torture_source(mariadb_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database = mariadb_database()
    with pymysql.connect(**MARIADB, database=database, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(TORTURE)
        placeholders = ", ".join(["%s"] * 28 + ["ST_GeomFromText(%s)"])
        for row in ROWS:
            values = list(row)
            cur.execute(f"INSERT INTO torture VALUES ({placeholders})", values)
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", mariadb_url(database))
    return database


def test_every_mysql_type_round_trips_through_a_package(torture_source: str, mariadb_database) -> None:
    """Build → `mysql db < package.sql` → every column's checksum equals the source's."""
    built = build_package(parse_template(TEMPLATE), {}, load_settings())
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    source_sums, target_sums = checksums(torture_source), checksums(target)
    differing = [name for name in source_sums if source_sums[name] != target_sums[name]]
    assert not differing
    assert built.manifest.tables[0].rows == len(ROWS)


@pytest.mark.postgres
def test_same_package_for_postgresql_loads_and_compares(torture_source: str, postgres_database) -> None:
    """--dialect postgresql: the script loads with psql; mapped types compare equal."""
    built = build_package(parse_template(TEMPLATE), {}, load_settings(), dialect="postgresql")
    database = postgres_database()
    done = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                           "-q", "-f", str(built.path / "package.sql")], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[:500]
    query = "SELECT id, i64, u64, dec_big, d, dt, tm, dtm, vc, tx, vbin, en FROM torture ORDER BY id"
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as conn:
        rows = conn.execute(query).fetchall()
    with pymysql.connect(**MARIADB, database=torture_source, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute(query)
        expected = cur.fetchall()
    for got, want in zip(rows, expected, strict=True):
        normalised = tuple(bytes(v) if isinstance(v, memoryview) else v for v in got)
        # PostgreSQL text cannot hold NUL: the writer drops it and the manifest says how many
        assert normalised == tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in want)
    assert built.manifest.sql_notes["removed_nul_characters"] == 1
