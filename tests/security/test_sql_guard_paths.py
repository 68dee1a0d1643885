"""The SQL guard's attacks replayed through the ways a template arrives: `hfit pkg-tmpl validate`, `hfit build`
against a real MariaDB source, and the service (`POST /templates/validate`, `POST /templates`). Each is refused
with the guard's message, audited on the service, nothing is published, and nothing is written on the database
host."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hfit_api.main import create_app
from hfit_dagster.cli.main import app
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings
from tests.conftest import MARIADB, fill_mariadb, mariadb_source_settings
from tests.security.test_sql_guard import ATTACKS

# a reproducible spread over every class of the generated attacks
SAMPLE = random.Random(19).sample(ATTACKS, 60)
OUTFILE = f"/tmp/hfit_guard_{uuid.uuid4().hex}"
# written with the file name this run checks for afterwards
DIRECT = [f"SELECT id FROM customers /*!INTO OUTFILE '{OUTFILE}' */",
          f"SELECT id FROM customers /*M!100000 INTO OUTFILE '{OUTFILE}' */",
          f"SELECT id FROM customers INTO OUTFILE '{OUTFILE}'"]


def _template(sql: str) -> str:
    quoted = sql.replace("'", "''")
    return f"templateName: guard-probe\nexports:\n  customers:\n    provider: SRC\n    query: '{quoted}'\n"


def test_pkg_tmpl_validate_refuses_every_sampled_attack(tmp_path: Path) -> None:
    """Offline validation exits 3 with the guard's reason and the file for each attack."""
    runner = CliRunner()
    for index, sql in enumerate(SAMPLE + DIRECT):
        path = tmp_path / f"probe-{index}.yaml"
        path.write_text(_template(sql))
        result = runner.invoke(app, ["pkg-tmpl", "validate", str(path)])
        assert result.exit_code == 3, (sql, result.output)
        said = "".join(result.output.split())  # rich may wrap the path
        assert path.name in said and "line5,exports.customers.query" in said, (sql, result.output)


@pytest.mark.mariadb
def test_hfit_build_refuses_them_and_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         mariadb_database: Callable[[], str]) -> None:
    """`hfit build FILE` against a real source: refused before connecting, no package in the store, and no file
    written on the database host by an executable comment."""
    database = mariadb_database()
    fill_mariadb(database, {"customers": ("id INT PRIMARY KEY, email VARCHAR(60)", [(1, "a@example.com")])})
    settings = mariadb_source_settings(monkeypatch, tmp_path, database, 1000)
    runner = CliRunner()
    for index, sql in enumerate(SAMPLE[:20] + DIRECT):
        path = tmp_path / f"probe-{index}.yaml"
        path.write_text(_template(sql))
        result = runner.invoke(app, ["build", str(path)])
        assert result.exit_code != 0 and "Traceback" not in result.output, (sql, result.output)
    assert not (settings.package_store / "guard-probe").exists()
    assert not Path(OUTFILE).exists()
    with pymysql.connect(**MARIADB) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@secure_file_priv")
        (secure,) = cur.fetchone()
    if secure:
        assert not (Path(secure) / Path(OUTFILE).name).exists()


def test_the_service_refuses_them_and_audits_each(tmp_path: Path, demo_source: str) -> None:
    """Through the real app: validate answers 400 and create answers 400/422 for every sampled attack, as JSON,
    each request audited as refused; no template is stored."""
    launcher = ScriptedLauncher()
    application = create_app(service_settings(tmp_path, demo_source), launcher)
    with TestClient(application) as client:
        api = InProcessApi(client=client, service=application.state.service, launcher=launcher)
        headers = api.auth("ann", "author")
        for sql in SAMPLE + DIRECT:
            body = {"yaml": _template(sql).replace("provider: SRC", "provider: PROD_REPLICA")}
            checked = client.post("/templates/validate", json=body, headers=headers)
            created = client.post("/templates", json=body, headers=headers)
            refused_check = checked.status_code in (400, 422) or checked.json().get("valid") is False
            assert refused_check, (sql, checked.text)
            assert created.status_code in (400, 422) and "error" in created.json(), (sql, created.text)
        assert client.get("/templates/guard-probe", headers=headers).status_code == 404
        creates = api.audit(user="ann", action="templates.create")
        assert len(creates) == len(SAMPLE + DIRECT) and all(r.outcome != "ok" for r in creates)
