"""PostgreSQL target, case by case: the expected literal of each value, DDL of each column, load frame and a whole
table's DDL (checked in test_dialect_tables.py), and every case loaded into PostgreSQL with ``psql`` and read
back equal."""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import psycopg
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

DIALECT = "postgresql"
UUID = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")

LITERALS = [
    LiteralCase("int", sa.Integer(), pa.int32(), -42, "-42"),
    LiteralCase("bigint_min", sa.BigInteger(), pa.int64(), -(2**63), "-9223372036854775808"),
    LiteralCase("bool", sa.Boolean(), pa.bool_(), True, "TRUE"),
    LiteralCase("bool_from_int", sa.Boolean(), pa.int8(), 5, "TRUE", read=True),
    LiteralCase("decimal", sa.Numeric(12, 2), pa.decimal128(12, 2), Decimal("-1234.50"), "-1234.50"),
    LiteralCase("decimal_wide", sa.Numeric(30, 10), pa.decimal128(30, 10),
                Decimal("12345678901234567890.0123456789"), "12345678901234567890.0123456789"),
    LiteralCase("float", sa.Float(), pa.float64(), 0.1, "0.1"),
    LiteralCase("float_negative_zero", sa.Float(), pa.float64(), -0.0, "'-0'"),  # a bare -0 is integer zero
    LiteralCase("float_infinity", sa.Float(), pa.float64(), float("-inf"), "'-Infinity'"),
    LiteralCase("float_nan", sa.Float(), pa.float64(), float("nan"), "'NaN'"),
    LiteralCase("date", sa.Date(), pa.date32(), date(1999, 12, 31), "'1999-12-31'"),
    LiteralCase("datetime", sa.DateTime(), pa.timestamp("us"), datetime(2024, 2, 29, 23, 59, 59, 999999),
                "'2024-02-29 23:59:59.999999'"),
    LiteralCase("datetime_zone", sa.DateTime(timezone=True), pa.timestamp("us", tz="Europe/Paris"),
                datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "'2024-01-01 12:00:00.000000+00'"),
    LiteralCase("timestamp_into_date", sa.Date(), pa.timestamp("us"), datetime(2024, 5, 6, 7, 8, 9), "'2024-05-06'",
                read=date(2024, 5, 6)),
    LiteralCase("time", sa.Time(), pa.time64("us"), time(13, 14, 15, 16), "'13:14:15.000016'"),
    LiteralCase("interval", sa.Interval(), pa.duration("us"), timedelta(hours=-26, microseconds=-5),
                "'-26:00:00.000005'"),
    LiteralCase("text_quote_backslash", sa.Text(), pa.string(), "it's a \\ test", "E'it\\'s a \\\\ test'"),
    LiteralCase("text_line_breaks", sa.Text(), pa.string(), "a\nb\r", "E'a\\nb\\r'"),
    LiteralCase("text_nul_removed", sa.Text(), pa.string(), "nul\x00byte", "E'nulbyte'", read="nulbyte"),
    LiteralCase("text_ctrl_z", sa.Text(), pa.string(), "z\x1a", "E'z\x1a'"),
    LiteralCase("text_4_byte_utf8", sa.String(20), pa.string(), "😀 中文", "E'😀 中文'"),
    LiteralCase("text_large_string", sa.Text(), pa.large_string(), "x'y", "E'x\\'y'"),
    LiteralCase("text_from_bytes", sa.Text(), pa.binary(), "café".encode(), "E'café'", read="café"),
    LiteralCase("bytes", sa.LargeBinary(), pa.binary(), b"\x00'\\\n", "'\\x00275c0a'"),
    LiteralCase("bytes_empty", sa.LargeBinary(), pa.binary(), b"", "'\\x'"),
    LiteralCase("text_into_bytes", sa.LargeBinary(), pa.string(), "abc", "'\\x616263'", read=b"abc"),
    LiteralCase("list_as_json", sa.JSON(), pa.list_(pa.int64()), [1, 2, None], "E'[1, 2, null]'"),
    LiteralCase("struct_as_json", sa.JSON(), pa.struct([("a", pa.string())]), {"a": "é"}, "E'{\"a\": \"é\"}'"),
    LiteralCase("uuid_text", sa.Uuid(), pa.string(), str(UUID), f"E'{UUID}'", read=UUID),
    LiteralCase("uuid_bytes", sa.Uuid(), pa.binary(16), UUID.bytes, f"E'{UUID}'", read=UUID),
    # same family: PostgreSQL types kept exactly
    LiteralCase("array", postgresql.ARRAY(sa.Integer()), pa.list_(pa.int64()), [1, 2, None], "E'{1,2,NULL}'",
                family="postgresql"),
    LiteralCase("array_of_text", postgresql.ARRAY(sa.Text()), pa.list_(pa.string()), ['a"b', "c\\d", None],
                "E'{\"a\\\\\"b\",\"c\\\\\\\\d\",NULL}'", family="postgresql"),
    LiteralCase("uuid", postgresql.UUID(), pa.uuid(), UUID.bytes, f"E'{UUID}'", read=UUID, family="postgresql"),
    LiteralCase("enum", postgresql.ENUM("ok", "it's", name="mood"), pa.string(), "it's", "E'it\\'s'",
                family="postgresql"),
    LiteralCase("jsonb", postgresql.JSONB(), pa.struct([("a", pa.string())]), {"a": "é"}, "E'{\"a\": \"é\"}'",
                family="postgresql"),
    LiteralCase("interval_days", postgresql.INTERVAL(), pa.duration("us"), timedelta(days=1, microseconds=5),
                "'24:00:00.000005'", family="postgresql"),
    LiteralCase("inet", postgresql.INET(), pa.string(), "192.168.0.1/24", "E'192.168.0.1/24'",
                read=ipaddress.ip_interface("192.168.0.1/24"), family="postgresql"),
    LiteralCase("timestamptz", postgresql.TIMESTAMP(timezone=True), pa.timestamp("us", tz="UTC"),
                datetime(1970, 1, 1, tzinfo=UTC), "'1970-01-01 00:00:00.000000+00'", family="postgresql"),
    # from MySQL: types PostgreSQL lacks
    LiteralCase("unsigned_bigint_max", mysql.BIGINT(unsigned=True), pa.uint64(), 2**64 - 1, "18446744073709551615",
                read=Decimal(2**64 - 1), family="mysql"),
    LiteralCase("bit_string", mysql.BIT(8), pa.binary(), b"\xa5", "B'10100101'", read="10100101", family="mysql"),
    LiteralCase("bit_64", mysql.BIT(64), pa.binary(), b"\xff" * 8, "B'" + "1" * 64 + "'", read="1" * 64,
                family="mysql"),
    LiteralCase("bit_padded", mysql.BIT(8), pa.binary(), b"\x01", "B'00000001'", read="00000001", family="mysql"),
    LiteralCase("year", mysql.YEAR(), pa.int16(), 2155, "2155", family="mysql"),
    LiteralCase("set_as_text", mysql.SET("x", "y", "z"), pa.string(), "x,z", "E'x,z'", family="mysql"),
    LiteralCase("time_as_interval", mysql.TIME(fsp=6), pa.duration("us"), -timedelta(hours=838),
                "'-838:00:00.000000'", family="mysql"),
]

