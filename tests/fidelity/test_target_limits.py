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


def test_values_over_the_default_packet_are_reported(postgres_database, mariadb_database, build_env) -> None:
    """A 30 MB bytea and a 20 MB text cannot reach MariaDB under its default 16 MB max_allowed_packet in any
    statement (CONCAT refuses a result over the packet too): the mysql package counts both rows in the manifest
    (``sql_notes.oversized_rows``) and names the packet each needs in a comment before it, while the rows of the
    same table that fit load."""
    source = postgres_database()
    done = run_script("postgresql", source, r"""
CREATE TABLE huge (id int PRIMARY KEY, b bytea, t text);
INSERT INTO huge VALUES (1, decode(repeat('00ff27', 10485760), 'hex'), NULL), (2, NULL, repeat('ü😀x', 3000000)),
  (3, '\x01', 'small');""")
    assert done.returncode == 0, done.stderr.decode()
    build_env(url("postgresql", source))
    template = """
templateName: huge-values
exports:
  huge: {provider: SRC, query: 'SELECT * FROM huge ORDER BY id'}
masking:
  default: keep
"""
    built = build_package(parse_template(template), {}, load_settings(), dialect="mysql")
    assert built.manifest.sql_notes["oversized_rows"] == 2
    script = (built.path / "package.sql").read_bytes()
    assert script.count(b"-- the next statement needs max_allowed_packet of at least ") == 2
    assert b"at least 41 MB" in script and b"at least 21 MB" in script  # base64 of 30 MB; 20 MB of text
    target = mariadb_database()
    done = run_script("mysql", target, built.path / "package.sql")
    assert done.returncode != 0  # the server drops the connection ("gone away") at the 40 MB statement
