"""``/templates``: listing, showing, validating, and the draft → approved lifecycle with its roles, in process."""

from __future__ import annotations

import yaml

from tests.api.routes.conftest import InProcessApi

TEMPLATE = """\
templateName: {name}
description: Customers and their orders (API test)
status: approved   # an author cannot approve by writing this
owner: qa-team
parameters:
  row_limit: {{type: int, default: 3, min: 1, max: 100}}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers ORDER BY id LIMIT :row_limit
  orders:
    provider: PROD_REPLICA
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
masking:
  customers.notes: redact_text
"""


def template(name: str) -> str:
    return TEMPLATE.format(name=name)


def test_listing_shows_repository_templates_with_status_and_parameters(api: InProcessApi) -> None:
    """Any user sees the templates of templates/ (`hfit pkg-tmpl list`) with status, source and typed parameters."""
    response = api.client.get("/templates", headers=api.auth("vera"))
    assert response.status_code == 200
    listing = {t["name"]: t for t in response.json()}
    assert set(listing) == {"integration-test-suite", "daily-dev-scenario", "payment-incident-2024-1015"}
    suite = listing["integration-test-suite"]
    assert suite["status"] == "approved" and suite["source"] == "repository"
    assert suite["parameters"]["row_limit"]["type"] == "int"


def test_show_returns_the_yaml_and_with_debug_the_compiled_sql_and_masking_plan(api: InProcessApi) -> None:
    """`hfit pkg-tmpl show --debug` shows the compiled SQL of every export and the masking plan, never rows."""
    plain = api.client.get("/templates/integration-test-suite", headers=api.auth("vera")).json()
    assert "templateName: integration-test-suite" in plain["yaml"]
    assert plain["compiled"] is None and plain["masking_plan"] is None
    shown = api.client.get("/templates/integration-test-suite", params={"debug": "true"},
                           headers=api.auth("vera")).json()
    assert shown["export_order"][0] == "customers" and "LIMIT" in shown["compiled"]["customers"]
    assert shown["masking_plan_error"] is None
    columns = {c["column"]: c for c in shown["masking_plan"]["customers"]["columns"]}
    assert columns["email"]["operator"] != "keep"


def test_draft_lifecycle_and_roles(api: InProcessApi) -> None:
    """Authors create drafts (whatever the YAML says), viewers cannot approve or use them, approvers approve
    (the hash covers the status), an edit makes the template a draft again; each step is audited."""
    name = "api-lifecycle"
    author, viewer, approver = api.auth("arthur", "author"), api.auth("vera"), api.auth("apollo", "approver")
    assert api.client.post("/templates", json={"yaml": template(name)}, headers=viewer).status_code == 403
    created = api.client.post("/templates", json={"yaml": template(name)}, headers=author)
    assert created.status_code == 201, created.text
    assert api.client.post("/templates", json={"yaml": template(name)}, headers=author).status_code == 409
    draft = created.json()
    assert draft["status"] == "draft" and draft["owner"] == "arthur" and draft["source"] == "api"
    assert "status: draft" in draft["yaml"] and "status: approved" not in draft["yaml"]
    mirrored = api.settings.home / "templates" / f"{name}.yaml"
    assert yaml.safe_load(mirrored.read_text())["status"] == "draft"

    approve = api.client.post(f"/templates/{name}/approve", headers=viewer)
    assert approve.status_code == 403 and approve.json()["error"]["code"] == "forbidden"
    download = api.client.get(f"/packages/{name}/versions/latest", headers=viewer)
    assert download.status_code == 403 and "is a draft" in download.json()["error"]["message"]
    assert api.client.post(f"/packages/{name}/builds", json={"params": {}}, headers=viewer).status_code == 403

    approved = api.client.post(f"/templates/{name}/approve", json={"content_hash": draft["content_hash"]},
                               headers=approver).json()
    assert approved["status"] == "approved" and approved["approved_by"] == "apollo"
    assert approved["content_hash"] != draft["content_hash"]
    assert yaml.safe_load(mirrored.read_text())["status"] == "approved"

    edited = template(name).replace("default: 3", "default: 2")
    updated = api.client.put(f"/templates/{name}", json={"yaml": edited}, headers=author).json()
    assert updated["status"] == "approved" and updated["content_hash"] == approved["content_hash"]
    assert updated["proposed_revision"]["proposed_by"] == "arthur"
    mismatch = api.client.put(f"/templates/{name}", json={"yaml": template("other-name")}, headers=author)
    assert mismatch.status_code == 400

    by_action = {(r.action, r.user, r.outcome) for r in api.audit(template=name)}
    assert {("templates.create", "arthur", "ok"), ("templates.approve", "vera", "forbidden"),
            ("templates.approve", "apollo", "ok"), ("templates.update", "arthur", "ok"),
            ("packages.download", "vera", "forbidden"), ("builds.request", "vera", "forbidden")} <= by_action
    assert [r.outcome for r in api.audit(action="templates.create", user="vera")] == ["forbidden"]


