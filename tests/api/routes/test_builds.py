"""Builds: ``POST /packages/{template}/builds`` and ``GET /builds/{id}``, with the launcher scripted in place of
Dagster (a real run through the API is the end-to-end tier, tests/api/test_packages.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hfit_api.main import create_app
from hfit_dagster.errors import ProviderError
from hfit_dagster.package.manifest import PARAMETER_DIGEST, parameter_digests
from hfit_dagster.template.builtins import BUILTINS
from tests.api.routes.conftest import PACKAGE_TEMPLATE, InProcessApi, ScriptedLauncher, service_settings
from tests.api.routes.test_templates import template
from tests.conftest import TEST_MASKING_KEY

BUILDS = f"/packages/{PACKAGE_TEMPLATE}/builds"


def test_a_build_is_launched_joined_reported_and_then_served_fresh(api: InProcessApi, built_package: Path) -> None:
    """202 and a launched run; an identical request while it runs joins it; its status follows the run; once
    it succeeded, the same request within the freshness window gets 200 and that package, with no new run."""
    vera, vic = api.auth("vera"), api.auth("vic")
    first = api.client.post(BUILDS, json={"params": {"row_limit": 4}}, headers=vera)
    assert first.status_code == 202 and first.json()["outcome"] == "launched"
    assert first.json()["status"] == "queued" and first.json()["dry_run"] is False
    joined = api.client.post(BUILDS, json={"params": {"row_limit": "4"}}, headers=vic)
    assert joined.status_code == 202
    assert joined.json()["outcome"] == "joined" and joined.json()["id"] == first.json()["id"]
    [(job, events)] = api.launcher.launched
    assert job.params == {"row_limit": "4"} and job.requester == "vera" and not job.dry_run
    assert job.template.spec.name == PACKAGE_TEMPLATE

    status = f"/builds/{job.build_id}"
    events.started(job.build_id)
    assert api.client.get(status, headers=vic).json()["status"] == "running"
    version = api.publish_package(built_package)
    events.succeeded(job.build_id, version, "run-1")
    done = api.client.get(status, headers=vic).json()
    assert done["status"] == "succeeded" and done["version"] == version and done["run_id"] == "run-1"
    assert done["download_url"] == f"/packages/{PACKAGE_TEMPLATE}/versions/{version}"

    again = api.client.post(BUILDS, json={"params": {"row_limit": 4}}, headers=vera)
    assert again.status_code == 200
    assert again.json()["outcome"] == "fresh" and again.json()["fresh"] is True and again.json()["version"] == version
    assert len(api.launcher.launched) == 1
    outcomes = [r.outcome for r in api.audit(action="builds.request")]
    assert outcomes == ["launched", "joined", "fresh"]
    assert [r.outcome for r in api.audit(action="build.finished")] == ["succeeded"]


def test_a_package_published_outside_the_service_is_served_fresh(api: InProcessApi) -> None:
    """A package `hfit build` (or a schedule) published within the freshness window, for the same template
    content and parameters, is what the service hands out: 200 `fresh`, no run."""
    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.template.loader import resolve_template

    params = {"row_limit": "3", "since": "2024-01-01 00:00:00"}
    spec = resolve_template(PACKAGE_TEMPLATE, api.settings.templates_dir).spec
    version = build_package(spec, params, api.settings).path.name
    response = api.client.post(BUILDS, json={"params": params}, headers=api.auth("vera"))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "fresh" and response.json()["version"] == version
    assert api.launcher.launched == []
    other = api.client.post(BUILDS, json={"params": {**params, "row_limit": "2"}}, headers=api.auth("vera"))
    assert other.status_code == 202 and len(api.launcher.launched) == 1


def test_bad_parameters_are_refused_before_any_run(api: InProcessApi) -> None:
    """A parameter that does not parse is a 400 `bad_parameter` naming it; the refusal is audited with the
    parameters as sent, kept by the manifest's rule (a declared parameter's value as its keyed digest, a built-in
    knob the template does not declare as given), and nothing is launched."""
    sent = {"row_limit": "x", "sample_rate": "0.5"}
    response = api.client.post(BUILDS, json={"params": sent}, headers=api.auth("vera"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_parameter"
    assert "row_limit" in response.json()["error"]["message"]
    assert api.launcher.launched == []
    [refused] = api.audit(action="builds.request")
    visible = set(BUILTINS) - {"since", "min_lifetime_value", "max_lifetime_value", "row_limit"}
    assert refused.outcome == "bad_parameter"
    assert refused.params == parameter_digests(sent, TEST_MASKING_KEY.encode(), visible)
    assert refused.params["row_limit"].startswith(PARAMETER_DIGEST) and refused.params["sample_rate"] == "0.5"


def test_a_failed_run_reports_its_hfit_error(api: InProcessApi) -> None:
    """A failed run shows as failed with the hfit error's code, message and hint, and no version."""
    response = api.client.post(BUILDS, json={"params": {}}, headers=api.auth("vera"))
    [(job, events)] = api.launcher.launched
    events.started(job.build_id)
    events.failed(job.build_id, ProviderError("provider 'BILLING' is not configured", hint="set it"), "run-2")
    build = api.client.get(f"/builds/{response.json()['id']}", headers=api.auth("vera")).json()
    assert build["status"] == "failed" and build["version"] is None and build["download_url"] is None
    assert build["error"] == {"code": "provider_error", "message": "provider 'BILLING' is not configured",
                              "hint": "set it"}
    assert [r.outcome for r in api.audit(action="build.finished")] == ["provider_error"]


