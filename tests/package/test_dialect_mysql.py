"""MySQL/MariaDB target, case by case: the expected literal of each value, DDL of each column, load frame and a
whole table's DDL (checked in test_dialect_tables.py), and every case loaded into MariaDB with the ``mariadb``
client and read back equal."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from tests.conftest import MARIADB
from tests.package.dialect_cases import (
    DdlCase,
    LiteralCase,
    by_family,
    read_back_mismatches,
    round_trip_script,
)

DIALECT = "mysql"
UUID = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")

LITERALS = [
    LiteralCase("int", sa.Integer(), pa.int32(), -42, "-42"),
    LiteralCase("bigint_min", sa.BigInteger(), pa.int64(), -(2**63), "-9223372036854775808"),
    LiteralCase("bool", sa.Boolean(), pa.bool_(), True, "1", read=1),
    LiteralCase("bool_from_int", sa.Boolean(), pa.int8(), 0, "0"),
    LiteralCase("decimal", sa.Numeric(12, 2), pa.decimal128(12, 2), Decimal("-1234.50"), "-1234.50"),
    LiteralCase("decimal_wide", sa.Numeric(30, 10), pa.decimal128(30, 10),
                Decimal("12345678901234567890.0123456789"), "12345678901234567890.0123456789"),
    LiteralCase("float", sa.Float(), pa.float64(), 0.1, "0.1"),
    LiteralCase("float_negative_zero", sa.Float(), pa.float64(), -0.0, "-0"),
    LiteralCase("float_infinity", sa.Float(), pa.float64(), float("inf"), "NULL", read=None),  # no infinity
    LiteralCase("float_nan", sa.Float(), pa.float64(), float("nan"), "NULL", read=None),
    LiteralCase("date", sa.Date(), pa.date32(), date(1999, 12, 31), "'1999-12-31'"),
    LiteralCase("datetime", sa.DateTime(), pa.timestamp("us"), datetime(2024, 2, 29, 23, 59, 59, 999999),
                "'2024-02-29 23:59:59.999999'"),
    LiteralCase("datetime_zone", sa.DateTime(timezone=True), pa.timestamp("us", tz="Europe/Paris"),
                datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "'2024-01-01 12:00:00.000000'",
                read=datetime(2024, 1, 1, 12, 0)),  # UTC wall-clock time
    LiteralCase("timestamp_into_date", sa.Date(), pa.timestamp("us"), datetime(2024, 5, 6, 7, 8, 9), "'2024-05-06'",
                read=date(2024, 5, 6)),
    LiteralCase("time", sa.Time(), pa.time64("us"), time(13, 14, 15, 16), "'13:14:15.000016'",
                read=timedelta(hours=13, minutes=14, seconds=15, microseconds=16)),
    LiteralCase("interval", sa.Interval(), pa.duration("us"), timedelta(hours=-26, microseconds=-5),
                "'-26:00:00.000005'"),
    LiteralCase("text_quote_backslash", sa.Text(), pa.string(), "it's a \\ test", "'it\\'s a \\\\ test'"),
    LiteralCase("text_line_breaks", sa.Text(), pa.string(), "a\nb\r", "'a\\nb\\r'"),
    LiteralCase("text_nul", sa.Text(), pa.string(), "nul\x00byte", "'nul\\0byte'"),
    LiteralCase("text_ctrl_z", sa.Text(), pa.string(), "z\x1a", "'z\\Z'"),
    LiteralCase("text_4_byte_utf8", sa.String(20), pa.string(), "😀 中文", "'😀 中文'"),
    LiteralCase("text_dictionary", sa.String(20), pa.dictionary(pa.int8(), pa.string()), "it's", "'it\\'s'",
                read="it's"),
    LiteralCase("bytes", sa.LargeBinary(), pa.binary(), b"\x00'\\\n", "X'00275c0a'"),
    LiteralCase("bytes_empty", sa.LargeBinary(), pa.binary(), b"", "''"),
    LiteralCase("text_into_bytes", sa.LargeBinary(), pa.string(), "abc", "'abc'", read=b"abc"),
    LiteralCase("list_as_json", sa.JSON(), pa.list_(pa.int64()), [1, 2, None], "'[1, 2, null]'",
                read="[1, 2, null]"),
    LiteralCase("struct_as_json", sa.JSON(), pa.struct([("a", pa.string())]), {"a": "é"}, "'{\"a\": \"é\"}'",
                read='{"a": "é"}'),
    LiteralCase("uuid_text", sa.Uuid(), pa.string(), str(UUID), f"'{UUID}'"),
    # same family: MySQL types kept exactly
    LiteralCase("unsigned_int", mysql.INTEGER(unsigned=True), pa.int64(), 4294967295, "4294967295", family="mysql"),
    LiteralCase("unsigned_bigint_max", mysql.BIGINT(unsigned=True), pa.uint64(), 2**64 - 1,
                "18446744073709551615", family="mysql"),
    LiteralCase("year", mysql.YEAR(), pa.int16(), 2155, "2155", family="mysql"),
    LiteralCase("bit", mysql.BIT(8), pa.binary(), b"\xa5", "X'a5'", family="mysql"),
    LiteralCase("enum", mysql.ENUM("ok", "it's"), pa.string(), "it's", "'it\\'s'", family="mysql"),
    LiteralCase("set_as_text", mysql.SET("x", "y", "z"), pa.string(), "x,z", "'x,z'", family="mysql"),
    LiteralCase("set_as_list", mysql.SET("x", "y", "z"), pa.list_(pa.string()), ["x", "z"], "'x,z'",
                read="x,z", family="mysql"),
    LiteralCase("time_interval", mysql.TIME(fsp=6), pa.duration("us"),
                -timedelta(hours=838, minutes=59, seconds=59), "'-838:59:59.000000'", family="mysql"),
    LiteralCase("json_text", mysql.JSON(), pa.string(), '{"k": [1, 2.5]}', "'{\"k\": [1, 2.5]}'", family="mysql"),
]

COLUMNS = [
    DdlCase("int", sa.Integer(), "`c` BIGINT"),  # SQLite (generic) integers hold 64 bits
    DdlCase("mysql_int", mysql.INTEGER(), "`c` INTEGER", "mysql"),
    DdlCase("bigint", sa.BigInteger(), "`c` BIGINT"),
    DdlCase("smallint", sa.SmallInteger(), "`c` BIGINT"),
    DdlCase("pg_smallint", postgresql.SMALLINT(), "`c` SMALLINT", "postgresql"),
    DdlCase("bool", sa.Boolean(), "`c` TINYINT(1)"),
    DdlCase("numeric", sa.Numeric(12, 2), "`c` DECIMAL(12, 2)"),
    DdlCase("numeric_unbounded", sa.Numeric(), "`c` LONGTEXT"),  # its text: every digit, and NaN
    DdlCase("numeric_wide", sa.Numeric(65, 30), "`c` DECIMAL(65, 30)"),
    DdlCase("numeric_too_many_decimals", sa.Numeric(60, 40), "`c` LONGTEXT"),
    DdlCase("float", sa.Float(), "`c` DOUBLE"),  # SQLite stores every float in 8 bytes
    DdlCase("date", sa.Date(), "`c` DATE"),
    DdlCase("datetime", sa.DateTime(), "`c` DATETIME(6)"),
    DdlCase("datetime_zone", sa.DateTime(timezone=True), "`c` DATETIME(6)"),
    DdlCase("time", sa.Time(), "`c` TIME(6)"),
    DdlCase("interval", sa.Interval(), "`c` TIME(6)"),
    DdlCase("varchar", sa.String(40), "`c` VARCHAR(40)"),
    DdlCase("varchar_unbounded", sa.String(), "`c` LONGTEXT"),
    DdlCase("char", sa.CHAR(3), "`c` CHAR(3)"),
    DdlCase("text", sa.Text(), "`c` LONGTEXT"),
    DdlCase("blob", sa.LargeBinary(), "`c` LONGBLOB"),
    DdlCase("varbinary", sa.VARBINARY(16), "`c` VARBINARY(16)"),
    DdlCase("json", sa.JSON(), "`c` JSON"),
    DdlCase("uuid", sa.Uuid(), "`c` CHAR(36)"),
    DdlCase("enum", sa.Enum("a", "b'c", name="e"), "`c` ENUM('a','b''c')"),
    DdlCase("unknown", sa.types.NullType(), "`c` LONGTEXT"),
    DdlCase("not_null_default", sa.Integer(), "`c` BIGINT NOT NULL DEFAULT 7",
            options={"nullable": False, "server_default": sa.text("7")}),
    DdlCase("text_default", sa.String(10), "`c` VARCHAR(10) DEFAULT 'n/a'",
            options={"server_default": sa.text("'n/a'")}),
    DdlCase("text_column_default", sa.Text(), "`c` LONGTEXT", options={"server_default": sa.text("'n/a'")}),
    DdlCase("bool_default", sa.Boolean(), "`c` TINYINT(1) DEFAULT 1", options={"server_default": sa.text("1")}),
    DdlCase("now_default", sa.DateTime(), "`c` DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6)",
            options={"server_default": sa.text("CURRENT_TIMESTAMP")}),
    DdlCase("unsigned", mysql.INTEGER(unsigned=True), "`c` INTEGER UNSIGNED", "mysql"),
    DdlCase("unsigned_bigint", mysql.BIGINT(unsigned=True), "`c` BIGINT UNSIGNED", "mysql"),
    DdlCase("tinyint_1", mysql.TINYINT(display_width=1), "`c` TINYINT(1)", "mysql"),
    DdlCase("set", mysql.SET("x", "y"), "`c` SET('x','y')", "mysql"),
    # '' is what a non-strict MySQL stores for an invalid value: an explicit label, so that a strict load takes it
    DdlCase("mysql_enum", mysql.ENUM("ok", "it's"), "`c` ENUM('ok','it''s','')", "mysql"),
    DdlCase("year", mysql.YEAR(), "`c` YEAR", "mysql"),
    DdlCase("bit", mysql.BIT(8), "`c` BIT(8)", "mysql"),
    DdlCase("time_6", mysql.TIME(fsp=6), "`c` TIME(6)", "mysql"),
    DdlCase("datetime_3", mysql.DATETIME(fsp=3), "`c` DATETIME(3)", "mysql"),
    DdlCase("mediumtext", mysql.MEDIUMTEXT(), "`c` MEDIUMTEXT", "mysql"),
    DdlCase("latin1_to_utf8mb4", mysql.VARCHAR(10, charset="latin1"), "`c` VARCHAR(10)", "mysql"),
    DdlCase("float_4_bytes", mysql.FLOAT(), "`c` FLOAT", "mysql"),
    DdlCase("comment_dropped", mysql.INTEGER(), "`c` INTEGER", "mysql", {"comment": "a 'note'"}),  # schema text
    DdlCase("pg_array", postgresql.ARRAY(sa.Integer()), "`c` JSON", "postgresql"),
    DdlCase("pg_uuid", postgresql.UUID(), "`c` CHAR(36)", "postgresql"),
    DdlCase("pg_jsonb", postgresql.JSONB(), "`c` JSON", "postgresql"),
    DdlCase("pg_inet", postgresql.INET(), "`c` VARCHAR(43)", "postgresql"),
    DdlCase("pg_interval", postgresql.INTERVAL(), "`c` VARCHAR(64)", "postgresql"),  # months, over 838 hours
    DdlCase("pg_timetz", postgresql.TIME(timezone=True), "`c` VARCHAR(64)", "postgresql"),  # with its offset
    DdlCase("pg_bit", postgresql.BIT(8), "`c` BIT(8)", "postgresql"),
    DdlCase("pg_varbit", postgresql.BIT(16, varying=True), "`c` VARCHAR(16)", "postgresql"),
    DdlCase("pg_timestamptz_3", postgresql.TIMESTAMP(timezone=True, precision=3), "`c` DATETIME(3)", "postgresql"),
    DdlCase("pg_real", postgresql.REAL(), "`c` FLOAT", "postgresql"),
    DdlCase("pg_money", postgresql.MONEY(), "`c` DECIMAL(19, 2)", "postgresql"),
    DdlCase("pg_bytea", postgresql.BYTEA(), "`c` LONGBLOB", "postgresql"),
    DdlCase("pg_cast_default", sa.String(10), "`c` VARCHAR(10) DEFAULT 'x'", "postgresql",
            {"server_default": sa.text("'x'::character varying")}),
]

# Keys compare exactly (utf8mb4_bin), a plain index on TEXT gets a prefix, the foreign key follows the indexes.
PARENT_CHILD_DDL = [
    "DROP TABLE IF EXISTS `parent`",
    "CREATE TABLE `parent` ( `id` BIGINT NOT NULL AUTO_INCREMENT, `code` VARCHAR(20) COLLATE utf8mb4_bin NOT NULL, "
    "`name` LONGTEXT, PRIMARY KEY (`id`), UNIQUE (`code`) )ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE INDEX `parent_name_idx` ON `parent` (`name`(255))",
    "DROP TABLE IF EXISTS `child`",
    "CREATE TABLE `child` ( `id` BIGINT NOT NULL AUTO_INCREMENT, `parent_id` BIGINT NOT NULL, "
    "`tag` VARCHAR(10) COLLATE utf8mb4_bin, PRIMARY KEY (`id`), "
    "CONSTRAINT `child_parent_id_tag_key` UNIQUE (`parent_id`, `tag`) )ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "ALTER TABLE `child` ADD CONSTRAINT `child_parent_id_fkey` FOREIGN KEY(`parent_id`) REFERENCES `parent` (`id`) "
    "ON DELETE CASCADE",
]

# Checks off and one transaction while loading; strict mode, so a value too long fails instead of being truncated.
SCRIPT_FRAME = (
    "SET NAMES utf8mb4;\nSET FOREIGN_KEY_CHECKS=0;\nSET UNIQUE_CHECKS=0;\n"
    "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES';\nSET time_zone='+00:00';\nSET autocommit=0;\n\n"
    "COMMIT;\nSET FOREIGN_KEY_CHECKS=1;\nSET UNIQUE_CHECKS=1;\n-- end of hfit package\n"
)


@pytest.mark.mariadb
@pytest.mark.parametrize("family", sorted(by_family(LITERALS)))
def test_literals_load_into_mariadb_and_read_back_equal(
    family: str, mariadb_database: Callable[[], str]
) -> None:
    cases = by_family(LITERALS)[family]
    database = mariadb_database()
    result = subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", database], input=round_trip_script(DIALECT, cases),
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    with pymysql.connect(**MARIADB, database=database, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SELECT * FROM cases ORDER BY id")
        values, nulls = cur.fetchall()
    assert values[0] == 1 and read_back_mismatches(cases, values[1:]) == {}
    assert nulls == (2,) + (None,) * len(cases)
