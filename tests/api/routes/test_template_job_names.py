"""A template made through the API whose Dagster job name another template already has is refused when it is
created, with a message naming that template, instead of being stored and then left out of the code location."""

from __future__ import annotations

from tests.api.routes.conftest import InProcessApi
from tests.api.routes.test_templates import template


def test_a_new_template_whose_job_name_is_taken_is_refused_with_409(api: InProcessApi) -> None:
    """integration_test_suite and integration.test.suite would both be job build_integration_test_suite, which the
    repository's integration-test-suite has; api-probe's job is api_probe's once api_probe exists. Each is
    refused 409 naming the template that has the job, nothing is stored or mirrored, and a name that differs in
    a letter is created."""
    author = api.auth("arthur", "author")
    for name, holder in (("integration_test_suite", "integration-test-suite"),
                         ("integration.test.suite", "integration-test-suite")):
        response = api.client.post("/templates", json={"yaml": template(name)}, headers=author)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "conflict"
        assert f"which template '{holder}' already has" in error["message"]
        assert "build_integration_test_suite" in error["message"] and holder in error["hint"]
        assert api.client.get(f"/templates/{name}", headers=author).status_code == 404
        assert not (api.settings.home / "templates" / f"{name}.yaml").exists()

    assert api.client.post("/templates", json={"yaml": template("api_probe")}, headers=author).status_code == 201
    taken = api.client.post("/templates", json={"yaml": template("api-probe")}, headers=author)
    assert taken.status_code == 409 and "'api_probe'" in taken.json()["error"]["message"]
    assert api.client.post("/templates", json={"yaml": template("api-probe2")}, headers=author).status_code == 201
    refused = [row.outcome for row in api.audit(action="templates.create", user="arthur")]
    assert refused.count("conflict") == 3
