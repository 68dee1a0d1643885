"""Database errors as messages a person can act on, without source data.

A driver error becomes a :class:`ProviderError` that names the provider, the export or table being read
(when known), the cause, the server's code and its message, and a hint chosen by the cause (the server
unreachable, an unknown database, a refused login, an unknown column or table, a value that does not fit its
type, ...). The server's message never carries a value, however the value is quoted:

- a message that carries values has a known shape (``invalid input syntax for type integer: "<value>"``,
  ``Incorrect integer value: '<value>' for column `db`.`t`.`c` at row 1``, ...), matched over the whole
  message with the value as whatever lies between the shape's fixed words, so quotes, backslashes or newlines
  inside the value do not move its end; the value is shown as ``?``, names as they are when hfit may show them
  (identifiers of the statement's SQL outside its literals, the table and column names, the URL's database and
  host; where only a name of the SQL can stand, ``relation "x" does not exist``, only those);
- any other message keeps its first line word by word: the words of server messages, names hfit may show,
  numbers of up to three digits and punctuation; every other word, quote mark or quoted part becomes ``?``.

Bound parameters and PostgreSQL's DETAIL, HINT and CONTEXT (key values, the statement) never appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hfit_dagster.errors import ProviderError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# SQL text that is not a name: string literals (both escape conventions), dollar quotes, comments
_SQL_LITERALS = (re.compile(r"'(?:[^']|'')*'|\$([A-Za-z_]*)\$.*?\$\1\$|--[^\n]*|/\*.*?\*/", re.DOTALL),
                 re.compile(r"'(?:[^'\\]|\\.|'')*'|\$([A-Za-z_]*)\$.*?\$\1\$|--[^\n]*|/\*.*?\*/", re.DOTALL))
# the prefix ADBC's libpq driver puts before the server's message
_DRIVER_PREFIX = re.compile(r"^[A-Z_]+: \[libpq\] (?:[^\n]*?(?:ERROR|FATAL):\s+)?")

# Server messages that carry a value, as whole-message patterns (matched over every line of the message, so a
# value may hold any quote, backslash or newline: the pattern's fixed words around it decide where it is).
# Groups: ``v*`` a value (always shown as ``?``), ``n*`` names (shown when made of names hfit may show), ``s*``
# names of the statement's SQL (shown when made of them: a value cast to a name, ``'x'::regclass``, is not),
# ``t*`` a type, keyword or count of the server's own, limited to characters a value cannot hide in.
_SHAPES = tuple(re.compile(pattern, re.DOTALL) for pattern in (
    # PostgreSQL
    r"invalid input syntax for (?:type )?(?P<t>[\w ]+(?:\(\d+(?:, ?\d+)?\))?)(?:: (?P<v>.*))?",
    r"invalid input value for enum (?P<n>[\w.\"]+): (?P<v>.*)",
    r"value (?P<v>.*) is out of range for type (?P<t>[\w ]+)",
    r"(?P<v>\".*\") is out of range for type (?P<t>[\w ]+)",
    r"(?P<t>date/time field value|interval field value|timestamp|date|time) out of range: (?P<v>.*)",
    r"malformed (?P<t>[\w ]+) literal: (?P<v>.*)",
    r"invalid value (?P<v>.*) for (?P<t>\"[A-Za-z0-9 ]{1,12}\")",
    r"invalid (?P<t>hexadecimal digit|hexadecimal data|escape sequence|base64 end sequence|symbol): (?P<v>.*)",
    r"(?P<v>\".*\") is not a valid (?P<t>[\w ]+ digit)",
    r"(?P<t>time zone|unit|time zone abbreviation) (?P<v>.*) not recognized(?P<t2> for type [\w ]+)?",
    r"invalid byte sequence for encoding (?P<t>\"[\w-]+\"): (?P<v>.*)",
    r"character with byte sequence (?P<v>.*) in encoding (?P<t>\"[\w-]+\") has no equivalent in encoding "
    r"(?P<t2>\"[\w-]+\")",
    r"syntax error at or near (?P<v>.*) of jsonpath input",
    r"unrecognized format\(\) type specifier (?P<v>.*)",
    r"column (?P<n>\"[^\"]*\") of relation (?P<n2>\"[^\"]*\") does not exist",
    r"(?P<t>database|role) (?P<n>\"[^\"]*\") does not exist",
    r"(?P<t>relation|column|table|schema|type|function|operator|sequence|index|view) (?P<s>\".*\") does not exist",
    # MySQL / MariaDB
    r"Incorrect (?P<t>[\w ]+) value: (?P<v>'.*') for column (?P<n>.+) at row (?P<t2>\d+)",
    r"Incorrect (?P<t>[\w ]+) value: (?P<v>.*)",
    r"Truncated incorrect (?P<t>[\w ]+) value: (?P<v>.*)",
    r"(?P<t>Data truncated|Out of range value|Data too long) for column (?P<n>.+) at row (?P<t2>\d+)",
    r"XPATH syntax error: (?P<v>.*)",
    r"Cannot convert string (?P<v>.*) from (?P<t>\w+) to (?P<t2>\w+)",
    r"Cannot convert '(?P<t>\w+)' character 0x(?P<v>.*) to '(?P<t2>\w+)'",
    r"Duplicate entry (?P<v>.*) for key (?P<n>'[^']*')",
    # any message ending in a quoted or unquoted value after a colon ("...: "<value>"", "...: 2024-02-30")
    r"(?P<t>[A-Za-z][\w /()-]*): (?P<v>[\"'`‘“«].*|[^\s:]*\d[^\s:]*)",
))
# The words of server messages that may be shown where a message is not one of the shapes above: any other
# word (and any number of four digits or more) is shown as ``?`` unless it is a name hfit may show.
_MESSAGE_WORDS = frozenset("""
a about access after all already an and any are argument arguments as at authentication available bad be
because been before but by can't cannot cast change clause client closed column columns command connect
connection constraint could couldn't current data database denied does doesn't dimension dimensions does
duplicate during encoding entry errno error escape exceed exceeded exist exists expected expression failed
false fatal field for found from function group has have having host in incorrect input integer into invalid is
isn't it its key list literal lock locked login long lost malformed many may memory missing more must mysql
name near no not null number of on operation operator or order out overflow password permission position range
read reading received refused relation requires row rows running schema server set should statement string
subquery such support supported syntax system table tables than that the there this time timeout to too
transaction truncated type unable unknown unrecognized unsupported use user using valid value values view was
where which with would zero division numeric bigint smallint text date timestamp boolean json jsonb array
character varying double precision decimal real uuid inet interval bytea regclass connect: ignored terminated
canceling cancelled canceled due conflict recovery deadlock detected query queries replica snapshot only
serialize concurrent update regular parentheses balanced yes localhost port
""".split()) | {"IN/ALL/ANY"}
_MESSAGE_TOKEN = re.compile(r"[A-Za-z_][\w$]*(?:'[a-z]{1,2}\b)?|\d+|\s+|.", re.DOTALL)
_SHOWN_MARKS = frozenset(" \t:,;()[]/.=<>-_*+#%&|")
_QUOTES = "'\"`‘’“”«»"
_SIMPLE_QUOTED = re.compile(r"(?<!\w)(['\"`])([^'\"`\n]*)\1")
_HIDDEN = "\x00"
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
    statement = _names(getattr(exc, "statement", None) or "", ())
    message = clean_message(_server_message(orig), statement | _names("", names), statement)
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
    """The server's message, every line of it (the shapes of ``clean_message`` read past a newline in a value)."""
    args = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        text = str(args[1])
    else:
        diag = getattr(orig, "diag", None)
        text = (getattr(orig, "message_primary", None) or getattr(diag, "message_primary", None)
                or str(orig))
    return _DRIVER_PREFIX.sub("", text.strip())