COLUMNS = [
    DdlCase("int", sa.Integer(), '"c" BIGINT'),  # SQLite (generic) integers hold 64 bits
    DdlCase("pg_int", postgresql.INTEGER(), '"c" INTEGER', "postgresql"),
    DdlCase("bigint", sa.BigInteger(), '"c" BIGINT'),
    DdlCase("smallint", sa.SmallInteger(), '"c" BIGINT'),
    DdlCase("mysql_smallint", mysql.SMALLINT(), '"c" SMALLINT', "mysql"),
    DdlCase("bool", sa.Boolean(), '"c" BOOLEAN'),
    DdlCase("numeric", sa.Numeric(12, 2), '"c" NUMERIC(12, 2)'),
    DdlCase("numeric_unbounded", sa.Numeric(), '"c" NUMERIC'),
    DdlCase("float", sa.Float(), '"c" DOUBLE PRECISION'),  # SQLite stores every float in 8 bytes
    DdlCase("date", sa.Date(), '"c" DATE'),
    DdlCase("datetime", sa.DateTime(), '"c" TIMESTAMP WITHOUT TIME ZONE'),
    DdlCase("datetime_zone", sa.DateTime(timezone=True), '"c" TIMESTAMP WITH TIME ZONE'),
    DdlCase("time", sa.Time(), '"c" TIME WITHOUT TIME ZONE'),
    DdlCase("interval", sa.Interval(), '"c" INTERVAL'),
    DdlCase("varchar", sa.String(40), '"c" VARCHAR(40)'),
    DdlCase("varchar_unbounded", sa.String(), '"c" TEXT'),
    DdlCase("char", sa.CHAR(3), '"c" CHAR(3)'),
    DdlCase("text", sa.Text(), '"c" TEXT'),
    DdlCase("blob", sa.LargeBinary(), '"c" BYTEA'),
    DdlCase("json", sa.JSON(), '"c" JSONB'),
    DdlCase("uuid", sa.Uuid(), '"c" UUID'),
    DdlCase("enum", sa.Enum("a", "b'c", name="e"), '"c" VARCHAR(3)'),
    DdlCase("unknown", sa.types.NullType(), '"c" TEXT'),
    DdlCase("not_null_default", sa.Integer(), '"c" BIGINT DEFAULT 7 NOT NULL',
            options={"nullable": False, "server_default": sa.text("7")}),
    DdlCase("bool_default", sa.Boolean(), '"c" BOOLEAN DEFAULT true', options={"server_default": sa.text("1")}),
    DdlCase("now_default", sa.DateTime(), '"c" TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP',
            options={"server_default": sa.text("CURRENT_TIMESTAMP")}),
    DdlCase("array", postgresql.ARRAY(sa.Integer()), '"c" INTEGER[]', "postgresql"),
    DdlCase("pg_uuid", postgresql.UUID(), '"c" UUID', "postgresql"),
    DdlCase("jsonb", postgresql.JSONB(), '"c" JSONB', "postgresql"),
    DdlCase("inet", postgresql.INET(), '"c" INET', "postgresql"),
    DdlCase("timestamptz_3", postgresql.TIMESTAMP(timezone=True, precision=3), '"c" TIMESTAMP(3) WITH TIME ZONE',
            "postgresql"),
    DdlCase("real", postgresql.REAL(), '"c" REAL', "postgresql"),
    DdlCase("money", postgresql.MONEY(), '"c" MONEY', "postgresql"),
    DdlCase("named_enum", postgresql.ENUM("a", "b", name="mood"), '"c" "mood"', "postgresql"),
    DdlCase("cast_default", sa.String(10), "\"c\" VARCHAR(10) DEFAULT 'x'::character varying", "postgresql",
            {"server_default": sa.text("'x'::character varying")}),
    DdlCase("mysql_unsigned", mysql.INTEGER(unsigned=True), '"c" BIGINT', "mysql"),
    DdlCase("mysql_unsigned_bigint", mysql.BIGINT(unsigned=True), '"c" NUMERIC(20, 0)', "mysql"),
    DdlCase("mysql_tinyint_1", mysql.TINYINT(display_width=1), '"c" SMALLINT', "mysql"),
    DdlCase("mysql_set", mysql.SET("x", "y"), '"c" TEXT', "mysql"),
    DdlCase("mysql_enum", mysql.ENUM("ok", "it's"), '"c" VARCHAR(4)', "mysql"),
    DdlCase("mysql_year", mysql.YEAR(), '"c" SMALLINT', "mysql"),
    DdlCase("mysql_bit", mysql.BIT(8), '"c" BIT(8)', "mysql"),  # BIT(64) overflows a BIGINT
    DdlCase("mysql_time", mysql.TIME(fsp=6), '"c" INTERVAL', "mysql"),
    DdlCase("mysql_datetime_3", mysql.DATETIME(fsp=3), '"c" TIMESTAMP(3) WITHOUT TIME ZONE', "mysql"),
    DdlCase("mysql_float", mysql.FLOAT(), '"c" REAL', "mysql"),
    DdlCase("mysql_comment_dropped", sa.Integer(), '"c" INTEGER', "mysql", {"comment": "a note"}),
]

