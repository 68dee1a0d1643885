"""The developer workflow guide, command by command, against a real `hfit serve` over the demo data.

Each command runs as a user types it (a shell, the `hfit` executable, pipes into `mysql`), and every SQL
result is loaded into a fresh MariaDB database and checked for dangling foreign keys.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.service_harness import RunningServer, start_server
from tests.conftest import TEMPLATES
from tests.pipeline.test_local_build import dangling_foreign_keys, row_counts

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

# the environment running the tests: its `hfit` is the one under test, wherever the virtualenv lives
BIN = Path(sys.executable).parent

DOWNLOADS = [
    "integration-test-suite", "customer-checkout-complex", "customer-journey-comprehensive", "edge-case-customers",
    "ci-integration-suite",
    'incident-2024-1015 start_time="2024-10-15 14:30:00" end_time="2024-10-15 15:00:00"',
    'payment-incident-2024-1015 customer_ids="12847,15923,18442" start_time="2024-10-15 14:30:00" '
    'end_time="2024-10-15 15:00:00"',
    "performance-test-dataset row_limit=100000 include_indexes=true",
    "performance-baseline table_size_factor=0.1",
    'legacy-migration-validation business_rules="complex_pricing,multi_currency,tax_calculations" '
    'date_range="last_6_months"',
    'feature-flag-test-segments user_segments="premium,enterprise,beta_users"',
    "large-dataset sample_rate=0.1",
    'large-dataset start_date="2024-01-01" end_date="2024-01-31"',
    "my-scenario row_limit=1000 debug_mode=true",
]


@pytest.fixture(scope="module")
def guide_server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    """`hfit serve` over the repository's templates/ and the demo source."""
    yield from start_server(tmp_path_factory.mktemp("guide"), demo_source, templates_dir=TEMPLATES)


@pytest.fixture(scope="module")
def shell(guide_server: RunningServer, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Runs a command line in bash as a logged-in developer would (cwd = a scratch folder)."""
    workdir = tmp_path_factory.mktemp("developer")
    token = guide_server.user("dev", "viewer")
    env = {**guide_server.env, "XDG_CONFIG_HOME": str(workdir / "xdg"), "HFIT_TOKEN": token,
           "PATH": os.pathsep.join([str(BIN), "/usr/bin", "/bin"])}

    def run(command: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, cwd=workdir,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stderr[-2000:]}"
        return done

    run.workdir = workdir  # type: ignore[attr-defined]
    run('hfit login --token "$HFIT_TOKEN"')
    return run


def check_loaded(database: str) -> dict[str, int]:
    counts = row_counts(database)
    assert counts, "nothing was loaded"
    assert set(dangling_foreign_keys(database).values()) <= {0}
    return counts


def test_login_with_token_and_whoami(shell) -> None:  # noqa: ANN001
    assert "dev" in shell("hfit whoami").stdout + shell("hfit whoami").stderr


def test_daily_flow_pipe_and_file(shell, mariadb_database) -> None:  # noqa: ANN001
    """`hfit pkg-download daily-dev-scenario | mysql test_db` and `> today-data.sql` then `mysql < file`."""
    piped = mariadb_database()
    shell(f"hfit pkg-download daily-dev-scenario | mysql {piped}")
    from_file = mariadb_database()
    shell(f"hfit pkg-download daily-dev-scenario > today-data.sql && mysql {from_file} < today-data.sql")
    assert check_loaded(piped) == check_loaded(from_file)


@pytest.mark.parametrize("command", DOWNLOADS, ids=[c.split()[0] + f"-{i}" for i, c in enumerate(DOWNLOADS)])
def test_guide_download_loads_into_mariadb(shell, mariadb_database, command: str) -> None:  # noqa: ANN001
    name = shlex.split(command)[0]
    database = mariadb_database()
    shell(f"hfit pkg-download {command} > {name}.sql && mysql {database} < {name}.sql")
    check_loaded(database)


def test_debug_mode_manifest_and_template_debug(shell) -> None:  # noqa: ANN001
    """debug_mode adds compiled queries and timings to the manifest; `pkg-tmpl show --debug` compiles SQL."""
    manifest = json.loads(shell("hfit pkg-download my-scenario row_limit=1000 debug_mode=true --format manifest")
                          .stdout)
    assert "compiled_queries" in manifest["extra"]["debug"]
    shown = shell("hfit pkg-tmpl show my-scenario --debug").stdout
    assert "dependency order" in shown and "SELECT" in shown
    assert "# masking plan" in shown and "customers:" in shown


def test_auto_cleanup(shell) -> None:  # noqa: ANN001
    shell("hfit pkg-download test-scenario --auto-cleanup 7d -o test-scenario.sql")
    assert (shell.workdir / "test-scenario.sql").is_file()  # type: ignore[attr-defined]
    shell("hfit cleanup")
    assert (shell.workdir / "test-scenario.sql").is_file()  # not expired yet
