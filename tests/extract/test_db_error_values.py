"""A source value never reaches a database error: provoked on the real MariaDB, PostgreSQL (reference and
fast read paths) and SQLite with values built to slip past a quote-parsing scrubber (quotes of every kind,
doubled and escaped quotes, backslashes, newlines, values too long for the server's message, values that
look like identifiers or like the message's own words), the error's message, hint, the log records and the
CLI's output of a build hold no substring of four characters or more of the value."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.db_errors import clean_message, describe_db_error
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.query import ExportQuery
from tests.conftest import PG_ADMIN, mariadb_url

# values designed to slip through a scrubber that pairs quotes; each is the ``v`` of one row (``id`` = index+1)
SECRETS: dict[str, str] = {
    "quotes": "qzv ' \"dq\" zqw",
    "doubled": "qzv''dbl\"\"zqw",
    "backslash": "qzv\\b\\'s\\\"zqw",
    "newline": "qzv first\nzqw second",
    "crlf_tab": "qzv\r\nzqw\tzqx",
    "unicode_quotes": "‘qzv’ “zqw” «zqx»",
    "long": "qzvlong-" + "".join(f"{i:03d}zq" for i in range(100)),
    "identifier": "zqident_col",
    "sql": "qzv'); DELETE FROM t; --zqw",
    "format": "%s qzv {0} %(zqw)s",
    "digits": "98765432109876",
    "shape_bait": "qzv\" is out of range for type integer: \"zqw",
    "column_bait": "qzv' for column `t`.`v` at row 1",
}
# the parts of a bait that copy a server message's own words: they may appear, as the message's
BAIT_WORDS: dict[str, tuple[str, ...]] = {
    "shape_bait": ('" is out of range for type integer: "',),
    "column_bait": ("' for column `t`.`v` at row 1",),
}

# PostgreSQL errors raised by a template query on one row's value (``{v}``: the text, ``{j}``: it inside JSON)
POSTGRES_KINDS: dict[str, str] = {
    "int": "CAST({v} AS INTEGER) = 1",
    "date": "CAST({v} AS DATE) IS NOT NULL",
    "timestamp": "CAST({v} AS TIMESTAMP) IS NOT NULL",
    "numeric": "CAST({v} AS NUMERIC(5, 2)) = 1",
    "boolean": "CAST({v} AS BOOLEAN)",
    "uuid": "CAST({v} AS UUID) IS NOT NULL",
    "inet": "CAST({v} AS INET) IS NOT NULL",
    "interval": "CAST({v} AS INTERVAL) IS NOT NULL",
    "json": "CAST({v} AS JSON) IS NOT NULL",
    "json_field": "CAST(CAST({j} AS JSON) ->> 'k' AS INTEGER) = 1",
    "array": "CAST({v} AS INTEGER[]) IS NOT NULL",
    "hex": "DECODE({v}, 'hex') IS NOT NULL",
    "to_date": "TO_DATE({v}, 'YYYY-MM-DD') IS NOT NULL",
    "regclass": "CAST({v} AS REGCLASS) IS NOT NULL",
    "division": "1 / (LENGTH({v}) - LENGTH({v})) = 1",
}

# MariaDB's conversion errors (strict mode promotes the warnings of a conversion into errors on a write)
MARIADB_KINDS: dict[str, str] = {"int": "INT", "decimal": "DECIMAL(5,2)", "date": "DATE", "datetime": "DATETIME",
                                 "time": "TIME", "double": "DOUBLE", "year": "YEAR"}

runner = CliRunner()


def leaks(secret_id: str, *texts: str) -> list[str]:
    """The substrings of the secret of four characters that appear in any of ``texts`` (every longer shared
    substring holds one of them), but for those of its bait words."""
    secret, joined = SECRETS[secret_id], "\n".join(texts)
    windows = {secret[i:i + 4] for i in range(len(secret) - 3)}
    return sorted(w for w in windows
                  if w in joined and not any(w in words for words in BAIT_WORDS.get(secret_id, ())))


def error_texts(error: BaseException, caplog: pytest.LogCaptureFixture) -> list[str]:
    hint = getattr(error, "hint", None) or ""
    return [str(error), repr(error), hint, caplog.text, *(r.getMessage() for r in caplog.records)]


@pytest.fixture(scope="module")
def postgres_secrets() -> Iterator[str]:
    name = f"hfit_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text, j text, zqident_col text)")
        for i, secret in enumerate(SECRETS.values(), 1):
            conn.execute("INSERT INTO t VALUES (%s, %s, %s, NULL)", (i, secret, json.dumps({"k": secret})))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_error(url: str, sql: str, *, fast_read: bool) -> ProviderError | None:
    """The ProviderError reading ``sql`` as export ``t`` raises (None when the query reads without error)."""
    engine = create_source_engine("SRC", url)
    try:
        with read_only_snapshot("SRC", engine) as conn:
            table = reflect_tables("SRC", conn, ["t"]).tables["t"]
            try:
                list(stream_query(conn, table, ExportQuery.parse(sql), {}, 100, fast_read=fast_read))
            except ProviderError as exc:
                return exc
    finally:
        engine.dispose()
    return None


def _refused(kinds: Iterable[str], valid: set[tuple[str, str]]) -> list[Any]:
    """(secret, kind) pairs whose value the kind refuses: every pair but the ``valid`` ones."""
    return [pytest.param(secret_id, kind, id=f"{secret_id}-{kind}") for kind in kinds for secret_id in SECRETS
            if (secret_id, kind) not in valid]


# (secret, kind) pairs whose value is valid for the kind, so the server raises nothing to leak: each table is
# checked to read (or store) without error, the other pairs to raise an error without the value
POSTGRES_VALID = {("digits", "json"), ("digits", "hex")}
MARIADB_VALID = {("digits", "double"), ("digits", "xpath"), ("long", "xpath"), ("identifier", "xpath")}
SQLITE_VALID = {("digits", "json")}


def _postgres_read_error(database: str, secret_id: str, kind: str, fast_read: bool) -> Any:
    row = list(SECRETS).index(secret_id) + 1
    case = f"CASE WHEN t.id = {row} THEN t.{{col}} END"
    predicate = POSTGRES_KINDS[kind].format(v=case.format(col="v"), j=case.format(col="j"))
    return read_error(database, f"SELECT t.* FROM t WHERE {predicate}", fast_read=fast_read)


@pytest.mark.postgres
@pytest.mark.parametrize("fast_read", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize(("secret_id", "kind"), _refused(POSTGRES_KINDS, POSTGRES_VALID))
def test_postgres_errors_hold_no_value(postgres_secrets: str, secret_id: str, kind: str, fast_read: bool,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """A PostgreSQL error on a value (invalid input, out of range, malformed array/JSON, unknown relation, ...)
    names the provider, the export and the error class, on both read paths, without the value."""
    caplog.set_level(logging.DEBUG)
    error = _postgres_read_error(postgres_secrets, secret_id, kind, fast_read)
    assert error is not None, f"{secret_id} read as {kind} without error: add the pair to POSTGRES_VALID"
    assert "provider 'SRC'" in error.message and "export 't'" in error.message
    assert leaks(secret_id, *error_texts(error, caplog)) == [], error.message


@pytest.mark.postgres
@pytest.mark.parametrize("fast_read", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize(("secret_id", "kind"), sorted(POSTGRES_VALID))
def test_postgres_values_valid_for_their_type_read_without_error(postgres_secrets: str, secret_id: str, kind: str,
                                                                  fast_read: bool) -> None:
    """The pairs left out of the error test are values PostgreSQL takes as that type (digits as JSON or hex)."""
    assert _postgres_read_error(postgres_secrets, secret_id, kind, fast_read) is None


@pytest.fixture(scope="module")
def mariadb_conversion_errors() -> Iterator[dict[tuple[str, str], BaseException]]:
    """The driver errors MariaDB raises storing each secret into a column of each kind, in strict mode."""
    errors: dict[tuple[str, str], BaseException] = {}
    engine = sa.create_engine(mariadb_url("test"))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        columns = ", ".join(f"c_{kind} {sql_type}" for kind, sql_type in MARIADB_KINDS.items())
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE hfit_casts ({columns})")
        for kind in MARIADB_KINDS:
            for secret_id, secret in SECRETS.items():
                try:
                    conn.execute(sa.text(f"INSERT INTO hfit_casts (c_{kind}) VALUES (:v)"), {"v": secret})
                except sa.exc.DBAPIError as exc:
                    errors[kind, secret_id] = exc
        # EXTRACTVALUE's XPath from a value: refused in a template query (sql_allowlist), met here on a snapshot
        for secret_id, secret in SECRETS.items():
            try:
                conn.execute(sa.text("SELECT EXTRACTVALUE('<a/>', :v)"), {"v": secret})
            except sa.exc.DBAPIError as exc:
                errors["xpath", secret_id] = exc
    engine.dispose()
    yield errors


@pytest.mark.mariadb
@pytest.mark.parametrize(("secret_id", "kind"), _refused([*MARIADB_KINDS, "xpath"], MARIADB_VALID))
def test_mariadb_conversion_errors_hold_no_value(mariadb_conversion_errors: dict, secret_id: str, kind: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """MariaDB's "Incorrect <type> value: '<value>' for column ... at row N" (strict mode) and "XPATH syntax
    error: '<value>'" become a message that names the column and the error class without the value."""
    exc = mariadb_conversion_errors.get((kind, secret_id))
    assert exc is not None, f"MariaDB stored {secret_id} as {kind} without error: add the pair to MARIADB_VALID"
    error = describe_db_error("SRC", exc, where="export 't'",
                              names=("t", "v", "zqident_col", f"c_{kind}", "hfit_casts", "test"))
    assert "provider 'SRC'" in error.message and "(code 1" in error.message
    assert kind == "xpath" or f"c_{kind}" in error.message, "the column is named"
    assert leaks(secret_id, *error_texts(error, caplog)) == [], error.message


