"""``hfit build`` does not import pandas (~0.3 s of CPU that pyarrow would spend for nothing): neither a build of
the SQLite demo nor one from PostgreSQL, whose fast reader (ADBC) still reads it and whose package is published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO, TEMPLATES, TEST_MASKING_KEY

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# the command in a process of its own, then what it imported (`hfit` itself ends with os._exit)
BUILD_AND_LIST_MODULES = """
import json, sys
from hfit_dagster.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "pandas": "pandas" in sys.modules, "adbc": "adbc_driver_manager" in sys.modules}))
"""
TEMPLATE = """
templateName: pg-small
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers WHERE id <= 20
masking:
  customers.name: person_name
  customers.email: email
  default: auto
"""


def _build(tmp_path: Path, template: str, **env: str) -> dict[str, object]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DAGSTER_HOME", "HFIT_DAGSTER_HOME", "HFIT_STORE_DIR", "HFIT_PROVIDERS")}
    environment.update({"HFIT_HOME": str(tmp_path / "home"), "HFIT_MASKING_KEY": TEST_MASKING_KEY,
                        "PYTHONPATH": str(REPO), **env})
    done = subprocess.run([sys.executable, "-c", BUILD_AND_LIST_MODULES, "build", template, "--out",
                           str(tmp_path / "store")], capture_output=True, text=True, env=environment, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr[-3000:]
    assert any((tmp_path / "store").rglob("manifest.json"))
    return result


def test_sqlite_build_imports_no_pandas(tmp_path: Path, demo_source: str) -> None:
    result = _build(tmp_path, "daily-dev-scenario", HFIT_TEMPLATES_DIR=str(TEMPLATES),
                    HFIT_PROVIDER_PROD_REPLICA_URL=demo_source)
    assert result["pandas"] is False


def test_postgresql_build_reads_by_adbc_without_pandas(tmp_path: Path, postgres_database) -> None:
    name = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, email text, created_at timestamp)")
        with conn.cursor().copy("COPY customers FROM STDIN") as copy:
            for i in range(1, 41):
                copy.write_row((i, f"Quentin Zabrowski{i}", f"qz{i}@mail.example", "2024-01-02 03:04:05"))
    template = tmp_path / "pg-small.yaml"
    template.write_text(TEMPLATE, encoding="utf-8")
    result = _build(tmp_path, str(template),
                    HFIT_PROVIDER_SRC_URL=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    assert result == {"code": 0, "pandas": False, "adbc": True}