# Foreign keys after all the data (cycles and self-references load), then SERIAL sequences continue.
PARENT_CHILD_DDL = [
    'DROP TABLE IF EXISTS "parent" CASCADE',
    'CREATE TABLE "parent" ( "id" BIGSERIAL NOT NULL, "code" VARCHAR(20) NOT NULL, "name" TEXT, PRIMARY KEY ("id"), '
    'UNIQUE ("code") )',
    'CREATE INDEX "parent_name_idx" ON "parent" ("name")',
    'DROP TABLE IF EXISTS "child" CASCADE',
    'CREATE TABLE "child" ( "id" BIGSERIAL NOT NULL, "parent_id" BIGINT NOT NULL, "tag" VARCHAR(10), '
    'PRIMARY KEY ("id"), CONSTRAINT "child_parent_id_tag_key" UNIQUE ("parent_id", "tag") )',
    "SELECT setval(pg_get_serial_sequence('\"parent\"', 'id'), coalesce(max(\"parent\".\"id\"), 1), "
    'max("parent"."id") IS NOT NULL) AS setval_1 FROM "parent"',
    'ALTER TABLE "child" ADD CONSTRAINT "child_parent_id_fkey" FOREIGN KEY("parent_id") REFERENCES "parent" ("id") '
    "ON DELETE CASCADE",
    "SELECT setval(pg_get_serial_sequence('\"child\"', 'id'), coalesce(max(\"child\".\"id\"), 1), "
    'max("child"."id") IS NOT NULL) AS setval_1 FROM "child"',
]

SCRIPT_FRAME = (
    "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSET TIME ZONE 'UTC';\n"
    "SET client_min_messages = warning;\nBEGIN;\n\nCOMMIT;\n-- end of hfit package\n"
)


@pytest.mark.postgres
@pytest.mark.parametrize("family", sorted(by_family(LITERALS)))
def test_literals_load_into_postgresql_and_read_back_equal(
    family: str, postgres_database: Callable[[], str]
) -> None:
    cases = by_family(LITERALS)[family]
    database = postgres_database()
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                             "-q"], input=round_trip_script(DIALECT, cases), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        values, nulls = conn.execute("SELECT * FROM cases ORDER BY id").fetchall()
    assert values[0] == 1 and read_back_mismatches(cases, values[1:]) == {}
    assert nulls == (2,) + (None,) * len(cases)
