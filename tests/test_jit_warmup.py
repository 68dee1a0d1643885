"""After the install's warm-up (``python -m hfit_dagster.jit_warmup``, run by ``make`` and the Docker image), no
build compiles a numba loop: a build of the SQLite demo (MySQL's SQL) and one from MariaDB (PostgreSQL's) only load
compiled code from the cache, and the warm-up reaches every compiled function of hfit, so a new one cannot be
left to the first build to compile (~20 s of CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TEMPLATES, TEST_MASKING_KEY, fill_mariadb, mariadb_url

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

WARM = "import json; from hfit_dagster import jit_warmup as w; w.warm_all(); print(json.dumps(w.unwarmed()))"
TEMPLATE = """
templateName: warm-mariadb
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers WHERE id <= 30
  orders:
    provider: SRC
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
subset: {follow_parents: true}
masking:
  customers.name: person_name
  customers.email: email
  customers.phone: phone
  customers.note: "null"
  default: auto
"""


def _env(cache: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DAGSTER_HOME", "HFIT_DAGSTER_HOME", "HFIT_STORE_DIR", "HFIT_PROVIDERS")}
    env.update({"NUMBA_CACHE_DIR": str(cache), "NUMBA_DEBUG_CACHE": "1", "HFIT_HOME": str(home),
                "HFIT_MASKING_KEY": TEST_MASKING_KEY, "PYTHONPATH": str(REPO), **extra})
    return env


def _build(env: dict[str, str], *args: str) -> tuple[int, int]:
    """``hfit build`` in a fresh process: (numba functions compiled, loaded from the cache)."""
    done = subprocess.run([sys.executable, "-m", "hfit_dagster.cli.main", "build", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    log = done.stdout + done.stderr
    return log.count("[cache] data saved"), log.count("[cache] data loaded")


def test_builds_after_the_warm_up_compile_nothing(tmp_path: Path, demo_source: str, mariadb_database) -> None:
    cache = tmp_path / "numba-cache"
    warm = subprocess.run([sys.executable, "-c", WARM], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=_env(cache, tmp_path / "warm-home"))
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert json.loads(warm.stdout.strip().splitlines()[-1]) == [], "compiled functions the warm-up does not reach"
    assert warm.stdout.count("[cache] data saved") >= 30  # it compiled into the empty cache (numba logs to stdout)

    sqlite_env = _env(cache, tmp_path / "sqlite-home", HFIT_TEMPLATES_DIR=str(TEMPLATES),
                      HFIT_PROVIDER_PROD_REPLICA_URL=demo_source)
    assert _build(sqlite_env, "daily-dev-scenario", "--out", str(tmp_path / "store"))[0] == 0

    name = mariadb_database()
    fill_mariadb(name, {
        "customers": ("id INT PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), phone VARCHAR(40), note TEXT, "
                      "born DATE, created_at DATETIME(6), balance DECIMAL(10,2), photo BLOB",
                      [(i, f"Quentin Zabrowski{i}", f"qz{i}@mail.example", f"+44 20 7946 {i:04d}",
                        None if i % 3 else f"Call Quentin at qz{i}@mail.example",
                        f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}",
                        "2024-01-02 03:04:05.123456", f"{i}.{i % 100:02d}", b"\x00\x01" * i) for i in range(1, 61)]),
        "orders": ("id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(8,2), placed_at DATETIME, "
                   "FOREIGN KEY (customer_id) REFERENCES customers (id)",
                   [(i, 1 + i % 60, f"{i}.25", "2024-03-04 05:06:07") for i in range(1, 201)]),
    })
    template = tmp_path / "warm-mariadb.yaml"
    template.write_text(TEMPLATE, encoding="utf-8")
    mariadb_env = _env(cache, tmp_path / "mariadb-home", HFIT_PROVIDER_SRC_URL=mariadb_url(name))
    # PostgreSQL's SQL: its text escaping has a loop of its own (MySQL's was written by the SQLite build)
    compiled, loaded = _build(mariadb_env, str(template), "--dialect", "postgresql", "--out", str(tmp_path / "store"))
    assert compiled == 0
    assert loaded > 0  # the MySQL reader's loops among them: the build did use compiled code
