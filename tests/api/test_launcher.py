"""``QueuedRunLauncher`` against a real Dagster instance: what a run's state becomes in a build's events.

The instance is a SQLite DAGSTER_HOME in tmp whose ``dagster.yaml`` keeps Dagster's ``DefaultRunCoordinator`` (a
submitted run is launched at once, no daemon needed) and the ``DefaultRunLauncher`` (the run in a process of the
launcher's code server); the jobs run their steps in that process (``HFIT_DAGSTER_EXECUTOR=in_process``). The
queued shape (``QueuedRunCoordinator`` and a daemon) is tests/scale/test_api_builds_on_dagster.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
import yaml

from hfit_api.launcher import BuildJob, QueuedRunLauncher, build_state
from hfit_dagster.errors import HfitError, ProviderError
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import resolve_template
from tests.conftest import TEMPLATES

TEMPLATE = "integration-test-suite"


@dataclass
class RecordedEvents:
    """``BuildEvents`` that keep what the launcher reported, in order."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    errors: dict[str, HfitError] = field(default_factory=dict)
    done: dict[str, threading.Event] = field(default_factory=dict)

    def _finished(self, build_id: str) -> None:
        self.done.setdefault(build_id, threading.Event()).set()

    def submitted(self, build_id: str, run_id: str) -> None:
        self.calls.append(("submitted", build_id, run_id))

    def started(self, build_id: str) -> None:
        self.calls.append(("started", build_id))

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None:
        self.calls.append(("succeeded", build_id, version, str(run_id)))
        self._finished(build_id)

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None:
        self.calls.append(("failed", build_id, str(run_id)))
        self.errors[build_id] = error
        self._finished(build_id)

    def wait(self, build_id: str, timeout: float = 150) -> None:
        assert self.done.setdefault(build_id, threading.Event()).wait(timeout), self.calls


def test_every_run_status_maps_to_a_build_state() -> None:
    """`/builds` says queued while the run waits in the queue, running from the moment the daemon starts it until
    it ends, then succeeded or failed (a canceled run is a failed build): no run status is left unmapped."""
    expected = {"QUEUED": "queued", "NOT_STARTED": "queued", "STARTING": "running", "STARTED": "running",
                "CANCELING": "running", "MANAGED": "running", "SUSPENDED": "running", "SUCCESS": "succeeded",
                "FAILURE": "failed", "CANCELED": "failed"}
    assert {status.name: build_state(status) for status in dg.DagsterRunStatus} == expected


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_submitted_run_reports_its_start_its_published_version_and_a_failure_with_its_hfit_error(
    hfit_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build is a run of the code location's template job, tagged with its build, requester and template, and
    its events follow the run: submitted (run id), started, succeeded with the version the package asset
    published. A run that fails is reported with the HfitError its step raised (class, message and hint, no stack
    trace) and publishes nothing."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump({
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "DefaultRunCoordinator"},
        "telemetry": {"enabled": False}}))
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (TEMPLATES / "integration-testing" / f"{TEMPLATE}.yaml").read_text()
    (templates / f"{TEMPLATE}.yaml").write_text(original)
    (templates / "no-source.yaml").write_text(original.replace(f"templateName: {TEMPLATE}", "templateName: no-source")
                                              .replace("provider: PROD_REPLICA", "provider: NOWHERE"))
    monkeypatch.setenv("HFIT_TEMPLATES_DIR", str(templates))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "in_process")
    settings = load_settings()
    found = resolve_template(TEMPLATE, templates)
    events = RecordedEvents()
    launcher = QueuedRunLauncher(settings, poll_seconds=0.2)
    try:
        launcher.launch(BuildJob(build_id="good", template=found, params={"row_limit": "5"}, requester="vera"), events)
        events.wait("good")
        [(_, _, run_id)] = [call for call in events.calls if call[0] == "submitted"]
        assert [call[0] for call in events.calls if call[1] == "good"] == ["submitted", "started", "succeeded"]
        [(_, _, version, reported_run)] = [call for call in events.calls if call[0] == "succeeded"]
        assert reported_run == run_id
        assert version in PackageStore(settings.package_store).versions(TEMPLATE)
        run = launcher.instance.get_run_by_id(run_id)
        assert run is not None and run.job_name == "build_integration_test_suite"
        assert {k: run.tags[k] for k in ("hfit/build", "hfit/requester", "hfit/template")} == \
            {"hfit/build": "good", "hfit/requester": "vera", "hfit/template": TEMPLATE}

        # a template whose provider is not configured: the step's ProviderError comes back as itself
        broken = resolve_template("no-source", templates)
        launcher.launch(BuildJob(build_id="bad", template=broken, params={"row_limit": "5"}, requester="vera"),
                        events)
        events.wait("bad")
        error = events.errors["bad"]
        assert [call[0] for call in events.calls if call[1] == "bad"] == ["submitted", "started", "failed"]
        assert isinstance(error, ProviderError), (type(error), error.message)
        assert "NOWHERE" in error.message and error.hint and "HFIT_PROVIDER_NOWHERE_URL" in error.hint
        assert "Traceback" not in error.message and "Stack Trace" not in error.message
        assert PackageStore(settings.package_store).versions("no-source") == []
    finally:
        launcher.close()
