"""``GET /audit``: admins read the audit log, filtered; reading it is audited too; others get 403."""

from __future__ import annotations

from hfit_dagster.package.manifest import parameter_digests
from tests.api.routes.conftest import InProcessApi
from tests.conftest import TEST_MASKING_KEY


def test_only_admins_read_the_audit_log(api: InProcessApi) -> None:
    """A viewer is refused with 403 (and that refusal is itself an audit row an admin can find)."""
    refused = api.client.get("/audit", headers=api.auth("vic"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    rows = api.client.get("/audit", params={"user": "vic", "action": "audit.list"},
                          headers=api.auth("ada", "admin")).json()
    assert [(r["user"], r["outcome"], r["status"]) for r in rows] == [("vic", "forbidden", 403)]


def test_filters_limit_and_newest_first(api: InProcessApi) -> None:
    """Filters by user, template, action and outcome; `limit` caps the rows, newest first; a bad limit is 400."""
    admin = api.auth("ada", "admin")
    viewer = api.auth("vera")
    for _ in range(3):
        api.client.get("/templates/daily-dev-scenario", headers=viewer)
    api.client.post("/packages/daily-dev-scenario/builds", json={"params": {"row_limit": "x"}}, headers=viewer)
    rows = api.client.get("/audit", params={"template": "daily-dev-scenario", "outcome": "bad_parameter"},
                          headers=admin).json()
    refused = {"row_limit": parameter_digests({"row_limit": "x"}, TEST_MASKING_KEY.encode())["row_limit"]}
    assert [(r["user"], r["action"], r["params"]) for r in rows] == [("vera", "builds.request", refused)]
    limited = api.client.get("/audit", params={"action": "audit.list", "limit": 2}, headers=admin).json()
    assert len(limited) == 2 and limited[0]["id"] > limited[1]["id"]
    assert api.client.get("/audit", params={"limit": 0}, headers=admin).status_code == 400
    assert api.audit(action="audit.list", user="ada")
