"""What an SQL column type can hold, as far as masking cares: the kind every rule and operator is checked against."""

from __future__ import annotations

import re
from enum import StrEnum


class ColumnKind(StrEnum):
    """What an SQL type can hold, as far as masking cares."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    TEMPORAL = "temporal"
    BINARY = "binary"
    UUID = "uuid"
    ENUM = "enum"


_KIND_PATTERNS: list[tuple[re.Pattern[str], ColumnKind]] = [
    (re.compile(r"^(TINYINT\s*\(\s*1\s*\)|BOOL|BOOLEAN|BIT)\b"), ColumnKind.BOOLEAN),
    (re.compile(r"^(TINYINT|SMALLINT|MEDIUMINT|INT|INTEGER|BIGINT|SERIAL|BIGSERIAL|SMALLSERIAL|INT\d)\b"),
     ColumnKind.INTEGER),
    # a whole-number decimal (scale 0: NUMERIC(9,0), DECIMAL(9)) holds what a BIGINT does: ids, SSNs, phones
    (re.compile(r"^(NUMERIC|DECIMAL|DEC|FIXED|NUMBER)\s*\(\s*\d+\s*(,\s*0\s*)?\)"), ColumnKind.INTEGER),
    (re.compile(r"^(NUMERIC|DECIMAL|DEC|FLOAT|DOUBLE|REAL|MONEY|FIXED|NUMBER)\b"), ColumnKind.DECIMAL),
    (re.compile(r"^(DATE|DATETIME|TIMESTAMP|TIMESTAMPTZ|TIME|TIMETZ|YEAR|INTERVAL)\b"), ColumnKind.TEMPORAL),
    (re.compile(r"^(BLOB|TINYBLOB|MEDIUMBLOB|LONGBLOB|BINARY|VARBINARY|BYTEA|RAW|IMAGE)\b"),
     ColumnKind.BINARY),
    (re.compile(r"^(UUID|UNIQUEIDENTIFIER)\b"), ColumnKind.UUID),
    (re.compile(r"^(ENUM|SET)\b"), ColumnKind.ENUM),
]  # fmt: skip


def column_kind(sql_type: str) -> ColumnKind:
    """Map an SQL type string to a kind; anything unrecognised is TEXT (so it gets looked at)."""
    t = sql_type.strip().upper()
    for pattern, kind in _KIND_PATTERNS:
        if pattern.match(t):
            return kind
    return ColumnKind.TEXT
