"""Audit and error shape against the real app (in process): every request, allowed or refused, reads included,
leaves exactly one audit row; a refused Range is audited as refused and answered in JSON like every error;
state files are private."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

from hfit_api.dagster_instance import prepare_instance
from hfit_dagster.cli.api_client import Credentials, CredentialStore
from tests.api.routes.conftest import PACKAGE_TEMPLATE, InProcessApi
from tests.api.routes.conftest import api as api  # noqa: PLC0414 - the in-process app fixture
from tests.api.routes.conftest import built_package as built_package  # noqa: PLC0414

URL = f"/packages/{PACKAGE_TEMPLATE}/versions"


def rows(api: InProcessApi) -> int:
    return len(api.audit())


def call(api: InProcessApi, method: str, path: str, **kwargs: Any) -> Any:
    """Send one request; return its response after checking that it left exactly one audit row."""
    before = rows(api)
    response = api.client.request(method, path, **kwargs)
    after = api.audit()
    assert len(after) == before + 1, (method, path, response.status_code, [r.action for r in after[before:]])
    return response, after[-1]


def test_every_request_allowed_or_refused_leaves_exactly_one_row(api: InProcessApi, built_package: Path) -> None:
    version = api.publish_package(built_package)
    vera = api.auth("vera")
    build = api.client.post(f"/packages/{PACKAGE_TEMPLATE}/builds", json={"params": {"row_limit": 3}},
                            headers=vera).json()
    reads = [
        ("GET", "/auth/me", "auth.me"), ("GET", "/templates", "templates.list"),
        ("GET", f"/templates/{PACKAGE_TEMPLATE}", "templates.show"),
        ("GET", f"/templates/{PACKAGE_TEMPLATE}?debug=true", "templates.show"),
        ("GET", f"/packages/{PACKAGE_TEMPLATE}", "packages.list"),
        ("GET", f"/builds/{build['id']}", "builds.status"), ("GET", "/healthz", "health"),
        ("GET", f"{URL}/{version}", "packages.download"),
    ]
    for method, path, action in reads:
        response, row = call(api, method, path, headers=vera)
        assert response.status_code == 200, (path, response.text)
        who = None if action == "health" else "vera"  # /healthz needs no token, so it reads none
        assert (row.action, row.user, row.outcome) == (action, who, "ok"), path
    debug = api.audit(action="templates.show", user="vera")[-1]
    assert "debug=true" in debug.detail and debug.template == PACKAGE_TEMPLATE

    refusals = [
        ("GET", "/auth/me", {}, 401), ("GET", "/no/such/route", {"headers": vera}, 404),
        ("DELETE", "/templates", {"headers": vera}, 405),
        ("POST", "/templates", {"headers": vera, "json": {"yaml": "x"}}, 403),
        ("POST", "/auth/token", {"json": {"nope": 1}}, 400),
        ("POST", "/auth/token", {"content": b"{" * 40000, "headers": {"Content-Type": "application/json"}}, 413),
        ("GET", f"{URL}/{version}", {"headers": {**vera, "Range": "bytes=0-1,5-9"}}, 416),
        ("GET", f"{URL}/{version}", {"headers": {**vera, "Range": "bytes=99999999-"}}, 416),
        ("GET", f"{URL}/{version}", {"headers": {**vera, "Range": "lines=1-2"}}, 416),
        ("GET", "/builds/not-a-build", {"headers": vera}, 404),
    ]
    for method, path, kwargs, status in refusals:
        response, row = call(api, method, path, **kwargs)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/json", path
        assert set(response.json()) == {"error"} and response.json()["error"]["code"], path
        assert row.status == status and row.outcome != "ok", (path, row.outcome)


def test_a_refused_range_is_audited_as_refused_and_a_good_one_with_its_bytes(api: InProcessApi,
                                                                                built_package: Path) -> None:
    version = api.publish_package(built_package)
    vera = api.auth("vera")
    full = api.client.get(f"{URL}/{version}", headers=vera)
    sha = hashlib.sha256(full.content).hexdigest()
    refused, row = call(api, "GET", f"{URL}/{version}", headers={**vera, "Range": f"bytes={len(full.content)}-"})
    assert refused.status_code == 416 and refused.json()["error"]["code"] == "range_not_satisfiable"
    assert refused.headers["content-range"] == f"bytes */{len(full.content)}"
    assert (row.action, row.outcome, row.bytes) == ("packages.download", "range_not_satisfiable", None)
    part, row = call(api, "GET", f"{URL}/{version}", headers={**vera, "Range": "bytes=10-19", "If-Range": f'"{sha}"'})
    assert part.status_code == 206 and part.content == full.content[10:20] and row.bytes == 10


def test_state_files_are_private(api: InProcessApi, tmp_path: Path) -> None:
    home = api.settings.home
    assert stat.S_IMODE((home / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    prepare_instance(api.settings)
    assert stat.S_IMODE(api.settings.dagster_instance_dir.stat().st_mode) == 0o700
    config = tmp_path / "config"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    CredentialStore(config).save(Credentials(server="http://x", token="hfit_secret"))
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "credentials.json").stat().st_mode) == 0o600
