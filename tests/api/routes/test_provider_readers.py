"""Which users and roles may read which provider is configuration: a template reading a listed provider builds
and downloads only for its readers (a role includes the roles above it); the refusal is a 403, audited."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hfit_api.main import create_app
from tests.api.routes.conftest import PACKAGE_TEMPLATE, InProcessApi, ScriptedLauncher, service_settings

BUILDS = f"/packages/{PACKAGE_TEMPLATE}/builds"


def _api(tmp_path: Path, demo_source: str, readers: dict[str, list[str]]) -> tuple[TestClient, InProcessApi]:
    settings = service_settings(tmp_path, demo_source).model_copy(update={"provider_readers": readers})
    launcher = ScriptedLauncher()
    app = create_app(settings, launcher)
    client = TestClient(app)
    client.__enter__()
    return client, InProcessApi(client=client, service=app.state.service, launcher=launcher)


def test_only_readers_of_a_provider_build_and_download_its_templates(tmp_path: Path, demo_source: str,
                                                                      built_package: Path) -> None:
    """PROD_REPLICA readable by approvers and by 'vera': a viewer is refused (build, list, download), vera and
    an admin are not; an unlisted provider would stay open."""
    client, api = _api(tmp_path, demo_source, {"prod_replica": ["approver", "vera"]})
    try:
        version = api.publish_package(built_package)
        refused = client.post(BUILDS, json={"params": {"row_limit": 4}}, headers=api.auth("victor"))
        assert refused.status_code == 403 and "reads provider PROD_REPLICA" in refused.json()["error"]["message"]
        download = f"/packages/{PACKAGE_TEMPLATE}/versions/{version}"
        assert client.get(download, headers=api.auth("victor")).status_code == 403
        assert client.get(f"/packages/{PACKAGE_TEMPLATE}", headers=api.auth("victor")).status_code == 403
        assert client.post(BUILDS, json={"params": {"row_limit": 4}}, headers=api.auth("vera")).status_code == 202
        assert client.get(download, headers=api.auth("ada", "admin")).status_code == 200
        rows = api.audit(user="victor")
        assert rows and all(r.outcome != "ok" for r in rows)
    finally:
        client.__exit__(None, None, None)


def test_a_provider_not_listed_is_open(tmp_path: Path, demo_source: str) -> None:
    """Listing another provider restricts nothing else: a viewer still builds a PROD_REPLICA template."""
    client, api = _api(tmp_path, demo_source, {"OTHER_DB": ["admin"]})
    try:
        assert client.post(BUILDS, json={"params": {"row_limit": 4}}, headers=api.auth("vic")).status_code == 202
    finally:
        client.__exit__(None, None, None)
