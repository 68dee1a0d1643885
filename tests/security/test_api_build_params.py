"""Build parameters that name someone (``who=<email>``, ``customer_ids=12847``) are kept by the service the way the
package manifest keeps them: the build record, its API answers and every audit row hold keyed digests of the
values (equal to the manifest's, so governance can match them), never the values; hfit's own knobs the template
does not declare (``row_limit``) stay readable. The run still gets the values as given, in memory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hfit_api.builds import params_key
from hfit_api.main import create_app
from hfit_dagster.errors import HfitError
from hfit_dagster.package.manifest import PARAMETER_DIGEST, parameter_digests
from hfit_dagster.template.builtins import BUILTINS, prepare_build
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings
from tests.conftest import TEST_MASKING_KEY
from tests.security.customer_lookup import CUSTOMER, LOOKUP, TEMPLATE

EMAIL = "alice.lookup@example.com"
BUILDS = f"/packages/{TEMPLATE}/builds"


@pytest.fixture
def api(tmp_path: Path, demo_source: str) -> Iterator[InProcessApi]:
    """The in-process app with a template whose parameters are personal data beside the three of the routes'."""
    settings = service_settings(tmp_path, demo_source)
    (settings.templates_dir / f"{TEMPLATE}.yaml").write_text(LOOKUP)
    launcher = ScriptedLauncher()
    app = create_app(settings, launcher)
    with TestClient(app) as client:
        yield InProcessApi(client=client, service=app.state.service, launcher=launcher)


def manifest_digests(values: dict[str, Any]) -> dict[str, Any]:
    """What a manifest of this template records for these resolved values."""
    return parameter_digests(values, TEST_MASKING_KEY.encode(), set(BUILTINS) - {"who", "customer_ids"})


def stored_text(api: InProcessApi) -> str:
    """Every row of the state database's builds and audit tables, as text."""
    with api.service.db.session() as session:
        rows = [*session.execute(sa.text("SELECT * FROM builds")), *session.execute(sa.text("SELECT * FROM audit"))]
    return "\n".join(repr(tuple(row)) for row in rows)


def test_personal_parameter_values_are_stored_and_shown_only_as_the_manifests_digests(api: InProcessApi) -> None:
    """A build for an email and a customer id: its record, GET /builds/{id}, the audit rows of the request and
    of the finished run (in the database and through GET /audit) hold digests equal to the manifest's, not the
    values; the undeclared knob row_limit stays readable; the run was handed the values as given."""
    vera, auditor = api.auth("vera"), api.auth("ada", "admin")
    response = api.client.post(BUILDS, json={"params": {"who": EMAIL, "customer_ids": [int(CUSTOMER)],
                                                         "row_limit": 7}}, headers=vera)
    assert response.status_code == 202, response.text
    [(job, events)] = api.launcher.launched
    assert job.params["who"] == EMAIL and job.params["customer_ids"] == CUSTOMER  # the run still gets them
    events.failed(job.build_id, HfitError("stopped"), "run-1")

    expected = manifest_digests({"who": EMAIL, "customer_ids": [int(CUSTOMER)]})
    shown = api.client.get(f"/builds/{job.build_id}", headers=vera).json()["params"]
    assert shown["who"] == expected["who"] and shown["customer_ids"] == expected["customer_ids"]
    assert shown["who"].startswith(PARAMETER_DIGEST) and shown["row_limit"] == 7
    assert response.json()["params"] == shown

    audited = api.client.get("/audit", params={"template": TEMPLATE}, headers=auditor).json()
    with_params = [row for row in audited if row["params"]]
    assert {row["action"] for row in with_params} == {"builds.request", "build.finished"}
    assert all(row["params"] == shown for row in with_params)
    everything = stored_text(api) + json.dumps(audited) + json.dumps(shown)
    assert EMAIL not in everything and CUSTOMER not in everything


def test_a_refused_build_is_audited_without_the_values_it_was_sent(api: InProcessApi) -> None:
    """A build refused for a bad value (an email where a customer id belongs) is audited with the digests of the
    values as sent and its reason without them; the requester's 400 still quotes the value to fix."""
    response = api.client.post(BUILDS, json={"params": {"who": EMAIL, "customer_ids": EMAIL, "row_limit": "9"}},
                               headers=api.auth("vera"))
    assert response.status_code == 400 and EMAIL in response.json()["error"]["message"]
    [refused] = api.audit(action="builds.request")
    assert refused.outcome == "bad_parameter"
    assert refused.params == manifest_digests({"who": EMAIL, "customer_ids": EMAIL, "row_limit": "9"})
    assert refused.params["row_limit"] == "9" and "customer_ids" in (refused.detail or "")
    assert EMAIL not in stored_text(api)


def test_identical_requests_join_on_a_keyed_params_key(api: InProcessApi) -> None:
    """The key identical requests join on is keyed by the masking key: the stored key is not the plain sha256 of
    the parameters (which anyone could recompute for a guessed email), and an identical request still joins."""
    vera = api.auth("vera")
    first = api.client.post(BUILDS, json={"params": {"who": EMAIL}}, headers=vera).json()
    joined = api.client.post(BUILDS, json={"params": {"who": EMAIL}}, headers=vera).json()
    assert joined["outcome"] == "joined" and joined["id"] == first["id"]
    with api.service.db.session() as session:
        [stored] = session.execute(sa.text("SELECT params_key FROM builds WHERE id = :id"), {"id": first["id"]}).one()
    spec = api.service.catalog.get(TEMPLATE).spec
    resolved = prepare_build(spec, {"who": EMAIL}).user_params
    unkeyed = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()
    assert stored == params_key(spec, {"who": EMAIL}, resolved, TEST_MASKING_KEY.encode())
    assert stored not in (unkeyed, params_key(spec, {"who": EMAIL}, resolved, b"another key"))