@pytest.mark.mariadb
def test_mariadb_stores_the_values_valid_for_their_type_without_error(mariadb_conversion_errors: dict) -> None:
    """The pairs left out of the error test are values MariaDB takes as that type (digits as a DOUBLE, numbers
    and names as an XPath)."""
    assert {(secret_id, kind) for secret_id, kind in MARIADB_VALID if (kind, secret_id) in mariadb_conversion_errors} \
        == set()


@pytest.fixture
def sqlite_secrets(tmp_path: Path) -> str:
    path = tmp_path / "src.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, j TEXT, n NUMERIC(10,2), d DATE)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                         [(i, s, json.dumps({"k": s}), s, s) for i, s in enumerate(SECRETS.values(), 1)])
    return f"sqlite:///{path}"


SQLITE_KINDS = {
    "json": "SELECT t.id, t.v FROM t WHERE t.id = {row} AND JSON_EXTRACT(t.v, '$.a') IS NULL",
    "numeric_column": "SELECT t.id, t.n FROM t WHERE t.id = {row}",
    "date_column": "SELECT t.id, t.d FROM t WHERE t.id = {row}",
}


def _sqlite_read_error(database: str, secret_id: str, kind: str) -> Any:
    row = list(SECRETS).index(secret_id) + 1
    return read_error(database, SQLITE_KINDS[kind].format(row=row), fast_read=True)


