"""ENUM and SET columns whose labels are personal data (an ENUM of account managers' names, a SET of team
emails), on real MariaDB and PostgreSQL sources: the values are masked like any personal column and the labels
by the same operator, so no original reaches package.sql, the Parquet values or metadata, or the manifest, the
package loads, every value is a label of its type, and a label's fake is the fake the same name gets in a
plain text column."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb
from tests.privacy.column_outputs import originals_found

MANAGERS = ["Jane Doe", "Omar Haddad", "Li Wei", "Ingrid Svensson"]
TEAM = ["ops.lead@corp.example", "bob.smith@corp.example"]
ROWS = 60

TEMPLATE = """
templateName: privacy-enum-labels
exports:
  staff:
    provider: SRC
    query: SELECT * FROM staff
  tickets:
    provider: SRC
    query: SELECT * FROM tickets
"""


def ticket_rows(with_set: bool) -> list[tuple]:
    rows = []
    for i in range(1, ROWS + 1):
        assignee = "unassigned" if i % 5 == 0 else MANAGERS[i % len(MANAGERS)]
        row: tuple = (i, assignee, "open" if i % 2 else "closed")
        if with_set:
            row += ({0: "", 1: TEAM[0], 2: ",".join(TEAM)}[i % 3],)
        rows.append(row)
    return rows


def staff_rows() -> list[tuple]:
    return [(i, name) for i, name in enumerate(MANAGERS, start=1)]


def _manifest_operators(built) -> dict[tuple[str, str], str]:
    return {(t.name, c.name): c.masking["operator"] for t in built.manifest.tables for c in t.columns}


@pytest.mark.mariadb
def test_personal_enum_and_set_labels_of_mariadb_are_masked_like_their_values(
        mariadb_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = mariadb_database()
    labels = ", ".join(f"'{m}'" for m in [*MANAGERS, "unassigned"])
    fill_mariadb(source, {
        "staff": ("id INT PRIMARY KEY, full_name VARCHAR(60) NOT NULL", staff_rows()),
        "tickets": (f"id INT PRIMARY KEY, assignee ENUM({labels}) NOT NULL, state ENUM('open', 'closed'), "
                    f"watchers SET('{TEAM[0]}', '{TEAM[1]}')", ticket_rows(with_set=True)),
    })
    settings = mariadb_source_settings(monkeypatch, tmp_path, source, batch_rows=25)
    built = build_package(parse_template(TEMPLATE), {}, settings)

    operators = _manifest_operators(built)
    assert operators[("tickets", "assignee")] == "person_name"
    assert operators[("tickets", "watchers")] == "email"
    assert operators[("tickets", "state")] == "keep"
    assert originals_found(built.path, [*MANAGERS, *TEAM, "ops.lead", "bob.smith"]) == []

    target = mariadb_database()
    load_into_mariadb(built.path, target)  # strict mode: a value that is no label of its type fails the load
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM tickets WHERE assignee = 'unassigned'")
        assert cur.fetchone()[0] == ROWS // 5  # a label that is no personal data stays
        cur.execute("SELECT COUNT(*) FROM tickets t JOIN staff s ON s.full_name = t.assignee")
        assert cur.fetchone()[0] == ROWS - ROWS // 5  # a manager's fake label is their fake name in staff
        cur.execute("SELECT COUNT(*) FROM tickets WHERE watchers = ''")
        assert cur.fetchone()[0] == ROWS // 3
        cur.execute("SELECT COUNT(*) FROM tickets WHERE watchers LIKE '%,%'")
        assert cur.fetchone()[0] == ROWS // 3  # two members stay two members
        cur.execute("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = 'tickets' AND COLUMN_NAME = 'assignee'", (target,))
        column_type = cur.fetchone()[0]
    assert "'unassigned'" in column_type and not any(m in column_type for m in MANAGERS)


@pytest.mark.postgres
def test_personal_enum_labels_of_postgres_are_masked_like_their_values(
        postgres_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = postgres_database()
    labels = ", ".join(f"'{m}'" for m in [*MANAGERS, "unassigned"])
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={source}") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TYPE manager AS ENUM ({labels})")
        cur.execute("CREATE TYPE ticket_state AS ENUM ('open', 'closed')")
        cur.execute("CREATE TABLE staff (id INT PRIMARY KEY, full_name VARCHAR(60) NOT NULL)")
        cur.executemany("INSERT INTO staff VALUES (%s, %s)", staff_rows())
        cur.execute("CREATE TABLE tickets (id INT PRIMARY KEY, assignee manager NOT NULL, state ticket_state)")
        cur.executemany("INSERT INTO tickets VALUES (%s, %s, %s)", ticket_rows(with_set=False))
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}")
    built = build_package(parse_template(TEMPLATE), {}, load_settings(), dialect="postgresql")

    assert _manifest_operators(built)[("tickets", "assignee")] == "person_name"
    assert originals_found(built.path, MANAGERS) == []

    target = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(built.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
        joined = conn.execute("SELECT COUNT(*) FROM tickets t JOIN staff s ON s.full_name = t.assignee::text")
        assert joined.fetchone()[0] == ROWS - ROWS // 5
        labels_in_package = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::manager))::text")]
    assert len(labels_in_package) == len(MANAGERS) + 1 and "unassigned" in labels_in_package
