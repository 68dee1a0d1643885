"""``QueuedRunLauncher`` after a restart of the service, against a real Dagster instance (SQLite, in tmp): a build
whose run the previous process created but never submitted ends instead of staying queued for ever."""

from __future__ import annotations

import dagster as dg
import pytest

from hfit_api.launcher import QueuedRunLauncher
from hfit_dagster.settings import HfitSettings
from tests.api.test_launcher import RecordedEvents


@dg.op
def _nothing() -> None:
    return None


@dg.job
def _never_submitted() -> None:
    _nothing()


@pytest.mark.slow  # opens a Dagster instance (seconds of imports and migrations)
def test_a_resumed_build_whose_run_was_created_but_never_submitted_fails_as_interrupted(
        settings: HfitSettings) -> None:
    """The service stopped between creating a build's run and submitting it: the run stays NOT_STARTED, which no
    daemon ever takes, so the restarted service reports the build failed (interrupted, request it again) and
    marks the run failed in the instance, rather than `/builds` saying queued for ever."""
    launcher = QueuedRunLauncher(settings, poll_seconds=3600)  # polled by the test
    try:
        run = launcher.instance.create_run_for_job(_never_submitted, run_config={})
        assert run.status == dg.DagsterRunStatus.NOT_STARTED
        events = RecordedEvents()
        launcher.follow("build-1", run.run_id, events)
        launcher.poll()
        assert events.calls == [("failed", "build-1", run.run_id)]
        assert "interrupted" in events.errors["build-1"].message
        stored = launcher.instance.get_run_by_id(run.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.FAILURE
    finally:
        launcher.close()