@pytest.mark.parametrize(("secret_id", "kind"), _refused(SQLITE_KINDS, SQLITE_VALID))
def test_sqlite_errors_hold_no_value(sqlite_secrets: str, secret_id: str, kind: str,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's errors on a value (malformed JSON) and hfit's own on a loosely typed column (text in a
    NUMERIC or DATE column) name the column, never the value."""
    caplog.set_level(logging.DEBUG)
    error = _sqlite_read_error(sqlite_secrets, secret_id, kind)
    assert error is not None, f"{secret_id} read as {kind} without error: add the pair to SQLITE_VALID"
    assert leaks(secret_id, *error_texts(error, caplog)) == [], error.message


@pytest.mark.parametrize(("secret_id", "kind"), sorted(SQLITE_VALID))
def test_sqlite_values_valid_for_their_type_read_without_error(sqlite_secrets: str, secret_id: str,
                                                               kind: str) -> None:
    """The pairs left out of the error test are values SQLite takes as that type (digits as JSON)."""
    assert _sqlite_read_error(sqlite_secrets, secret_id, kind) is None


BUILD_TEMPLATE = """
templateName: cast-attack
exports:
  t:
    provider: SRC
    query: "SELECT t.* FROM t WHERE CAST(t.v AS INTEGER) = 1"
"""


@pytest.mark.postgres
@pytest.mark.parametrize("fast_read", ["true", "false"])
def test_build_prints_no_value(postgres_secrets: str, hfit_home: Path, tmp_path: Path, fast_read: str,
                               monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`hfit build` of a template whose query casts a column fails with the provider, the export and the error
    class on the terminal, no traceback, and none of the source's values in its output or its logs."""
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", postgres_secrets)
    monkeypatch.setenv("HFIT_FAST_READ", fast_read)
    path = tmp_path / "cast.yaml"
    path.write_text(BUILD_TEMPLATE)
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(app, ["build", str(path)])
    assert result.exit_code == 6, result.output
    assert "provider 'SRC'" in result.output and "Traceback" not in result.output
    assert "export 't'" in result.output and "22P02" in result.output
    for secret_id in SECRETS:
        assert leaks(secret_id, result.output, caplog.text) == [], (secret_id, result.output)


# server messages as PostgreSQL and MariaDB spell them, ``{}`` where the server writes the value unescaped
MESSAGE_SHAPES = (
    'invalid input syntax for type integer: "{}"',
    'value "{}" is out of range for type integer',
    'malformed array literal: "{}"',
    'date/time field value out of range: "{}"',
    'invalid value "{}" for "YYYY"',
    'syntax error at or near "{}" of jsonpath input',
    "Incorrect integer value: '{}' for column `db1`.`t`.`v` at row 1",
    "Truncated incorrect DOUBLE value: '{}'",
    "XPATH syntax error: '{}'",
    "Duplicate entry '{}' for key 'PRIMARY'",
    'relation "{}" does not exist',
    "some message of no known shape: '{}' and more",
)


@pytest.mark.parametrize("shape", MESSAGE_SHAPES)
@pytest.mark.parametrize("secret_id", list(SECRETS))
def test_message_shapes_hold_no_value(secret_id: str, shape: str) -> None:
    """Each message shape that carries a value loses it whatever the value holds (quotes of every kind,
    newlines, names of the statement), and keeps the words that say what failed."""
    names = frozenset({"db1", "t", "v", "zqident_col", "PRIMARY"})
    cleaned = clean_message(shape.format(SECRETS[secret_id]), names, frozenset({"t", "v"}))
    assert leaks(secret_id, cleaned) == [], cleaned
    assert cleaned.split()[0] == shape.split()[0], cleaned


def test_literals_of_the_statement_are_not_names() -> None:
    """A word inside a string literal or a comment of the template's SQL is not a name a message may show."""
    exc = psycopg.errors.InvalidTextRepresentation('invalid input syntax for type integer: "zqsecret"')
    exc.statement = "SELECT t.v FROM t WHERE t.v <> 'zqsecret' -- zqsecret\n"  # type: ignore[attr-defined]
    error = describe_db_error("SRC", exc, where="export 't'", names=("t", "v"))
    assert "zqsecret" not in error.message
    relation = clean_message('relation "zqsecret" does not exist', frozenset({"zqsecret"}), frozenset({"t"}))
    assert relation == 'relation "?" does not exist'
