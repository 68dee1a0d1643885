"""Build records and audit rows written before parameter values were kept as keyed digests are rewritten when the
service starts: the stored values become the digests a request made today would store (equal to the manifest's),
a build's params_key the keyed one, a refusal's detail loses the quoted value; rows already kept so, and rows
without parameters, stay as they are, and a second start changes nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hfit_api.builds import HOST
from hfit_api.main import create_app
from hfit_api.state import AppliedMigration, AuditEntry, Build, StateDB, utcnow
from hfit_api.stored_params import MIGRATION
from hfit_dagster.package.manifest import PARAMETER_DIGEST, parameter_digests
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import parse_template
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings
from tests.conftest import TEST_MASKING_KEY
from tests.security.customer_lookup import CUSTOMER, LOOKUP, TEMPLATE

EMAIL = "alice.legacy@example.com"
KEY = TEST_MASKING_KEY.encode()


def _digest(name: str, value: Any) -> str:
    return str(parameter_digests({name: value}, KEY)[name])


def _old_rows(settings: HfitSettings) -> dict[str, str]:
    """Rows as the service wrote them before the rule, in the state database on disk; returns their ids."""
    db = StateDB(settings.state_database_url)
    old = {"who": EMAIL, "customer_ids": CUSTOMER, "row_limit": "4"}
    unkeyed = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()
    ids = {"running": uuid.uuid4().hex, "gone": uuid.uuid4().hex, "current": uuid.uuid4().hex}
    current = {"who": _digest("who", EMAIL), "row_limit": 4}
    try:
        with db.session() as session:
            session.add_all([
                Build(id=ids["running"], template=TEMPLATE, template_hash=_template_hash(), params=old,
                      params_key=unkeyed, requested_by="vera", status="running", host=HOST, run_id="run-legacy"),
                Build(id=ids["gone"], template="retired-template", template_hash="0" * 64, params={"who": EMAIL},
                      params_key=unkeyed, requested_by="vera", status="succeeded", version="v1",
                      finished_at=utcnow()),
                Build(id=ids["current"], template=TEMPLATE, template_hash="1" * 64, params=current,
                      params_key="2" * 64, requested_by="vera", status="failed"),
                AuditEntry(user="vera", action="builds.request", outcome="launched", template=TEMPLATE,
                           params=old, detail=f"build {ids['running']}"),
                AuditEntry(user="vera", action="builds.request", outcome="bad_parameter", template=TEMPLATE,
                           params={"customer_ids": EMAIL}, status=400,
                           detail=f"parameter 'customer_ids' expects an int, got '{EMAIL}'"),
                AuditEntry(user="vera", action="auth.me", outcome="ok", status=200),
            ])
    finally:
        db.dispose()
    return ids


def _template_hash() -> str:
    return parse_template(LOOKUP, f"{TEMPLATE}.yaml").content_hash()


def _stored(api: InProcessApi) -> list[tuple[Any, ...]]:
    with api.service.db.session() as session:
        return [tuple(row) for table in ("builds", "audit")
                for row in session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]


def _start(settings: HfitSettings) -> tuple[TestClient, InProcessApi]:
    launcher = ScriptedLauncher()
    app = create_app(settings, launcher)
    client = TestClient(app)
    client.__enter__()
    return client, InProcessApi(client=client, service=app.state.service, launcher=launcher)


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_rows_stored_with_parameter_values_are_rewritten_to_keyed_digests_once(
        state: str, tmp_path: Path, demo_source: str, postgres_database: Callable[[], str]) -> None:
    """An old running build for an email and a customer id, an old build of a template since removed, an old
    refusal quoting the email, a row already kept by the rule and a row without parameters: after the start no
    stored row holds the email, the customer id or the unkeyed key; the running build's parameters are the digests
    of the values as its template types them, so an identical request joins it; the others keep what they had;
    a restart (even with the record of the rewrite lost) changes nothing. The state database is a file on disk
    (one machine) or PostgreSQL (several replicas)."""
    settings = service_settings(tmp_path, demo_source)
    if state == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_database()}"
        settings = settings.model_copy(update={"state_url": url})
    (settings.templates_dir / f"{TEMPLATE}.yaml").write_text(LOOKUP)
    ids = _old_rows(settings)

    client, api = _start(settings)
    try:
        rows = _stored(api)
        text = repr(rows)
        assert EMAIL not in text and CUSTOMER not in text and "alice.legacy" not in text
        with api.service.db.session() as session:
            running = session.get(Build, ids["running"])
            gone = session.get(Build, ids["gone"])
            current = session.get(Build, ids["current"])
            audit = list(session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))
        assert running is not None and gone is not None and current is not None
        assert running.params["who"] == _digest("who", EMAIL)
        assert running.params["customer_ids"] == _digest("customer_ids", [int(CUSTOMER)])  # typed as list[int]
        assert running.params["row_limit"] == 4  # an undeclared built-in knob stays readable
        assert gone.params == {"who": _digest("who", EMAIL)} and gone.params_key != running.params_key
        assert current.params == {"who": _digest("who", EMAIL), "row_limit": 4} and current.params_key == "2" * 64
        request, refusal, read = audit
        assert request.params == {"who": _digest("who", EMAIL), "customer_ids": _digest("customer_ids", [12847]),
                                  "row_limit": "4"}
        assert refusal.params is not None and refusal.params["customer_ids"] == _digest("customer_ids", EMAIL)
        assert refusal.detail == "parameter 'customer_ids' expects an int, got <value>"
        assert read.params is None and read.detail is None

        joined = client.post(f"/packages/{TEMPLATE}/builds", headers=api.auth("vera"),
                             json={"params": {"who": EMAIL, "customer_ids": [int(CUSTOMER)], "row_limit": 4}})
        assert joined.status_code == 202, joined.text
        assert joined.json()["outcome"] == "joined" and joined.json()["id"] == ids["running"]
        assert joined.json()["params"]["who"].startswith(PARAMETER_DIGEST)
        before_restart = _stored(api)
        with api.service.db.session() as session:
            session.delete(session.get(AppliedMigration, MIGRATION))
    finally:
        client.__exit__(None, None, None)

    client, api = _start(settings)
    try:
        assert _stored(api) == before_restart
        with api.service.db.session() as session:
            assert session.get(AppliedMigration, MIGRATION) is not None
    finally:
        client.__exit__(None, None, None)
