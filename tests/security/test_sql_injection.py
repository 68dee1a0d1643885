"""SQL injection: 400+ payloads through every parameter type never change a query's shape.

Each payload either fails typed validation (ParameterError) or is bound as a literal. Proof on a real
MariaDB: a canary table stays intact, and the server's own general query log shows that every statement
hfit sent has exactly the template's shape (one SELECT; only literal values differ).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime

import pymysql
import pytest
import sqlglot
from sqlglot import exp
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.errors import ParameterError
from hfit_dagster.extract.source import create_source_engine, read_only_snapshot, reflect_tables, stream_query
from hfit_dagster.template.loader import parse_template
from hfit_dagster.template.params import coerce
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_url
from tests.security.injection_payloads import PAYLOADS

pytestmark = pytest.mark.mariadb

COLUMN_FOR_TYPE = {"int": "score", "float": "ratio", "str": "note", "bool": "active", "date": "day",
                   "datetime": "at", "list[int]": "id", "list[str]": "note"}
CANARY = [(1, "alpha"), (2, "beta"), (3, "gamma")]


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    name = f"hfit_t_inj_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute("CREATE TABLE canary (id INT PRIMARY KEY, v VARCHAR(100) NOT NULL)")
        cur.executemany("INSERT INTO canary VALUES (%s, %s)", CANARY)
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, note VARCHAR(200), score INT, ratio DOUBLE, "
                    "active TINYINT(1), day DATE, at DATETIME)")
        cur.execute("INSERT INTO customers VALUES (1, 'hello', 5, 0.5, 1, '2024-10-15', '2024-10-15 14:30:00')")
        conn.commit()
    yield name
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def canary_rows(database: str) -> list[tuple[int, str]]:
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, v FROM canary ORDER BY id")
        return [tuple(r) for r in cur.fetchall()]


def shape(sql: str) -> str:
    """A statement with every literal (and IN list) replaced by '?': what the server was asked, minus data."""
    statements = sqlglot.parse(sql, read="mysql")
    assert len(statements) == 1, f"{len(statements)} statements"
    tree = statements[0]
    assert isinstance(tree, exp.Select)

    def normalise(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal | exp.Null | exp.Boolean | exp.Placeholder):
            return exp.Placeholder()
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):  # -1.5 is one literal value
            return exp.Placeholder()
        if isinstance(node, exp.In):
            return exp.In(this=node.this, expressions=[exp.Placeholder()])
        return node

    return tree.transform(normalise).sql(dialect="mysql")


@pytest.fixture
def general_log() -> Iterator[None]:
    """The server's general query log, to a table, for the duration of the test (then as it was)."""
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.general_log, @@GLOBAL.log_output")
        enabled, output = cur.fetchone()
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL general_log = 1")
    yield
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"SET GLOBAL general_log = {int(enabled)}")
        cur.execute("SET GLOBAL log_output = %s", (output,))


def test_every_payload_is_refused_or_bound_as_a_literal(source: str, general_log: None) -> None:
    engine = create_source_engine("SRC", mariadb_url(source))
    refused = bound = 0
    marker = f"hfit-injection-{uuid.uuid4().hex[:8]}"
    with read_only_snapshot("SRC", engine) as conn:
        thread_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        table = reflect_tables("SRC", conn, ["customers"]).tables["customers"]
        for type_, column in COLUMN_FOR_TYPE.items():
            operator = "IN" if type_.startswith("list") else "="
            spec = parse_template(f"""
templateName: injection
parameters:
  p: {{type: "{type_}"}}
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers WHERE {column} {operator} :p AND note <> '{marker}'
""")
            query = spec.queries()["customers"]
            for payload in PAYLOADS:
                try:
                    value = coerce("p", spec.parameters["p"], payload, now=datetime(2026, 1, 1))
                except ParameterError:
                    refused += 1
                    continue
                bound += 1
                list(stream_query(conn, table, query, {"p": value}, 100))
    engine.dispose()
    assert refused + bound == len(PAYLOADS) * len(COLUMN_FOR_TYPE)
    assert bound >= 2 * len(PAYLOADS)  # every payload is a valid str and list[str]
    assert canary_rows(source) == CANARY
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                    "WHERE thread_id = %s AND command_type = 'Query'", (thread_id,))
        logged = [r[0] for r in cur.fetchall() if marker in r[0]]
    assert len(logged) == bound
    expected = {shape(f"SELECT * FROM customers WHERE {c} {'IN (1)' if t.startswith('list') else '= 1'} "
                      f"AND note <> 'x'") for t, c in COLUMN_FOR_TYPE.items()}
    shapes = {shape(statement) for statement in logged}
    assert shapes <= expected, shapes - expected


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if re.search(r"DROP|DELETE|UNION|SLEEP", p)][:12])
def test_payloads_through_hfit_build_bind_as_literals(source: str, tmp_path, monkeypatch, payload: str) -> None:
    """Through the whole CLI build: the payload is a value (no rows match), the canary is intact."""
    template = tmp_path / "t.yaml"
    template.write_text("""
templateName: injection-cli
parameters:
  note: {type: str}
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers WHERE note = :note
masking: {default: keep}
""")
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", mariadb_url(source))
    result = CliRunner().invoke(app, ["build", str(template), f"note={payload}"])
    assert result.exit_code == 0, result.output
    assert '"rows": 0' in (tmp_path / "home" / "packages" / "injection-cli").joinpath(
        result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1], "manifest.json").read_text()
    assert canary_rows(source) == CANARY
