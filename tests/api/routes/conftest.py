"""The API in process: the real app (``create_app``) on ``tmp_path`` state, called through FastAPI's ``TestClient``.

Each test gets its own home (state database, package store) over the session's demo source, and a
``ScriptedLauncher`` in place of Dagster: it records the builds the service launches, and the test reports
their outcome through the service's ``BuildEvents`` the way a run would. One real package of
integration-test-suite is built once per session (``hfit build``'s code path) and copied into each store that
asks for it. Real servers, real runs and the CLI are the end-to-end tier (tests/api/test_*.py, tests/client).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hfit_api import accounts
from hfit_api.launcher import BuildEvents, BuildJob
from hfit_api.main import create_app
from hfit_api.service import Service
from hfit_api.state import AuditEntry
from hfit_dagster.settings import HfitSettings, load_settings
from tests.api.service_harness import ALERT_SECRET, TEMPLATE_FILES
from tests.conftest import TEST_MASKING_KEY

PACKAGE_TEMPLATE = "integration-test-suite"
PACKAGE_PARAMS = {"row_limit": "4"}


def service_settings(root: Path, demo_source: str) -> HfitSettings:
    """Settings of a service rooted at ``root``: its own home, store and templates (three of templates/)."""
    templates = root / "templates"
    templates.mkdir(parents=True)
    for path in TEMPLATE_FILES:
        shutil.copy(path, templates / path.name)
    return load_settings(home=root / "home", store_dir=root / "home" / "packages", templates_dir=templates,
                         masking_key=TEST_MASKING_KEY, alert_secret=ALERT_SECRET,
                         providers={"PROD_REPLICA": demo_source}, state_url=None)


@dataclass
class ScriptedLauncher:
    """A ``BuildLauncher`` that runs nothing: it keeps each launched job and the events to report it to, and
    the runs the service asked it to follow again after a restart."""

    launched: list[tuple[BuildJob, BuildEvents]] = field(default_factory=list)
    followed: list[tuple[str, str]] = field(default_factory=list)
    closed: bool = False

    def launch(self, job: BuildJob, events: BuildEvents) -> None:
        self.launched.append((job, events))

    def follow(self, build_id: str, run_id: str, events: BuildEvents) -> None:
        self.followed.append((build_id, run_id))

    def close(self) -> None:
        self.closed = True


@dataclass
class InProcessApi:
    """The app under test, its service, its launcher, and the users the test created (name -> API token)."""

    client: TestClient
    service: Service
    launcher: ScriptedLauncher
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> HfitSettings:
        return self.service.settings

    def user(self, name: str, role: str, password: str | None = None) -> str:
        """Create a user (once) in the state database; returns their API token."""
        if name not in self.tokens:
            with self.service.db.session() as session:
                _user, issued = accounts.create_user(session, name, role, password)
            self.tokens[name] = issued.secret
        return self.tokens[name]

    def auth(self, name: str, role: str = "viewer") -> dict[str, str]:
        """The Authorization header of ``name`` (created with ``role`` if new)."""
        return {"Authorization": f"Bearer {self.user(name, role)}"}

    def audit(self, **where: Any) -> list[AuditEntry]:
        with self.service.db.session() as session:
            query = session.query(AuditEntry)
            for name, value in where.items():
                query = query.filter(getattr(AuditEntry, name) == value)
            return list(query.order_by(AuditEntry.id))

    def publish_package(self, built_package: Path) -> str:
        """Copy the session's built package into this service's store; returns its version."""
        target = self.settings.package_store / PACKAGE_TEMPLATE / built_package.name
        shutil.copytree(built_package, target)
        return built_package.name


@pytest.fixture(scope="session")
def built_package(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Path:
    """A real package of integration-test-suite (row_limit=4), built once with ``hfit build``'s code path."""
    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.template.loader import resolve_template

    settings = service_settings(tmp_path_factory.mktemp("built-package"), demo_source)
    found = resolve_template(PACKAGE_TEMPLATE, settings.templates_dir)
    return build_package(found.spec, PACKAGE_PARAMS, settings).path


@pytest.fixture
def api(tmp_path: Path, demo_source: str) -> Iterator[InProcessApi]:
    """The app on fresh state; the ``with`` block runs its lifespan (startup and shutdown) like uvicorn."""
    launcher = ScriptedLauncher()
    app = create_app(service_settings(tmp_path, demo_source), launcher)
    with TestClient(app) as client:
        yield InProcessApi(client=client, service=app.state.service, launcher=launcher)
