"""Database errors as messages a person can act on, without source data.

A driver error becomes a :class:`ProviderError` that names the provider, the export or table being read
(when known), the cause, the server's code and its own first line of message, and a hint chosen by the cause (the
server unreachable, an unknown database, a refused login, an unknown column or table, a value that does not
fit its type, ...). The server's message is cleaned: a quoted part stays only when it is made of names hfit
already shows (identifiers of the statement's own SQL text, the table and column names, the URL's database
and host); anything else quoted (a value from the data, ``'2024-02-30'``, ``"abc"``) becomes ``?``. Bound
parameters and the lines after the first (PostgreSQL's DETAIL with key values, the statement) never appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hfit_dagster.errors import ProviderError

_QUOTED = re.compile(r"(?<![A-Za-z])'((?:[^'\\]|\\.|'')*)'|\"((?:[^\"\\]|\\.|\"\")*)\"|`((?:[^`]|``)*)`")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# words of MySQL messages that name where a column was looked for ("Unknown column 'x' in 'field list'")
_MESSAGE_WORDS = frozenset({"field", "list", "where", "clause", "on", "order", "group", "statement", "having",
                            "from", "IN/ALL/ANY", "subquery"})
_UNQUOTED_VALUE = re.compile(r"(?<=: )(?=[^\s'\"`]*\d)[^\s,'\"`]+$")  # "...: 2024-02-30" at the end of a line
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class Cause:
    name: str
    hint: str


CONNECTION = Cause("cannot reach the server",
                   "check the provider's URL (HFIT_PROVIDER_<NAME>_URL): host and port, that the server runs and "
                   "accepts connections from this machine")
UNKNOWN_DATABASE = Cause("unknown database",
                         "the database named in the provider's URL does not exist on that server: check its name")
LOGIN = Cause("login refused",
              "check the user and password in the provider's URL; `hfit doctor` checks the source user")
UNKNOWN_COLUMN = Cause("unknown column",
                       "check the export's query against the table's columns (a misspelled, renamed or dropped "
                       "column)")
UNKNOWN_TABLE = Cause("unknown table",
                      "check the export's table names against the provider's database (or the template's schema)")
SYNTAX = Cause("syntax error", "the query is not valid SQL for this source's dialect: fix it in the template")
PRIVILEGE = Cause("permission denied", "grant the source user SELECT on the tables the template reads")
DATA = Cause("a value does not fit its type",
             "a value in the source does not fit the column's type as read: cast or filter the column in the "
             "template query")
TIMEOUT = Cause("timed out or cancelled", "the source was busy or the query too slow: retry, or narrow the query")
SERVER = Cause("the server refused the statement", "the server's message says why")

_MYSQL_CODES = {
    **dict.fromkeys((2002, 2003, 2005, 2006, 2013, 2055), CONNECTION),
    1049: UNKNOWN_DATABASE,
    **dict.fromkeys((1044, 1045, 1698), LOGIN),
    1054: UNKNOWN_COLUMN,
    **dict.fromkeys((1146, 1109), UNKNOWN_TABLE),
    1064: SYNTAX,
    **dict.fromkeys((1142, 1143, 1227), PRIVILEGE),
    **dict.fromkeys((1264, 1265, 1292, 1366, 1367, 1406, 1411, 3140), DATA),
    **dict.fromkeys((1205, 1317, 3024, 1969), TIMEOUT),
}
_POSTGRES_STATES = {"3D000": UNKNOWN_DATABASE, "28P01": LOGIN, "28000": LOGIN, "42703": UNKNOWN_COLUMN,
                    "42P01": UNKNOWN_TABLE, "42601": SYNTAX, "42501": PRIVILEGE, "57014": TIMEOUT,
                    "55P03": TIMEOUT, "40001": TIMEOUT}
_SQLITE_TEXT = (("no such column", UNKNOWN_COLUMN), ("no such table", UNKNOWN_TABLE),
                ("unable to open database", CONNECTION), ("syntax error", SYNTAX), ("database is locked", TIMEOUT))


def describe_db_error(provider: str, exc: BaseException, *, where: str | None = None,
                      names: Iterable[str] = ()) -> ProviderError:
    """A ProviderError for a driver failure (see the module docstring). ``where`` says what was being read
    (``export 'orders'``); ``names`` are further names that may be shown (table, columns, database, host)."""
    orig = getattr(exc, "orig", None) or exc
    code, cause = _code_and_cause(orig)
    allowed = _names(getattr(exc, "statement", None) or "", names)
    message = clean_message(_server_message(orig), allowed)
    place = f" reading {where}" if where else ""
    coded = f" (code {code})" if code else ""
    text = f"provider {provider!r}: database error{place}: {cause.name}{coded}"
    return ProviderError(f"{text}: {message}" if message else text, hint=cause.hint)


def _code_and_cause(orig: BaseException) -> tuple[str, Cause]:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (code, message)
        return str(args[0]), _MYSQL_CODES.get(args[0], DATA if 1264 <= args[0] <= 1406 else SERVER)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:  # psycopg
        cause = _POSTGRES_STATES.get(sqlstate)
        if cause is None:
            cause = (CONNECTION if sqlstate.startswith("08") else DATA if sqlstate.startswith("22")
                     else PRIVILEGE if sqlstate.startswith("42501") else SERVER)
        return sqlstate, cause
    name = type(orig).__name__
    text = str(orig).lower()
    error_name = getattr(orig, "sqlite_errorname", None)
    for fragment, cause in _SQLITE_TEXT:
        if fragment in text:
            return error_name or "", cause
    if name == "OperationalError" and ("connect" in text or "timeout expired" in text):
        # libpq before a session exists: no SQLSTATE, the cause is in the text
        if "database" in text and "does not exist" in text:
            return "", UNKNOWN_DATABASE
        if "authentication failed" in text or "no password supplied" in text:
            return "", LOGIN
        return "", CONNECTION
    return error_name or "", DATA if name == "DataError" else SERVER


def _server_message(orig: BaseException) -> str:
    args = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        text = str(args[1])
    else:
        diag = getattr(orig, "diag", None)
        text = getattr(diag, "message_primary", None) or str(orig)
    return text.strip().splitlines()[0] if text.strip() else ""


def _names(statement: str, names: Iterable[str]) -> frozenset[str]:
    words = set(_IDENTIFIER.findall(statement))
    for name in names:
        if name:
            words.add(str(name))
    return frozenset(words) | _MESSAGE_WORDS


def clean_message(message: str, allowed: frozenset[str]) -> str:
    """``message`` with every quoted part that is not made of ``allowed`` names replaced by ``?``."""

    def keep_or_hide(match: re.Match[str]) -> str:
        content = next(g for g in match.groups() if g is not None)
        parts = [p for p in re.split(r"[.\s]+", content) if p]
        if parts and all(p in allowed for p in parts):
            return match.group(0)
        quote = match.group(0)[0]
        return f"{quote}?{quote}"

    cleaned = _QUOTED.sub(keep_or_hide, message)
    cleaned = _UNQUOTED_VALUE.sub("?", cleaned)
    return cleaned[:_MAX_MESSAGE]