def test_invalid_templates_are_refused_with_line_numbers_and_not_stored(api: InProcessApi) -> None:
    """A template that does not validate gets the loader's file:line message; /validate stores nothing."""
    author = api.auth("arthur", "author")
    bad = template("api-broken").replace("SELECT * FROM orders WHERE", "DELETE FROM orders WHERE")
    response = api.client.post("/templates", json={"yaml": bad}, headers=author)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "template_invalid" and "line 13" in error["message"]
    validated = api.client.post("/templates/validate", json={"yaml": template("api-valid")}, headers=author)
    assert validated.json()["ok"] is True and validated.json()["exports"] == ["customers", "orders"]
    for name in ("api-broken", "api-valid"):
        missing = api.client.get(f"/templates/{name}", headers=author)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "template_not_found"


def test_editing_an_approved_repository_template_proposes_a_revision(api: InProcessApi) -> None:
    """An API edit of an approved templates/ file is a proposed revision: the repository content keeps its
    owner and keeps building for viewers until an approver approves the revision's hash."""
    name = "integration-test-suite"
    original = api.client.get(f"/templates/{name}", headers=api.auth("vera")).json()
    edited = original["yaml"].replace("description: ", "description: (edited) ", 1)
    updated = api.client.put(f"/templates/{name}", json={"yaml": edited}, headers=api.auth("erin", "author")).json()
    assert updated["status"] == "approved" and updated["source"] == "repository"
    assert updated["owner"] == original["owner"] and updated["content_hash"] == original["content_hash"]
    revision = updated["proposed_revision"]["content_hash"]
    kept = api.client.post(f"/packages/{name}/builds", json={"params": {}}, headers=api.auth("vera"))
    assert kept.status_code in (200, 202) and kept.json()["dry_run"] is False
    approved = api.client.post(f"/templates/{name}/approve", json={"content_hash": revision},
                               headers=api.auth("apollo", "approver")).json()
    assert approved["owner"] == original["owner"] and "(edited)" in approved["yaml"]
    listed = {t["name"]: t for t in api.client.get("/templates", headers=api.auth("vera")).json()}
    assert listed[name]["status"] == "approved" and listed[name]["content_hash"] == approved["content_hash"]


def test_template_names_in_urls_are_validated(api: InProcessApi) -> None:
    """A name that is not a template name (upper case, dots leading out) is a 400, never a file lookup."""
    for path in ("/templates/Integration-Test-Suite", "/templates/..%2f..%2fconfig.yaml", "/templates/%2e%2e"):
        response = api.client.get(path, headers=api.auth("vera"))
        assert response.status_code in (400, 404), path
        assert response.json()["error"]["code"] in ("invalid_request", "not_found", "template_not_found"), path


def test_validate_reports_the_findings_of_hfit_pkg_tmpl_validate(api: InProcessApi) -> None:
    """/validate runs the offline checks of `hfit pkg-tmpl validate` and returns each finding with its line:
    an unknown masking operator, an undeclared :placeholder and a provider the service does not configure are
    errors (ok is false), an unused parameter a warning; a clean template has no findings."""
    author = api.auth("arthur", "author")
    lines = (template("api-lint")
             .replace("  row_limit: {type: int, default: 3, min: 1, max: 100}",
                      "  row_limit: {type: int, default: 3, min: 1, max: 100}\n  unused_knob: {type: str, default: x}")
             .replace("LIMIT :row_limit", "LIMIT :row_limt")
             .replace("    provider: PROD_REPLICA\n    query: SELECT * FROM orders",
                      "    provider: ANALYTICS\n    query: SELECT * FROM orders")
             .replace("customers.notes: redact_text", "customers.notes: redact_txt")).splitlines()
    response = api.client.post("/templates/validate", json={"yaml": "\n".join(lines) + "\n"}, headers=author)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False

    def line_with(text: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if text in line)

    found = {(f["severity"], f["field"], f["line"]) for f in body["findings"]}
    assert found == {
        ("error", "masking.customers.notes", line_with("redact_txt")),
        ("error", "exports.customers.query", line_with(":row_limt")),
        ("warning", "parameters.unused_knob", line_with("unused_knob")),
        ("error", "exports.orders.provider", line_with("ANALYTICS")),
    }
    messages = {f["field"]: f["message"] for f in body["findings"]}
    assert "did you mean 'redact_text'?" in messages["masking.customers.notes"]
    assert "ANALYTICS" in messages["exports.orders.provider"] and "PROD_REPLICA" in messages["exports.orders.provider"]
    assert {f["source"] for f in body["findings"]} == {"template.yaml"}

    clean = api.client.post("/templates/validate", json={"yaml": template("api-clean")}, headers=author).json()
    assert clean["ok"] is True and clean["findings"] == []
