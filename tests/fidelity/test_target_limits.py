"""Values a target dialect cannot hold in a NOT NULL column: the build fails with an error that names the table,
the column and the value's class (never a value), instead of a package that does not load."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import BuildError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEST_MASKING_KEY
from tests.fidelity.engines import run_script, url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NAN_TEMPLATE = """
templateName: nan-not-null
exports:
  nn: {provider: SRC, query: 'SELECT * FROM nn ORDER BY id'}
masking:
  default: keep
"""


@pytest.fixture
def build_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def use(source_url: str) -> None:
        monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
        monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", source_url)
    return use


def test_numeric_nan_in_a_not_null_column_is_refused_for_mysql(postgres_database, build_env) -> None:
    """A PostgreSQL numeric(p,s) NOT NULL column holding NaN cannot go into a MySQL DECIMAL (no NaN) nor become
    NULL: the mysql build fails naming the column and 'NaN or Infinity', and the postgresql build keeps it."""
    source = postgres_database()
    done = run_script("postgresql", source, "CREATE TABLE nn (id int PRIMARY KEY, k numeric(6,1) NOT NULL);"
                                            "INSERT INTO nn VALUES (1, 'NaN'), (2, 4321.5);")
    assert done.returncode == 0, done.stderr.decode()
    build_env(url("postgresql", source))
    with pytest.raises(BuildError) as refused:
        build_package(parse_template(NAN_TEMPLATE), {}, load_settings(), dialect="mysql")
    message = str(refused.value)
    assert "column k" in message and "NaN or Infinity" in message and "NOT NULL" in message
    assert "4321" not in message
    built = build_package(parse_template(NAN_TEMPLATE), {}, load_settings(), dialect="postgresql")
    target = postgres_database()
    done = run_script("postgresql", target, built.path / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    check = run_script("postgresql", target, "\\pset tuples_only on\nSELECT k::text FROM nn ORDER BY id;")
    assert check.stdout.decode().split() == ["NaN", "4321.5"]