def _names(statement: str, names: Iterable[str]) -> frozenset[str]:
    """The names a message may show: the identifiers of the statement's SQL (its string literals and comments
    left out, read with either escape convention) and ``names``."""
    words = set.intersection(*(set(_IDENTIFIER.findall(pattern.sub(" ", statement))) for pattern in _SQL_LITERALS))
    words.update(str(name) for name in names if name)
    return frozenset(words)


def clean_message(message: str, allowed: frozenset[str], statement: frozenset[str] | None = None) -> str:
    """``message`` without source values (see the module docstring): ``allowed`` are the names it may show,
    ``statement`` those of them in the statement's SQL (all of ``allowed`` when not given)."""
    text = message.strip()
    for shape in _SHAPES:
        match = shape.fullmatch(text)
        if match is not None:
            return _rendered(match, allowed, allowed if statement is None else statement)[:_MAX_MESSAGE]
    first_line = text.splitlines()[0] if text else ""
    return _generic(first_line, allowed)[:_MAX_MESSAGE]


def _rendered(match: re.Match[str], allowed: frozenset[str], statement: frozenset[str]) -> str:
    """A message of a known shape, its values as ``?`` and its names kept when hfit may show them."""
    out, end = [], match.start()
    spans = sorted((match.span(key), key) for key, value in match.groupdict().items() if value is not None)
    for (start, stop), key in spans:
        out.append(match.string[end:start])
        part = match.string[start:stop]
        if (key.startswith("t") or (key.startswith("n") and _is_names(part, allowed))
                or (key.startswith("s") and _is_names(part, statement))):
            out.append(part)
        else:
            out.append(f"{part[0]}?{part[0]}" if part[0] in "'\"`" else "?")
        end = stop
    out.append(match.string[end:match.end()])
    return "".join(out)


