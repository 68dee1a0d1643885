"""Templates through the API: drafts, approval, roles, and what a draft may (not) do."""

from __future__ import annotations

import yaml

from tests.api.service_harness import EDITABLE_TEMPLATE, RunningServer, wait_for_build

TEMPLATE = """\
templateName: {name}
description: Customers and their orders (API test)
status: approved   # an author cannot approve by writing this
owner: qa-team
parameters:
  row_limit: {{type: int, default: 3, min: 1, max: 100}}
exports:
  customers:
    provider: {provider}
    query: SELECT * FROM customers ORDER BY id LIMIT :row_limit
  orders:
    provider: {provider}
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
masking:
  customers.notes: redact_text
"""


def template(name: str, provider: str = "PROD_REPLICA") -> str:
    return TEMPLATE.format(name=name, provider=provider)


def test_listing_shows_repository_templates(server: RunningServer) -> None:
    """Any user sees the templates of templates/ with status, folder and parameters."""
    with server.client(server.user("vera", "viewer")) as client:
        listing = {t["name"]: t for t in client.get("/templates").json()}
        shown = client.get("/templates/integration-test-suite", params={"debug": "true"}).json()
    assert listing["integration-test-suite"]["status"] == "approved"
    assert listing["integration-test-suite"]["source"] == "repository"
    assert listing["integration-test-suite"]["parameters"]["row_limit"]["type"] == "int"
    assert "templateName: integration-test-suite" in shown["yaml"]
    assert shown["export_order"][0] == "customers" and "LIMIT" in shown["compiled"]["customers"]


def test_draft_lifecycle_roles_and_audit(server: RunningServer) -> None:
    """Authors create drafts; viewers can neither approve nor use them; approvers approve; an edit re-drafts."""
    author = server.user("arthur", "author")
    viewer = server.user("vera", "viewer")
    approver = server.user("apollo", "approver")
    name = "api-lifecycle"
    with server.client(viewer) as client:
        assert client.post("/templates", json={"yaml": template(name)}).status_code == 403
    with server.client(author) as client:
        created = client.post("/templates", json={"yaml": template(name)})
        assert created.status_code == 201, created.text
        assert client.post("/templates", json={"yaml": template(name)}).status_code == 409
    draft = created.json()
    assert draft["status"] == "draft" and draft["owner"] == "arthur" and draft["source"] == "api"
    assert "status: draft" in draft["yaml"] and "status: approved" not in draft["yaml"]
    mirrored = server.home / "templates" / f"{name}.yaml"
    assert yaml.safe_load(mirrored.read_text())["status"] == "draft"

    with server.client(viewer) as client:
        approve = client.post(f"/templates/{name}/approve")
        download = client.get(f"/packages/{name}/versions/latest")
        build = client.post(f"/packages/{name}/builds", json={"params": {}})
        listing = client.get(f"/packages/{name}")
    assert approve.status_code == 403 and approve.json()["error"]["code"] == "forbidden"
    assert download.status_code == 403 and "is a draft" in download.json()["error"]["message"]
    assert build.status_code == 403 and listing.status_code == 403

    with server.client(approver) as client:
        approved = client.post(f"/templates/{name}/approve", json={"content_hash": draft["content_hash"]}).json()
    assert approved["status"] == "approved" and approved["approved_by"] == "apollo"
    assert approved["content_hash"] != draft["content_hash"]  # the hash covers the status
    assert yaml.safe_load(mirrored.read_text())["status"] == "approved"

    edited = template(name).replace("default: 3", "default: 2")
    with server.client(author) as client:
        updated = client.put(f"/templates/{name}", json={"yaml": edited}).json()
        mismatch = client.put(f"/templates/{name}", json={"yaml": template("other-name")})
    assert updated["status"] == "approved" and updated["proposed_revision"]["proposed_by"] == "arthur"
    assert mismatch.status_code == 400
    with server.client(viewer) as client:  # the approved content keeps building until the revision is approved
        assert client.post(f"/packages/{name}/builds", json={"params": {}}).status_code in (200, 202)

    by_action = {(r.action, r.user, r.outcome) for r in server.audit(template=name)}
    assert ("templates.create", "arthur", "ok") in by_action
    assert [r.outcome for r in server.audit(action="templates.create", user="vera")] == ["forbidden"]
    assert ("templates.approve", "vera", "forbidden") in by_action
    assert ("templates.approve", "apollo", "ok") in by_action
    assert ("templates.update", "arthur", "ok") in by_action
    assert ("packages.download", "vera", "forbidden") in by_action
    assert ("builds.request", "vera", "forbidden") in by_action


