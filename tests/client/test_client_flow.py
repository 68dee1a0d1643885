"""The `hfit` client as users run it (subprocesses) against a real `hfit serve`."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest

from hfit_dagster.package.manifest import PARAMETER_DIGEST
from tests.api.service_harness import HFIT, RunningServer, free_port
from tests.conftest import MARIADB

TEAM_TEMPLATE = """\
templateName: team-shared-scenario
description: Recent customers with orders and items (shared by the team)
owner: team-a
parameters:
  row_limit: {type: int, default: 10, min: 1, max: 1000}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers ORDER BY id LIMIT :row_limit
  orders:
    provider: PROD_REPLICA
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
  order_items:
    provider: PROD_REPLICA
    query: SELECT * FROM order_items WHERE order_id IN :orders.id
masking:
  customers.notes: redact_text
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:{result.stdout[-2000:]}\nstderr:{result.stderr}"
    return result


@pytest.mark.mariadb
def test_whole_flow_from_users_to_mariadb_with_an_audit_row_for_every_step(
        server: RunningServer, tmp_path: Path, mariadb_database: Any) -> None:
    """Admin creates users; an author logs in and creates a template; an approver approves it; a viewer
    downloads it with parameters straight into MariaDB; the audit log has a row for every step."""
    admin_token = ok(server.cli("admin", "create-user", "root-admin", "--role", "admin")).stdout.strip()
    assert admin_token.startswith("hfit_")
    for name, role in (("ann", "author"), ("abe", "approver"), ("val", "viewer")):
        created = ok(server.cli("admin", "create-user", name, "--role", role, "--password-stdin",
                                input=f"pw-of-{name}\n"))
        assert created.stdout.strip().startswith("hfit_") and f"created {role} {name}" in created.stderr
    listing = ok(server.cli("admin", "list-users")).stdout
    assert "ann" in listing and "approver" in listing and "hfit_" not in listing

    xdg = {name: tmp_path / f"xdg-{name}" for name in ("ann", "abe", "val")}
    ok(server.cli("login", xdg=xdg["ann"], env={"HFIT_USERNAME": "ann", "HFIT_PASSWORD": "pw-of-ann"}))
    ok(server.cli("login", xdg=xdg["abe"], input="abe\npw-of-abe\n"))  # prompted
    ok(server.cli("login", xdg=xdg["val"], env={"HFIT_USERNAME": "val", "HFIT_PASSWORD": "pw-of-val"}))

    template_file = tmp_path / "team-shared-scenario.yaml"
    template_file.write_text(TEAM_TEMPLATE)
    assert "created team-shared-scenario (draft" in ok(server.cli("pkg-tmpl", "create", str(template_file),
                                                                 xdg=xdg["ann"])).stdout
    denied = server.cli("pkg-download", "team-shared-scenario", xdg=xdg["val"])
    assert denied.returncode == 2 and "is a draft" in denied.stderr
    shown = ok(server.cli("pkg-tmpl", "show", "team-shared-scenario", xdg=xdg["abe"]))
    reviewed = shown.stderr.split("content hash ", 1)[1][:64]
    stale = server.cli("pkg-tmpl", "approve", "team-shared-scenario", "--content-hash", "0" * 12, xdg=xdg["abe"])
    assert stale.returncode != 0 and "not the 000000000000 you named" in stale.stderr
    assert "approved team-shared-scenario" in ok(server.cli("pkg-tmpl", "approve", "team-shared-scenario",
                                                            "--content-hash", reviewed[:16], xdg=xdg["abe"])).stdout

    database = mariadb_database()
    env = {**server.env, "XDG_CONFIG_HOME": str(xdg["val"])}
    pipeline = (f"{HFIT} pkg-download team-shared-scenario row_limit=5 "
                f"| mariadb -h{MARIADB['host']} -P{MARIADB['port']} -u{MARIADB['user']} {database}")
    loaded = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], env=env, capture_output=True, text=True,
                            timeout=180, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    with pymysql.connect(**MARIADB, database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM customers")
        assert cur.fetchone()[0] == 5
        cur.execute("SELECT COUNT(*) FROM order_items oi LEFT JOIN orders o ON o.id = oi.order_id WHERE o.id IS NULL")
        assert cur.fetchone()[0] == 0

    steps = {(r.action, r.user, r.outcome) for r in server.audit()}
    for name in ("ann", "abe", "val"):
        assert ("auth.token", name, "ok") in steps
    expected = [("templates.create", "ann", "ok"), ("builds.request", "val", "forbidden"),
                ("templates.approve", "abe", "ok"),
                ("builds.request", "val", "launched"), ("build.finished", "val", "succeeded"),
                ("packages.download", "val", "ok")]
    rows = server.audit(template="team-shared-scenario")
    seen = [(r.action, r.user, r.outcome) for r in rows]
    for step in expected:
        assert step in seen, step
    download = [r for r in rows if r.action == "packages.download" and r.outcome == "ok"][-1]
    assert download.bytes and download.bytes > 0
    assert download.params["row_limit"].startswith(PARAMETER_DIGEST)  # the manifest's keyed digest, not the value
    assert download.client == "127.0.0.1" and download.at is not None
    request = [r for r in rows if r.action == "builds.request" and r.outcome == "launched"][-1]
    assert request.params == download.params  # the manifest's digests: the request matches the package it built


def test_login_whoami_logout(server: RunningServer, tmp_path: Path) -> None:
    """Login saves the token with mode 0600; whoami shows the user; logout revokes it on the server."""
    server.user("lou", "author", password="lou-password")
    xdg = tmp_path / "xdg"
    result = ok(server.cli("login", xdg=xdg, env={"HFIT_USERNAME": "lou", "HFIT_PASSWORD": "lou-password"}))
    assert "logged in to" in result.stderr and "lou (author)" in result.stderr
    credentials = xdg / "hfit" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    saved = json.loads(credentials.read_text())
    assert saved["server"] == server.url and saved["user"] == "lou" and saved["token"].startswith("hfit_")
    assert "lou (author) at" in ok(server.cli("whoami", xdg=xdg)).stdout
    ok(server.cli("logout", xdg=xdg))
    assert not credentials.exists()
    assert httpx.get(f"{server.url}/auth/me", headers={"Authorization": f"Bearer {saved['token']}"}).status_code == 401
    after = server.cli("whoami", xdg=xdg)
    assert after.returncode == 2 and "not logged in" in after.stderr
    wrong = server.cli("login", xdg=xdg, env={"HFIT_USERNAME": "lou", "HFIT_PASSWORD": "nope"})
    assert wrong.returncode == 2 and "wrong user name or password" in wrong.stderr and "Traceback" not in wrong.stderr


def test_exit_codes_say_what_went_wrong(server: RunningServer, viewer_xdg: Path, tmp_path: Path) -> None:
    """Scripts can tell failures apart: auth 2, not found 4, bad params 5, build failed 9, unreachable 11."""
    author = server.user("cora", "author")
    approver = server.user("abel", "approver")
    broken = TEAM_TEMPLATE.replace("team-shared-scenario", "broken-provider").replace("PROD_REPLICA", "BILLING")
    with server.client(author) as client:
        created = client.post("/templates", json={"yaml": broken})
        assert created.status_code == 201
    with server.client(approver) as client:
        assert client.post("/templates/broken-provider/approve",
                           json={"content_hash": created.json()["content_hash"]}).status_code == 200

    cases = [
        (["pkg-download", "integration-test-suite"], tmp_path / "nobody", 2, "not logged in"),
        (["pkg-download", "no-such-template"], viewer_xdg, 4, "no template named 'no-such-template'"),
        (["pkg-download", "integration-test-suite", "row_limit=lots"], viewer_xdg, 5, "expects int"),
        (["pkg-download", "integration-test-suite", "colour=blue"], viewer_xdg, 5, "unknown parameter colour"),
        (["pkg-download", "broken-provider"], viewer_xdg, 9, "provider 'BILLING' is not configured"),
        (["pkg-download", "integration-test-suite", "--version", "../../etc"], viewer_xdg, 5,
         "invalid package version"),
        (["pkg-download", "integration-test-suite", "--auto-cleanup", "soon"], viewer_xdg, 5, "duration"),
        (["login", "--server", f"http://127.0.0.1:{free_port()}", "--token", "hfit_x"], tmp_path / "n2", 11,
         "cannot reach the hfit service"),
    ]
    for args, xdg, code, message in cases:
        result = server.cli(*args, xdg=xdg)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        # nothing but, when SQL was meant for a pipe, the statement that makes the SQL client fail too
        assert result.stdout == "" or result.stdout.endswith("\nhfit_pkg_download_failed;\n"), result.stdout


def test_download_to_file_resumes_and_verifies(server: RunningServer, built: dict[str, Any], viewer_xdg: Path,
                                               tmp_path: Path) -> None:
    """An interrupted -o download resumes from where it stopped (Range) and is checked against its sha256;
    a corrupt partial file is detected and discarded."""
    version = built["version"]
    with server.client(server.user("builder", "viewer")) as client:
        full = client.get(f"/packages/integration-test-suite/versions/{version}").content
        etag = f'"{hashlib.sha256(full).hexdigest()}"'
    target = tmp_path / "fixture.sql"
    part, meta = tmp_path / "fixture.sql.part", tmp_path / "fixture.sql.part.json"
    part.write_bytes(full[:1000])
    meta.write_text(json.dumps({"template": "integration-test-suite", "version": version, "format": "sql",
                                "etag": etag}))
    result = ok(server.cli("pkg-download", "integration-test-suite", "--version", version, "-o", str(target),
                           xdg=viewer_xdg))
    assert "resuming" in result.stderr and "from byte 1000" in result.stderr and "sha256 verified" in result.stderr
    assert target.read_bytes() == full and not part.exists() and not meta.exists()
    assert result.stdout.strip() == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    resumed = server.audit(action="packages.download", version=version, user="cli-viewer")[-1]
    assert resumed.bytes == len(full) - 1000

    target.unlink()
    part.write_bytes(b"X" * 1000)  # not the package's first bytes
    meta.write_text(json.dumps({"template": "integration-test-suite", "version": version, "format": "sql",
                                "etag": etag}))
    corrupt = server.cli("pkg-download", "integration-test-suite", "--version", version, "-o", str(target),
                         xdg=viewer_xdg)
    assert corrupt.returncode == 13 and "does not match its sha256" in corrupt.stderr
    assert not target.exists() and not part.exists()


def test_stdout_carries_only_the_package(server: RunningServer, built: dict[str, Any], viewer_xdg: Path) -> None:
    """`hfit pkg-download NAME > file.sql` writes the SQL and nothing else; messages go to stderr."""
    result = ok(server.cli("pkg-download", "integration-test-suite", "row_limit=4", xdg=viewer_xdg))
    assert result.stdout.startswith("-- hfit package of template integration-test-suite")
    assert result.stdout.rstrip().endswith("-- end of hfit package")
    assert "fresh package" in result.stderr and built["version"] in result.stderr
    manifest = ok(server.cli("pkg-download", "integration-test-suite", "--version", "latest", "--format",
                             "manifest", xdg=viewer_xdg))
    assert json.loads(manifest.stdout)["template"] == "integration-test-suite"


def test_auto_cleanup_records_and_deletes_expired_downloads(server: RunningServer, built: dict[str, Any],
                                                            viewer_xdg: Path, tmp_path: Path) -> None:
    """--auto-cleanup 7d records the file; `hfit cleanup` deletes it once expired and says what it deleted."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    named = ok(server.cli("pkg-download", "integration-test-suite", "--version", built["version"],
                          "--auto-cleanup", "7d", xdg=viewer_xdg, cwd=workdir))
    default_file = workdir / f"integration-test-suite-{built['version']}.sql"
    assert named.stdout.strip() == default_file.name and default_file.is_file()
    explicit = tmp_path / "mine.sql"
    ok(server.cli("pkg-download", "integration-test-suite", "--version", built["version"], "-o", str(explicit),
                  "--auto-cleanup", "7d", xdg=viewer_xdg))
    records_file = viewer_xdg / "hfit" / "downloads.json"
    records = json.loads(records_file.read_text())["downloads"]
    assert {r["path"] for r in records} == {str(default_file), str(explicit)}
    expiry = datetime.fromisoformat(records[0]["expires_at"])
    assert timedelta(days=6, hours=23) < expiry - datetime.now(UTC) <= timedelta(days=7)
    assert stat.S_IMODE(records_file.stat().st_mode) == 0o600

    assert "nothing to clean up" in ok(server.cli("cleanup", xdg=viewer_xdg)).stdout
    assert explicit.is_file()
    records[1]["expires_at"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    records_file.write_text(json.dumps({"downloads": records}))
    dry = ok(server.cli("cleanup", "--dry-run", xdg=viewer_xdg)).stdout
    assert f"would delete {records[1]['path']}" in dry and Path(records[1]["path"]).exists()
    cleaned = ok(server.cli("cleanup", xdg=viewer_xdg)).stdout
    assert f"deleted {records[1]['path']}" in cleaned
    assert not Path(records[1]["path"]).exists() and Path(records[0]["path"]).exists()
    assert len(json.loads(records_file.read_text())["downloads"]) == 1


def test_pkg_tmpl_against_the_server(server: RunningServer, tmp_path: Path) -> None:
    """When logged in, pkg-tmpl list/show/create/update/diff use the server; validate and --local stay offline."""
    server.user("tia", "author", password="tia-pw")
    xdg = tmp_path / "xdg"
    ok(server.cli("login", xdg=xdg, env={"HFIT_USERNAME": "tia", "HFIT_PASSWORD": "tia-pw"}))
    path = tmp_path / "tia-scenario.yaml"
    path.write_text(TEAM_TEMPLATE.replace("team-shared-scenario", "tia-scenario"))
    ok(server.cli("pkg-tmpl", "create", str(path), xdg=xdg))

    listing = ok(server.cli("pkg-tmpl", "list", xdg=xdg)).stdout
    line = next(row for row in listing.splitlines() if row.startswith("tia-scenario"))
    assert "draft" in line and "tia" in line
    assert "integration-test-suite" in listing
    shown = ok(server.cli("pkg-tmpl", "show", "tia-scenario", "--debug", xdg=xdg)).stdout
    assert "templateName: tia-scenario" in shown and "status: draft" in shown and "# dependency order" in shown

    path.write_text(path.read_text().replace("default: 10", "default: 20"))
    diff = ok(server.cli("pkg-tmpl", "diff", "tia-scenario", str(path), xdg=xdg)).stdout
    assert "-  row_limit: {type: int, default: 10" in diff and "+  row_limit: {type: int, default: 20" in diff
    assert "a draft (content hash" in ok(server.cli("pkg-tmpl", "update", str(path), xdg=xdg)).stdout
    assert "default: 20" in ok(server.cli("pkg-tmpl", "show", "tia-scenario", xdg=xdg)).stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text(TEAM_TEMPLATE.replace("SELECT * FROM orders", "DELETE FROM orders"))
    refused = server.cli("pkg-tmpl", "create", str(broken), xdg=xdg)
    assert refused.returncode == 3 and f"{broken}:" in refused.stderr and "line 12" in refused.stderr

    offline = {"HFIT_SERVER_URL": f"http://127.0.0.1:{free_port()}"}
    assert "ok — template 'tia-scenario'" in ok(server.cli("pkg-tmpl", "validate", str(path), xdg=tmp_path / "none",
                                                           env=offline)).stdout
    local = ok(server.cli("pkg-tmpl", "list", "--local", xdg=xdg)).stdout
    assert "integration-test-suite" in local and "tia-scenario" not in local
    not_logged_in = ok(server.cli("pkg-tmpl", "list", xdg=tmp_path / "none", env=offline)).stdout
    assert "integration-test-suite" in not_logged_in


def test_admin_revoke_token_by_user(server: RunningServer) -> None:
    """`hfit admin revoke-token --user` revokes every token of a user at once (the API refuses them)."""
    token = server.user("leaver", "viewer")
    assert httpx.get(f"{server.url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = ok(server.cli("admin", "revoke-token", "--user", "leaver"))
    assert "revoked 1 token(s) of leaver" in result.stderr
    assert httpx.get(f"{server.url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert server.cli("admin", "revoke-token").returncode == 5
    assert os.access(HFIT, os.X_OK)
