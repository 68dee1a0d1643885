"""The pytest plugin: one line gives a test a throwaway database loaded with a package."""

from __future__ import annotations

import re

import pymysql
import pytest
import sqlalchemy as sa

from tests.conftest import MARIADB

pytest_plugins = ["pytester"]

USING_FIXTURE = '''
import sqlalchemy as sa

def test_integration(hfit_db):
    url = hfit_db("integration-test-suite", row_limit=5)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        customers = conn.execute(sa.text("SELECT COUNT(*) FROM customers")).scalar()
        orphans = conn.execute(sa.text(
            "SELECT COUNT(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL"
        )).scalar()
    engine.dispose()
    assert 0 < customers <= 5 and orphans == 0
    print("URL", url)
'''


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_uses_hfit_db=USING_FIXTURE)
    return pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *args)


def test_plugin_loads_a_package_into_sqlite(pytester: pytest.Pytester, hfit_home) -> None:
    """Without a database URL the package lands in a SQLite file, built in the SQLite dialect."""
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    assert "URL sqlite:///" in result.stdout.str()


@pytest.mark.mariadb
def test_plugin_loads_a_package_into_mariadb_and_drops_it(pytester: pytest.Pytester, hfit_home) -> None:
    """With a MariaDB server URL: a new database is created, loaded, used, and dropped afterwards."""
    result = _run(pytester, "--hfit-database-url=mysql+pymysql://root@127.0.0.1:3306")
    result.assert_outcomes(passed=1)
    url = re.search(r"URL (\S+)", result.stdout.str()).group(1)
    database = sa.make_url(url).database
    assert database.startswith("hfit_fixture_")
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        assert cur.fetchone()[0] == 0


@pytest.mark.postgres
def test_plugin_loads_a_package_into_postgresql(pytester: pytest.Pytester, hfit_home) -> None:
    result = _run(pytester, "--hfit-database-url=postgresql://postgres@127.0.0.1:5432/postgres")
    result.assert_outcomes(passed=1)