def test_an_authors_draft_builds_as_a_dry_run_only_they_can_follow(api: InProcessApi) -> None:
    """An author may build their own draft (a dry run); viewers may not build it or see that build."""
    name = "api-dry-run"
    author, viewer = api.auth("arthur", "author"), api.auth("vera")
    assert api.client.post("/templates", json={"yaml": template(name)}, headers=author).status_code == 201
    assert api.client.post(f"/packages/{name}/builds", json={"params": {}}, headers=viewer).status_code == 403
    response = api.client.post(f"/packages/{name}/builds", json={"params": {"row_limit": 2}}, headers=author)
    assert response.status_code == 202 and response.json()["dry_run"] is True
    [(job, _events)] = api.launcher.launched
    assert job.dry_run and job.requester == "arthur"
    assert api.client.get(f"/builds/{job.build_id}", headers=author).status_code == 200
    hidden = api.client.get(f"/builds/{job.build_id}", headers=viewer)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"


def test_an_unknown_build_is_404(api: InProcessApi) -> None:
    """`hfit pkg-download` polling a build id the service does not know gets the error body, not a 500."""
    response = api.client.get("/builds/0123456789abcdef", headers=api.auth("vera"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_launcher_is_closed_and_interrupted_builds_fail_when_the_app_restarts(tmp_path: Path,
                                                                                  demo_source: str) -> None:
    """Stopping the service stops its launcher; a build it left queued is reported failed ("interrupted")
    when the service starts again, instead of staying queued for ever."""
    settings = service_settings(tmp_path, demo_source)
    launcher = ScriptedLauncher()
    with TestClient(create_app(settings, launcher)) as client:
        api = InProcessApi(client=client, service=client.app.state.service, launcher=launcher)  # type: ignore[attr-defined]
        build_id = client.post(BUILDS, json={"params": {}}, headers=api.auth("vera")).json()["id"]
        token = api.user("vera", "viewer")
    assert launcher.closed
    with TestClient(create_app(settings, ScriptedLauncher())) as client:
        build = client.get(f"/builds/{build_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert build["status"] == "failed" and "interrupted" in build["error"]["message"]


def test_a_build_whose_run_was_submitted_is_followed_again_after_a_restart(tmp_path: Path, demo_source: str) -> None:
    """A build whose Dagster run was submitted before the service stopped keeps going in the instance: the
    restarted service follows that run again (and `/builds` says queued, then what the run says), while a build
    that never got a run is failed as interrupted."""
    settings = service_settings(tmp_path, demo_source)
    launcher = ScriptedLauncher()
    with TestClient(create_app(settings, launcher)) as client:
        api = InProcessApi(client=client, service=client.app.state.service, launcher=launcher)  # type: ignore[attr-defined]
        vera = api.auth("vera")
        submitted = client.post(BUILDS, json={"params": {"row_limit": 2}}, headers=vera).json()["id"]
        never_submitted = client.post(BUILDS, json={"params": {"row_limit": 3}}, headers=vera).json()["id"]
        [(job, events), _] = launcher.launched
        events.submitted(job.build_id, "run-0001")
        assert client.get(f"/builds/{submitted}", headers=vera).json()["run_id"] == "run-0001"
    again = ScriptedLauncher()
    with TestClient(create_app(settings, again)) as client:
        assert again.followed == [(submitted, "run-0001")]
        followed = client.get(f"/builds/{submitted}", headers=vera).json()
        lost = client.get(f"/builds/{never_submitted}", headers=vera).json()
        assert followed["status"] == "queued" and followed["run_id"] == "run-0001"
        assert lost["status"] == "failed" and "interrupted" in lost["error"]["message"]
        client.app.state.service.builds.started(submitted)  # type: ignore[attr-defined]
        assert client.get(f"/builds/{submitted}", headers=vera).json()["status"] == "running"
