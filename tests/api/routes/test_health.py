"""``/healthz`` and the OpenAPI document, in process."""

from __future__ import annotations

from tests.api.routes.conftest import InProcessApi

ROUTES = ("/auth/token", "/auth/me", "/templates", "/templates/validate", "/templates/{name}",
          "/templates/{name}/approve", "/packages/{template}", "/packages/{template}/versions/{version}",
          "/packages/{template}/builds", "/builds/{build_id}", "/alerts", "/audit", "/healthz")


def test_health_needs_no_token_and_reports_its_dependencies(api: InProcessApi) -> None:
    """Monitoring probes /healthz without a token; a store no build has created yet is reported, not an error."""
    response = api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["state_db"] == "ok"
    assert body["package_store"].startswith("missing")
    api.settings.package_store.mkdir(parents=True)
    assert api.client.get("/healthz").json()["package_store"] == "ok"


def test_openapi_lists_every_route_and_documents_400_not_422(api: InProcessApi) -> None:
    """Client generators read /openapi.json: every route is there, and refusals are the 400 error body."""
    schema = api.client.get("/openapi.json").json()
    for route in ROUTES:
        assert route in schema["paths"], route
    responses = [op.get("responses", {}) for ops in schema["paths"].values() for op in ops.values()]
    assert not any("422" in r for r in responses)
    assert schema["paths"]["/templates"]["post"]["responses"]["400"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ErrorPublic"}


def test_unknown_routes_answer_the_error_body(api: InProcessApi) -> None:
    """Every answer that is not a success has the same `{"error": {code, message, hint}}` shape."""
    response = api.client.get("/no-such-route")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
