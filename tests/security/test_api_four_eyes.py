"""Four eyes against the real app (in process): self-approval, approving unseen edits, taking over a repository
template and pruning approved packages through a draft's dry run are each refused, and the refusal audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hfit_api.main import create_app
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings

TEMPLATE = """\
templateName: {name}
description: four eyes
owner: qa-team
parameters:
  row_limit: {{type: int, default: 3, min: 1, max: 100}}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers ORDER BY id LIMIT :row_limit
retention: {{keep_versions: 1}}
"""


@pytest.fixture
def app(tmp_path: Path, demo_source: str) -> Iterator[InProcessApi]:
    launcher = ScriptedLauncher()
    application = create_app(service_settings(tmp_path, demo_source), launcher)
    with TestClient(application) as client:
        yield InProcessApi(client=client, service=application.state.service, launcher=launcher)


def approve(app: InProcessApi, name: str, content_hash: str, who: str) -> tuple[int, dict]:
    response = app.client.post(f"/templates/{name}/approve", json={"content_hash": content_hash},
                               headers=app.auth(who, "approver"))
    return response.status_code, response.json()


def test_an_approver_cannot_approve_their_own_template(app: InProcessApi) -> None:
    created = app.client.post("/templates", json={"yaml": TEMPLATE.format(name="own")},
                              headers=app.auth("olga", "approver")).json()
    status, body = approve(app, "own", created["content_hash"], "olga")
    assert status == 403 and "four eyes" in body["error"]["message"]
    assert [r.outcome for r in app.audit(action="templates.approve", user="olga")] == ["forbidden"]
    assert app.client.get("/templates/own", headers=app.auth("olga")).json()["status"] == "draft"


def test_the_last_editor_cannot_approve_and_an_edit_after_review_is_never_approved_unseen(app: InProcessApi) -> None:
    created = app.client.post("/templates", json={"yaml": TEMPLATE.format(name="edited")},
                              headers=app.auth("arthur", "author")).json()
    reviewed = created["content_hash"]
    # an approver who edits a draft is its last editor: someone else approves
    changed = app.client.put("/templates/edited", json={"yaml": TEMPLATE.format(name="edited").replace(
        "default: 3", "default: 4")}, headers=app.auth("betty", "approver")).json()
    assert changed["status"] == "draft" and changed["updated_by"] == "betty"
    assert approve(app, "edited", changed["content_hash"], "betty")[0] == 403
    # the hash reviewed before the edit is a conflict, with what changed and by whom
    status, body = approve(app, "edited", reviewed, "carl")
    assert status == 409 and "betty" in body["error"]["message"] and changed["content_hash"][:12] in \
        body["error"]["message"]
    assert app.client.get("/templates/edited", headers=app.auth("carl")).json()["status"] == "draft"
    status, body = approve(app, "edited", changed["content_hash"], "carl")
    assert status == 200 and body["approved_by"] == "carl"
    outcomes = [(r.user, r.outcome) for r in app.audit(action="templates.approve")]
    assert outcomes == [("betty", "forbidden"), ("carl", "conflict"), ("carl", "ok")]
    missing = app.client.post("/templates/edited/approve", headers=app.auth("carl"))
    assert missing.status_code in (400, 403)


def test_a_change_to_an_approved_template_is_a_revision_and_the_approved_content_keeps_building(
        app: InProcessApi) -> None:
    draft = app.client.post("/templates", json={"yaml": TEMPLATE.format(name="rev")},
                            headers=app.auth("arthur", "author")).json()
    approved = approve(app, "rev", draft["content_hash"], "carl")[1]
    proposal = app.client.put("/templates/rev", json={"yaml": TEMPLATE.format(name="rev").replace(
        "LIMIT :row_limit", "LIMIT 100")}, headers=app.auth("arthur")).json()
    assert proposal["status"] == "approved" and proposal["content_hash"] == approved["content_hash"]
    assert "LIMIT 100" in proposal["proposed_yaml"] and "LIMIT 100" not in proposal["yaml"]
    # viewers keep building the approved content, not the proposal
    build = app.client.post("/packages/rev/builds", json={"params": {}}, headers=app.auth("vera")).json()
    assert build["dry_run"] is False
    assert app.launcher.launched[-1][0].template.spec.content_hash() == approved["content_hash"]
    # someone else's pending revision is not overwritten
    other = app.client.put("/templates/rev", json={"yaml": TEMPLATE.format(name="rev")},
                           headers=app.auth("betty", "approver"))
    assert other.status_code == 409
    revision = proposal["proposed_revision"]["content_hash"]
    assert approve(app, "rev", revision, "arthur")[0] == 403
    status, body = approve(app, "rev", revision, "carl")
    assert status == 200 and "LIMIT 100" in body["yaml"] and body["proposed_revision"] is None


def test_an_author_cannot_take_over_a_repository_template(app: InProcessApi) -> None:
    name = "integration-test-suite"
    original = app.client.get(f"/templates/{name}", headers=app.auth("vera")).json()
    takeover = original["yaml"].replace("status: approved", "status: draft")
    proposal = app.client.put(f"/templates/{name}", json={"yaml": takeover}, headers=app.auth("mallory", "author"))
    assert proposal.status_code == 200 and proposal.json()["owner"] == original["owner"]
    for path in (f"/templates/{name}", f"/packages/{name}"):
        assert app.client.get(path, headers=app.auth("vera")).status_code == 200, path
    listed = app.client.get(f"/templates/{name}", headers=app.auth("vera")).json()
    assert listed["status"] == "approved" and listed["content_hash"] == original["content_hash"]
    build = app.client.post(f"/packages/{name}/builds", json={"params": {"row_limit": 2}},
                            headers=app.auth("vera"))
    assert build.status_code in (200, 202) and build.json()["dry_run"] is False
    # the proposer's own build is the approved content too: the proposal's retention never reaches a run
    pruning = original["yaml"] + "\nretention: {keep_versions: 1}\n"
    assert app.client.put(f"/templates/{name}", json={"yaml": pruning}, headers=app.auth("mallory")).status_code \
        == 200
    app.client.post(f"/packages/{name}/builds", json={"params": {"row_limit": 1}}, headers=app.auth("mallory"))
    job = app.launcher.launched[-1][0]
    assert job.template.spec.content_hash() == original["content_hash"] and not job.dry_run
    assert job.template.spec.retention.keep_versions != 1
    # an approver proposing a change cannot approve it themselves; that refusal is audited
    own = app.client.put("/templates/daily-dev-scenario", json={"yaml": app.client.get(
        "/templates/daily-dev-scenario", headers=app.auth("vera")).json()["yaml"].replace("description: ",
        "description: x ", 1)}, headers=app.auth("maxine", "approver")).json()
    status, body = approve(app, "daily-dev-scenario", own["proposed_revision"]["content_hash"], "maxine")
    assert status == 403 and "four eyes" in body["error"]["message"]
    assert app.audit(action="templates.approve", user="maxine")[0].outcome == "forbidden"


def test_a_drafts_dry_run_never_prunes(app: InProcessApi) -> None:
    """retention: {keep_versions: 1} on a draft does not reach the run: its dry run keeps every version."""
    app.client.post("/templates", json={"yaml": TEMPLATE.format(name="pruner")}, headers=app.auth("arthur", "author"))
    build = app.client.post("/packages/pruner/builds", json={"params": {}}, headers=app.auth("arthur")).json()
    assert build["dry_run"] is True
    job = app.launcher.launched[-1][0]
    assert job.dry_run and job.template.spec.retention.keep_versions >= 10**9
    assert job.template.spec.retention.max_age_days is None


def test_a_revision_proposed_against_older_content_is_not_approved_over_newer(app: InProcessApi) -> None:
    """The repository file changed (code review) after a revision was proposed: approving it would silently
    undo that change, so it is a conflict until the revision is proposed again on top."""
    name = "daily-dev-scenario"
    original = app.client.get(f"/templates/{name}", headers=app.auth("vera")).json()
    edited = original["yaml"].replace("description: ", "description: (api) ", 1)
    proposal = app.client.put(f"/templates/{name}", json={"yaml": edited}, headers=app.auth("erin", "author")).json()
    repository_file = next(p for p in app.settings.templates_dir.glob("*.yaml") if f"templateName: {name}" in
                           p.read_text())
    repository_file.write_text(repository_file.read_text().replace("description: ", "description: (git) ", 1))
    status, body = approve(app, name, proposal["proposed_revision"]["content_hash"], "carl")
    assert status == 409 and "proposed against" in body["error"]["message"]
    again = app.client.put(f"/templates/{name}", json={"yaml": edited}, headers=app.auth("erin")).json()
    assert approve(app, name, again["proposed_revision"]["content_hash"], "carl")[0] == 200
