"""Shared fixtures (real databases: MariaDB, PostgreSQL, the SQLite demo source; isolated hfit settings) and the
assignment of tests to the two tiers.

``make test-fast`` runs ``-m fast``: unit and contract tests, API routes through an in-process ``TestClient``.
Every test that is not ``fast`` belongs to the end-to-end tier that ``make test`` adds: it talks to MariaDB or
PostgreSQL, is marked ``slow``, or needs a real subprocess server (``e2e``, given here to every test that uses the
shared ``hfit serve`` fixture or sits in a directory of such tests). The tiers are decided here, in one place,
rather than in each test file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pymysql
import pytest

from hfit_dagster.settings import HfitSettings, load_settings

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
DEMO_NOW = datetime(2026, 11, 20)
DEMO_CUSTOMERS = 600
TEST_MASKING_KEY = "tests-masking-key-not-secret"


# directories whose tests run real processes (a uvicorn server, Celery workers, the `hfit` executable, pytest)
E2E_DIRECTORIES = ("client", "plugin", "reliability", "scale")
# fixtures that start a real `hfit serve` subprocess (tests/api/service_harness.py)
E2E_FIXTURES = frozenset({"server", "built"})
END_TO_END_MARKERS = ("mariadb", "postgres", "slow", "e2e")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test ``e2e`` when it needs a real server process, and ``fast`` when nothing puts it in the
    end-to-end tier (see the module docstring)."""
    tests_root = Path(__file__).resolve().parent
    for item in items:
        path = item.path.resolve()
        directory = path.relative_to(tests_root).parts[0] if path.is_relative_to(tests_root) else ""
        if directory in E2E_DIRECTORIES or E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if not any(item.get_closest_marker(name) for name in END_TO_END_MARKERS):
            item.add_marker(pytest.mark.fast)
    # longest first: pytest-xdist hands tests out in this order, so the minute-long server tests start at once
    # instead of leaving one worker busy alone at the end (the order within a tier is the files' order)
    items.sort(key=_expected_length)


def _expected_length(item: pytest.Item) -> int:
    """0 for a test with a real server process, 1 for one on a database server or marked slow, 2 for the rest."""
    if item.get_closest_marker("e2e"):
        return 0
    return 2 if item.get_closest_marker("fast") else 1


def mariadb_url(database: str) -> str:
    return f"mysql+pymysql://root@127.0.0.1:3306/{database}?charset=utf8mb4"


def fill_mariadb(database: str, tables: dict[str, tuple[str, list[tuple]]]) -> None:
    """Create each table (``name: (column definitions, rows)``) in ``database`` and insert its rows, in order."""
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        for table, (columns, rows) in tables.items():
            cur.execute(f"CREATE TABLE {table} ({columns})")
            if rows:
                cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
        conn.commit()


def mariadb_source_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: str,
                            batch_rows: int) -> HfitSettings:
    """Settings of a build whose provider ``SRC`` is ``database`` in the local MariaDB, read ``batch_rows``
    rows at a time, with an isolated hfit home and the tests' masking key."""
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", mariadb_url(database))
    monkeypatch.setenv("HFIT_BATCH_ROWS", str(batch_rows))
    return load_settings()


@pytest.fixture
def mariadb_database() -> Iterator[Callable[[], str]]:
    """A factory of throwaway MariaDB databases (names returned); all dropped after the test."""
    created: list[str] = []

    def make() -> str:
        name = f"hfit_t_{uuid.uuid4().hex[:10]}"
        with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        created.append(name)
        return name

    yield make
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        for name in created:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of throwaway PostgreSQL databases (names returned); all dropped after the test."""
    import psycopg

    created: list[str] = []

    def make() -> str:
        name = f"hfit_t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return name

    yield make
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The embedded demo source (SQLite shop) at a small scale, generated once per test session."""
    from hfit_dagster.demo.shop_generator import generate_shop

    path = tmp_path_factory.mktemp("demo") / "shop.db"
    url = f"sqlite:///{path}"
    generate_shop(url, customers=DEMO_CUSTOMERS, now=DEMO_NOW)
    return url


@pytest.fixture
def hfit_home(tmp_path: Path, demo_source: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HFIT_HOME whose PROD_REPLICA is the demo source; the environment points at it."""
    home = tmp_path / "hfit-home"
    home.mkdir()
    # a user's DAGSTER_HOME would otherwise receive every test build's materializations (hfit build reports there)
    for key in ("HFIT_STORE_DIR", "HFIT_PROVIDERS", "DAGSTER_HOME", "HFIT_DAGSTER_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HFIT_HOME", str(home))
    monkeypatch.setenv("HFIT_TEMPLATES_DIR", str(TEMPLATES))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", demo_source)
    return home


@pytest.fixture
def settings(hfit_home: Path) -> HfitSettings:
    return load_settings()
