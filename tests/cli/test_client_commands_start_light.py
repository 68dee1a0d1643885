"""The service's client commands (``hfit login``, ``hfit pkg-download``, ``hfit pkg-tmpl ...``) start without the
build's libraries: no source driver, no Arrow, no numba (~0.3 s of CPU at every start, half of the CLI's import),
while ``hfit doctor``, which connects to the sources, still loads and runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.fresh_process import run_python

# the CLI's commands parsed (``--help`` of a client command), then what the process imported
HELP_AND_LIST_MODULES = """
import json, sys
from hfit_dagster.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
heavy = ("numba", "pyarrow", "pymysql", "psycopg", "hfit_dagster.extract.source")
print(json.dumps({"code": code, "imported": [name for name in heavy if name in sys.modules]}))
"""


def _imported_by(tmp_path: Path, *argv: str) -> dict[str, object]:
    return run_python(HELP_AND_LIST_MODULES, *argv, env={"HFIT_HOME": str(tmp_path / "home")},
                      timeout=120)


def test_client_commands_import_no_source_driver_arrow_or_numba(tmp_path: Path) -> None:
    """Every command is registered (the CLI parses ``pkg-download --help``) and none of the build's libraries is
    imported for it."""
    result = _imported_by(tmp_path, "pkg-download", "--help")
    assert result == {"code": 0, "imported": []}


def test_doctor_still_connects_and_reports(tmp_path: Path, demo_source: str) -> None:
    """``hfit doctor`` imports the source modules when it runs: a SQLite source is checked and reported."""
    environment = {**os.environ, "HFIT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO),
                   "HFIT_PROVIDER_DEMO_URL": demo_source}
    environment.pop("HFIT_PROVIDERS", None)
    done = subprocess.run([sys.executable, "-m", "hfit_dagster.cli.main", "doctor", "DEMO"], capture_output=True,
                          text=True, env=environment, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DEMO" in done.stdout