def _is_names(text: str, allowed: frozenset[str]) -> bool:
    """Whether ``text`` is quoted names hfit may show (``"orders"``, ```db`.`t`.`c```, ``'db.t'``)."""
    parts = [p.strip("`'\"") for p in re.split(r"[.\s]+", text)]
    return bool(parts) and all(p in allowed for p in parts) and re.fullmatch(r"[\w$.`'\"\s-]+", text) is not None


def _generic(line: str, allowed: frozenset[str]) -> str:
    """A message of no known shape, shown word by word: the server's message words, names hfit may show,
    short numbers and punctuation stay; a quoted part that is not a name, any other word, any quote mark left
    over and anything else becomes ``?`` (a run of them one ``?``)."""
    pieces: list[str] = []
    position = 0
    for quoted in _SIMPLE_QUOTED.finditer(line):
        pieces.extend(_tokens(line[position:quoted.start()], allowed))
        content = quoted.group(2)
        if content and (content in allowed or _is_names(content, allowed | _MESSAGE_WORDS)):
            pieces.append(quoted.group(0))
        else:
            pieces.append(_HIDDEN + quoted.group(1))
        position = quoted.end()
    pieces.extend(_tokens(line[position:], allowed))
    joined = "".join(pieces)
    runs = re.compile(rf"{_HIDDEN}.?(?:[^\w{_HIDDEN}]*{_HIDDEN}.?)*")

    def one_mark(run: re.Match[str]) -> str:
        text = run.group(0)
        if text.count(_HIDDEN) == 1 and len(text) == 2 and text[1] in "'\"`":
            return f"{text[1]}?{text[1]}"
        return "?"

    return runs.sub(one_mark, joined).strip()


def _tokens(text: str, allowed: frozenset[str]) -> list[str]:
    out = []
    for token in _MESSAGE_TOKEN.findall(text):
        if token.isspace() or token in allowed or token in _SHOWN_MARKS:
            out.append(token if not token.isspace() else " ")
        elif token[0].isalpha() or token[0] == "_":
            out.append(token if token.lower() in _MESSAGE_WORDS else _HIDDEN + "?")
        elif token.isdigit() and len(token) <= 3:
            out.append(token)
        else:
            out.append(_HIDDEN + "?")
    return out