def test_invalid_yaml_is_refused_with_line_numbers(server: RunningServer) -> None:
    """A template that does not validate is refused with the loader's file:line message, and not stored."""
    bad = template("api-broken").replace("SELECT * FROM orders WHERE", "DELETE FROM orders WHERE")
    with server.client(server.user("arthur", "author")) as client:
        response = client.post("/templates", json={"yaml": bad})
        validated = client.post("/templates/validate", json={"yaml": template("api-valid")})
        missing = client.get("/templates/api-broken")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "template_invalid" and "line 13" in error["message"]
    assert validated.json()["ok"] is True and validated.json()["exports"] == ["customers", "orders"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "template_not_found"


def test_owner_dry_runs_a_draft_that_nobody_else_can_download(server: RunningServer) -> None:
    """An author may build their own draft (a dry run); its package never reaches a viewer."""
    author = server.user("arthur", "author")
    name = "api-dry-run"
    with server.client(author) as client:
        assert client.post("/templates", json={"yaml": template(name)}).status_code == 201
        response = client.post(f"/packages/{name}/builds", json={"params": {"row_limit": 2}})
        assert response.status_code == 202, response.text
        build = wait_for_build(client, response.json())
        assert build["status"] == "succeeded" and build["dry_run"] is True, (build["error"], server.log_tail())
        own = client.get(f"/packages/{name}/versions/latest")
        assert own.status_code == 200 and own.content.startswith(b"-- hfit package")
    # approving the template later does not turn the draft's package into an approved one
    with server.client(server.user("apollo", "approver")) as client:
        shown = client.get(f"/templates/{name}").json()
        assert client.post(f"/templates/{name}/approve", json={"content_hash": shown["content_hash"]}).status_code \
            == 200
    with server.client(server.user("vera", "viewer")) as client:
        assert client.get(f"/packages/{name}/versions/{build['version']}").status_code == 403
        assert client.get(f"/packages/{name}/versions/latest").status_code == 404
        assert client.get(f"/packages/{name}").json()["versions"] == []
        assert client.get(f"/builds/{build['id']}").status_code == 404


def test_failed_build_reports_why_and_publishes_nothing(server: RunningServer) -> None:
    """A run that fails shows as failed with the hfit error (not a traceback, not data); nothing is published."""
    name = "api-no-provider"
    with server.client(server.user("arthur", "author")) as client:
        assert client.post("/templates", json={"yaml": template(name, provider="BILLING")}).status_code == 201
        build = wait_for_build(client, client.post(f"/packages/{name}/builds", json={"params": {}}).json())
    assert build["status"] == "failed" and build["version"] is None and build["run_id"]
    assert build["error"]["code"] == "provider_error"
    assert "provider 'BILLING' is not configured" in build["error"]["message"]
    assert "Traceback" not in build["error"]["message"]
    assert not (server.store / name).exists() or not any((server.store / name).iterdir())
    finished = server.audit(action="build.finished", template=name)
    assert finished and finished[-1].outcome == "provider_error"


def test_editing_an_approved_repository_template_proposes_a_revision(server: RunningServer) -> None:
    """An API edit of an approved templates/ file is a proposed revision; the approved content keeps building
    (and keeps its owner) until another user approves the revision's hash."""
    name = EDITABLE_TEMPLATE
    with server.client(server.user("vera", "viewer")) as client:
        original = client.get(f"/templates/{name}").json()
    assert original["status"] == "approved" and original["source"] == "repository"
    edited = original["yaml"].replace("description: ", "description: (edited) ", 1)
    with server.client(server.user("erin", "author")) as client:
        updated = client.put(f"/templates/{name}", json={"yaml": edited}).json()
    assert updated["status"] == "approved" and updated["owner"] == original["owner"]
    assert "(edited)" in updated["proposed_yaml"] and not updated["description"].startswith("(edited)")
    with server.client(server.user("vera", "viewer")) as client:
        kept = client.post(f"/packages/{name}/builds", json={"params": {}})
    assert kept.status_code in (200, 202) and kept.json()["dry_run"] is False
    with server.client(server.user("apollo", "approver")) as client:
        approved = client.post(f"/templates/{name}/approve",
                               json={"content_hash": updated["proposed_revision"]["content_hash"]}).json()
    assert approved["description"].startswith("(edited)")
    assert approved["status"] == "approved" and approved["approved_by"] == "apollo"
    with server.client(server.user("vera", "viewer")) as client:
        listed = {t["name"]: t for t in client.get("/templates").json()}
    assert listed[name]["status"] == "approved" and listed[name]["content_hash"] == approved["content_hash"]
