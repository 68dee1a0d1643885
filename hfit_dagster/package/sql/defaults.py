"""Server defaults carried from a source column into a target of another SQL family.

A default crosses families only when it is a plain literal (number, string, date, flag) or "now"; expressions,
sequences and functions stay behind, since their meaning differs between databases.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.base import SqlDialect

_CAST_SUFFIX = re.compile(r"(::[A-Za-z_][\w ]*(\(\d+(\s*,\s*\d+)?\))?(\[\])?)+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_STRING = re.compile(r"^'((?:[^']|'')*)'$", re.DOTALL)
_NOW = re.compile(r"^(current_timestamp|now|localtimestamp|statement_timestamp|transaction_timestamp)"
                  r"\s*(\(\s*\d*\s*\))?$", re.IGNORECASE)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
_TIME_TEXT = re.compile(r"^-?\d{2,3}:\d{2}:\d{2}(\.\d{1,6})?$")


def _strip_default(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _CAST_SUFFIX.sub("", text).strip()
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    in_string = False
    for ch in text:
        if ch == "'":
            in_string = not in_string
        elif not in_string:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                return False
    return depth == 0 and not in_string


def portable_default(text: str, info: ct.TypeInfo, target: TypeEngine, dialect: SqlDialect) -> Any:
    """A source default carried across SQL families when it is a plain literal or "now"; else None."""
    value = _strip_default(text)
    kind = info.kind
    lowered = value.lower()
    if lowered == "null" or not value:
        return None
    if not dialect.takes_literal_default(target, kind):
        return None
    if kind == ct.DATETIME and _NOW.match(value):
        return sa.literal_column(dialect.current_timestamp(target))
    string_match = _STRING.match(value)
    literal = string_match.group(1).replace("''", "'") if string_match else None
    number = value if _NUMBER.match(value) else (literal if literal and _NUMBER.match(literal) else None)
    if kind == ct.BOOL:
        truth = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False}
        flag = truth.get((literal if literal is not None else lowered).lower())
        if flag is None:
            return None
        return sa.literal_column(dialect.boolean_default(flag))
    if kind in (ct.INT, ct.YEAR, ct.DECIMAL, ct.FLOAT):
        if number is None or (kind in (ct.INT, ct.YEAR) and not re.match(r"^[+-]?\d+$", number)):
            return None
        return sa.literal_column(number)
    if kind in (ct.STRING, ct.ENUM, ct.SET, ct.UUID):
        if literal is None and number is None:
            return None
        result = literal if literal is not None else number
        if kind == ct.ENUM and result not in info.values:
            return None
        return result
    if literal is not None and (
        (kind == ct.DATE and _DATE_TEXT.match(literal) and _valid_date(literal))
        or (kind == ct.DATETIME and _DATETIME_TEXT.match(literal) and _valid_date(literal))
        or (kind == ct.TIME and _TIME_TEXT.match(literal))
    ):
        return literal
    return None


def _valid_date(text: str) -> bool:
    """Whether a date (or the date of a datetime) exists: MySQL's zero and invalid dates ('0000-00-00',
    '2024-02-30') are no default anywhere else."""
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True
