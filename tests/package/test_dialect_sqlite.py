"""SQLite target, case by case: the expected literal of each value, DDL of each column, load frame and a whole
table's DDL (checked in test_dialect_tables.py), and every case loaded into a SQLite file with the ``sqlite3``
client and read back equal."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from tests.package.dialect_cases import (
    DdlCase,
    LiteralCase,
    by_family,
    read_back_mismatches,
    round_trip_script,
)

DIALECT = "sqlite"
UUID = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")

LITERALS = [
    LiteralCase("int", sa.Integer(), pa.int32(), -42, "-42"),
    LiteralCase("bigint_min", sa.BigInteger(), pa.int64(), -(2**63), "-9223372036854775808"),
    LiteralCase("bool", sa.Boolean(), pa.bool_(), True, "1", read=1),
    LiteralCase("bool_from_int", sa.Boolean(), pa.int8(), 0, "0"),
    # NUMERIC affinity keeps what fits an integer or a float
    LiteralCase("decimal", sa.Numeric(12, 2), pa.decimal128(12, 2), Decimal("-1234.50"), "-1234.50", read=-1234.5),
    LiteralCase("decimal_integral", sa.Numeric(12, 2), pa.decimal128(12, 2), Decimal("7.00"), "7.00", read=7),
    LiteralCase("float", sa.Float(), pa.float64(), 0.1, "0.1"),
    LiteralCase("float_negative_zero", sa.Float(), pa.float64(), -0.0, "-0"),
    LiteralCase("float_infinity", sa.Float(), pa.float64(), float("inf"), "9e999"),  # overflows to infinity
    LiteralCase("float_nan", sa.Float(), pa.float64(), float("nan"), "'NaN'", read="NaN"),  # no NaN: its text
    LiteralCase("date", sa.Date(), pa.date32(), date(1999, 12, 31), "'1999-12-31'", read="1999-12-31"),
    LiteralCase("datetime", sa.DateTime(), pa.timestamp("us"), datetime(2024, 2, 29, 23, 59, 59, 999999),
                "'2024-02-29 23:59:59.999999'", read="2024-02-29 23:59:59.999999"),
    LiteralCase("datetime_zone", sa.DateTime(timezone=True), pa.timestamp("us", tz="Europe/Paris"),
                datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "'2024-01-01 12:00:00.000000'",
                read="2024-01-01 12:00:00.000000"),  # UTC wall-clock time
    LiteralCase("timestamp_into_date", sa.Date(), pa.timestamp("us"), datetime(2024, 5, 6, 7, 8, 9), "'2024-05-06'",
                read="2024-05-06"),
    LiteralCase("time", sa.Time(), pa.time64("us"), time(13, 14, 15, 16), "'13:14:15.000016'",
                read="13:14:15.000016"),
    LiteralCase("interval", sa.Interval(), pa.duration("us"), timedelta(hours=-26, microseconds=-5),
                "'-26:00:00.000005'", read="-26:00:00.000005"),
    LiteralCase("text_quote_backslash", sa.Text(), pa.string(), "it's a \\ test", "'it''s a \\ test'"),
    # NUL and line breaks go as UTF-8 bytes cast to TEXT: every row stays on one line
    LiteralCase("text_line_breaks", sa.Text(), pa.string(), "a\nb\r", "CAST(X'610a620d' AS TEXT)"),
    LiteralCase("text_nul", sa.Text(), pa.string(), "nul\x00byte", "CAST(X'6e756c0062797465' AS TEXT)"),
    LiteralCase("text_ctrl_z", sa.Text(), pa.string(), "z\x1a", "'z\x1a'"),
    LiteralCase("text_4_byte_utf8", sa.String(20), pa.string(), "😀 中文", "'😀 中文'"),
    LiteralCase("text_from_bytes", sa.Text(), pa.binary(), "café".encode(), "'café'", read="café"),
    LiteralCase("text_from_bytes_not_utf8", sa.Text(), pa.binary(), b"\xff", "X'ff'"),
    LiteralCase("bytes", sa.LargeBinary(), pa.binary(), b"\x00'\\\n", "X'00275c0a'"),
    LiteralCase("bytes_empty", sa.LargeBinary(), pa.binary(), b"", "X''"),
    LiteralCase("text_into_bytes", sa.LargeBinary(), pa.string(), "abc", "X'616263'", read=b"abc"),
    LiteralCase("list_as_json", sa.JSON(), pa.list_(pa.int64()), [1, 2, None], "'[1, 2, null]'",
                read="[1, 2, null]"),
    LiteralCase("struct_as_json", sa.JSON(), pa.struct([("a", pa.string())]), {"a": "é"}, "'{\"a\": \"é\"}'",
                read='{"a": "é"}'),
    LiteralCase("uuid_text", sa.Uuid(), pa.string(), str(UUID), f"'{UUID}'"),
    LiteralCase("uuid_bytes", sa.Uuid(), pa.binary(16), UUID.bytes, f"X'{UUID.hex}'"),  # CHAR(36) holds a BLOB
    # from MySQL and PostgreSQL
    LiteralCase("unsigned_int", mysql.INTEGER(unsigned=True), pa.int64(), 4294967295, "4294967295",
                family="mysql"),
    LiteralCase("bit_digits", mysql.BIT(8), pa.binary(), b"\x05", "'00000101'", read="00000101", family="mysql"),
    LiteralCase("year", mysql.YEAR(), pa.int16(), 2155, "2155", family="mysql"),
    LiteralCase("set_as_list", mysql.SET("x", "y", "z"), pa.list_(pa.string()), ["x", "z"], "'[\"x\", \"z\"]'",
                read='["x", "z"]', family="mysql"),  # TEXT, so the members go as a JSON list
    LiteralCase("array_as_json", postgresql.ARRAY(sa.Integer()), pa.list_(pa.int64()), [1, None], "'[1, null]'",
                read="[1, null]", family="postgresql"),
    LiteralCase("uuid", postgresql.UUID(), pa.uuid(), UUID.bytes, f"'{UUID}'", read=str(UUID), family="postgresql"),
    LiteralCase("timestamptz", postgresql.TIMESTAMP(timezone=True), pa.timestamp("us", tz="UTC"),
                datetime(1970, 1, 1, tzinfo=UTC), "'1970-01-01 00:00:00.000000'",
                read="1970-01-01 00:00:00.000000", family="postgresql"),
]

COLUMNS = [
    DdlCase("int", sa.Integer(), '"c" INTEGER'),
    DdlCase("bigint", sa.BigInteger(), '"c" INTEGER'),  # 64 bits, and a key stays the rowid alias
    DdlCase("smallint", sa.SmallInteger(), '"c" INTEGER'),
    DdlCase("bool", sa.Boolean(), '"c" BOOLEAN'),
    DdlCase("numeric", sa.Numeric(12, 2), '"c" NUMERIC(12, 2)'),
    DdlCase("numeric_unbounded", sa.Numeric(), '"c" TEXT'),  # NUMERIC affinity keeps 15 digits
    DdlCase("numeric_15_digits", sa.Numeric(15, 5), '"c" NUMERIC(15, 5)'),
    DdlCase("numeric_16_digits", sa.Numeric(16, 5), '"c" TEXT'),
    DdlCase("float", sa.Float(), '"c" DOUBLE'),
    DdlCase("date", sa.Date(), '"c" DATE'),
    DdlCase("datetime", sa.DateTime(), '"c" DATETIME'),
    DdlCase("time", sa.Time(), '"c" TIME'),
    DdlCase("interval", sa.Interval(), '"c" TEXT'),
    DdlCase("varchar", sa.String(40), '"c" VARCHAR(40)'),
    DdlCase("varchar_unbounded", sa.String(), '"c" TEXT'),
    DdlCase("char", sa.CHAR(3), '"c" CHAR(3)'),
    DdlCase("text", sa.Text(), '"c" TEXT'),
    DdlCase("blob", sa.LargeBinary(), '"c" BLOB'),
    DdlCase("json", sa.JSON(), '"c" JSON'),
    DdlCase("uuid", sa.Uuid(), '"c" CHAR(36)'),
    DdlCase("enum", sa.Enum("a", "b'c", name="e"), '"c" VARCHAR(3)'),
    DdlCase("unknown", sa.types.NullType(), '"c" BLOB'),  # no affinity: values keep their storage class
    DdlCase("not_null_default", sa.Integer(), '"c" INTEGER DEFAULT 7 NOT NULL',
            options={"nullable": False, "server_default": sa.text("7")}),
    DdlCase("text_default", sa.String(10), "\"c\" VARCHAR(10) DEFAULT 'n/a'",
            options={"server_default": sa.text("'n/a'")}),
    DdlCase("bool_default", sa.Boolean(), '"c" BOOLEAN DEFAULT 1', options={"server_default": sa.text("1")}),
    DdlCase("now_default", sa.DateTime(), '"c" DATETIME DEFAULT CURRENT_TIMESTAMP',
            options={"server_default": sa.text("CURRENT_TIMESTAMP")}),
    DdlCase("mysql_unsigned_bigint", mysql.BIGINT(unsigned=True), '"c" TEXT', "mysql"),  # above 2**63
    DdlCase("mysql_set", mysql.SET("x", "y"), '"c" TEXT', "mysql"),
    DdlCase("mysql_enum", mysql.ENUM("ok", "it's"), '"c" VARCHAR(4)', "mysql"),
    DdlCase("mysql_time", mysql.TIME(fsp=6), '"c" TEXT', "mysql"),
    DdlCase("mysql_float", mysql.FLOAT(), '"c" REAL', "mysql"),
    DdlCase("pg_array", postgresql.ARRAY(sa.Integer()), '"c" JSON', "postgresql"),
    DdlCase("pg_uuid", postgresql.UUID(), '"c" CHAR(36)', "postgresql"),
    DdlCase("pg_interval", postgresql.INTERVAL(), '"c" TEXT', "postgresql"),
    DdlCase("pg_money", postgresql.MONEY(), '"c" TEXT', "postgresql"),
    DdlCase("pg_enum", postgresql.ENUM("a", "b", name="mood"), '"c" VARCHAR(1)', "postgresql"),
    DdlCase("pg_cast_default", sa.String(10), "\"c\" VARCHAR(10) DEFAULT 'x'", "postgresql",
            {"server_default": sa.text("'x'::character varying")}),
]

# Foreign keys inside CREATE TABLE: SQLite cannot add one later.
PARENT_CHILD_DDL = [
    'DROP TABLE IF EXISTS "parent"',
    'CREATE TABLE "parent" ( "id" INTEGER NOT NULL, "code" VARCHAR(20) NOT NULL, "name" TEXT, PRIMARY KEY ("id"), '
    'UNIQUE ("code") )',
    'CREATE INDEX "parent_name_idx" ON "parent" ("name")',
    'DROP TABLE IF EXISTS "child"',
    'CREATE TABLE "child" ( "id" INTEGER NOT NULL, "parent_id" INTEGER NOT NULL, "tag" VARCHAR(10), '
    'PRIMARY KEY ("id"), CONSTRAINT "child_parent_id_tag_key" UNIQUE ("parent_id", "tag"), '
    'CONSTRAINT "child_parent_id_fkey" FOREIGN KEY("parent_id") REFERENCES "parent" ("id") ON DELETE CASCADE )',
]

SCRIPT_FRAME = "PRAGMA foreign_keys=OFF;\nBEGIN;\n\nCOMMIT;\n-- end of hfit package\n"


@pytest.mark.parametrize("family", sorted(by_family(LITERALS)))
def test_literals_load_into_sqlite_and_read_back_equal(family: str, tmp_path: Path) -> None:
    cases = by_family(LITERALS)[family]
    path = tmp_path / "target.db"
    result = subprocess.run(["sqlite3", "-bail", str(path)], input=round_trip_script(DIALECT, cases),
                            capture_output=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    with sqlite3.connect(path) as conn:
        values, nulls = conn.execute("SELECT * FROM cases ORDER BY id").fetchall()
    assert values[0] == 1 and read_back_mismatches(cases, values[1:]) == {}
    assert nulls == (2,) + (None,) * len(cases)
