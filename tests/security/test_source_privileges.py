"""`hfit doctor` tells a platform engineer when a source user can do more than read (files, writes, superuser,
other databases) and is quiet for the least-privilege users docs/deployment.md shows, on real servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.extract.privileges import source_privilege_findings
from tests.conftest import MARIADB, TEST_MASKING_KEY, mariadb_url


def _findings(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [f.what for f in source_privilege_findings(conn)]
    finally:
        engine.dispose()


@pytest.fixture
def mariadb_reader(mariadb_database: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """A database and a user with SELECT on it only (the documented least-privilege replica user)."""
    database = mariadb_database()
    user = f"hfit_r_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{database}`.customers (id INT PRIMARY KEY)")
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw-{user}'")
        cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'127.0.0.1'")
    yield database, user
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")


@pytest.mark.mariadb
def test_mariadb_root_is_flagged_and_a_select_only_user_is_not(mariadb_reader: tuple[str, str]) -> None:
    """root holds FILE and ALL PRIVILEGES (it could write files on the database host): flagged; a user with
    SELECT on the application database only: no finding."""
    database, user = mariadb_reader
    root = _findings(mariadb_url(database))
    assert any("ALL PRIVILEGES" in f for f in root)
    assert _findings(f"mysql+pymysql://{user}:pw-{user}@127.0.0.1:3306/{database}") == []


@pytest.mark.mariadb
def test_mariadb_file_and_write_grants_are_named(mariadb_reader: tuple[str, str]) -> None:
    """Each extra grant is named: FILE (host files), writes on the database, SELECT on every database."""
    database, user = mariadb_reader
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute(f"GRANT FILE ON *.* TO '{user}'@'127.0.0.1'")
        cur.execute(f"GRANT INSERT, DELETE ON `{database}`.* TO '{user}'@'127.0.0.1'")
    found = _findings(f"mysql+pymysql://{user}:pw-{user}@127.0.0.1:3306/{database}")
    assert any("FILE" in f and "files" in f for f in found)
    assert any("INSERT" in f for f in found) and any("DELETE" in f for f in found)


@pytest.fixture
def postgres_reader(postgres_database: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """A database and a role with USAGE on public and SELECT on its tables only."""
    name = postgres_database()
    role = f"hfit_r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY)")
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    yield name, role
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        conn.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
def test_postgres_superuser_and_server_file_roles_are_flagged(postgres_reader: tuple[str, str]) -> None:
    """postgres is a superuser (files, programs): flagged; the SELECT-only role: nothing; the same role made a
    member of pg_read_server_files and given INSERT: both named."""
    name, role = postgres_reader
    assert any("superuser" in f for f in _findings(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
    role_url = f"postgresql+psycopg://{role}@127.0.0.1:5432/{name}"
    assert _findings(role_url) == []
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute(f"GRANT pg_read_server_files TO {role}")
        conn.execute(f"GRANT INSERT ON customers TO {role}")
    found = _findings(role_url)
    assert any("pg_read_server_files" in f for f in found)
    assert any("INSERT" in f for f in found)
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute(f"REVOKE pg_read_server_files FROM {role}")


@pytest.mark.mariadb
def test_doctor_command_reports_each_provider(mariadb_reader: tuple[str, str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`hfit doctor` prints ok for a least-privilege provider, the findings and the fix for an over-privileged
    one, and with --strict exits 2 so CI can gate on it."""
    database, user = mariadb_reader
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_READER_URL", f"mysql+pymysql://{user}:pw-{user}@127.0.0.1:3306/{database}")
    monkeypatch.setenv("HFIT_PROVIDER_ROOT_URL", mariadb_url(database))
    runner = CliRunner()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "READER: ok" in result.output
    assert "ROOT: the source user can do more than read" in result.output and "fix:" in result.output
    assert runner.invoke(app, ["doctor", "reader", "--strict"]).exit_code == 0
    assert runner.invoke(app, ["doctor", "root", "--strict"]).exit_code == 2
