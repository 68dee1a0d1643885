"""A build the launcher cannot submit because a parameter is refused (raised in the service, or in the code
location's server and sent back by Dagster) is logged and reported naming the parameter and its type, never the
value it quotes (an e-mail address), and without the traceback that would print it again; any other failure to
submit keeps its traceback in the server log."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from dagster._core.errors import DagsterUserCodeProcessError
from dagster._utils.error import serializable_error_info_from_exc_info

from hfit_api.launcher import BuildJob, QueuedRunLauncher
from hfit_dagster.errors import HfitError, ParameterError
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import resolve_template

LOGGER = "hfit_api.launcher"
EMAIL = "alice.refused@example.com"
REFUSAL = f"parameter 'customer_ids' expects int, got '{EMAIL}'"


def _raised_from_refusal() -> Exception:
    try:
        try:
            raise ParameterError(REFUSAL, hint="give customer ids as numbers")
        except ParameterError as refusal:
            raise RuntimeError("the code location could not prepare the run") from refusal
    except RuntimeError as exc:
        return exc


def _refused_in_code_server() -> Exception:
    try:
        raise ParameterError(REFUSAL, hint="give customer ids as numbers")
    except ParameterError:
        return DagsterUserCodeProcessError.from_error_info(serializable_error_info_from_exc_info(sys.exc_info()))


class _FailingLauncher(QueuedRunLauncher):
    """The real launcher (its real instance), whose code location answers ``failure`` when asked for the template's
    job."""

    def __init__(self, settings: HfitSettings, failure: Exception) -> None:
        super().__init__(settings)
        self.failure = failure

    def _warm_up(self) -> None:
        """No code server is started: the job is never looked up in one."""

    def _remote_job(self, job: BuildJob) -> Any:
        raise self.failure


class _Failed:
    def __init__(self) -> None:
        self.error: HfitError | None = None
        self.done = threading.Event()

    def submitted(self, build_id: str, run_id: str) -> None: ...

    def started(self, build_id: str) -> None: ...

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None: ...

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None:
        self.error = error
        self.done.set()


def _submit(settings: HfitSettings, failure: Exception) -> HfitError:
    found = resolve_template("integration-test-suite", settings.templates_dir)
    events = _Failed()
    launcher = _FailingLauncher(settings, failure)
    try:
        launcher.launch(BuildJob(build_id="b1", template=found, params={"row_limit": "5"}, requester="vera"), events)
        assert events.done.wait(60), "the build got no outcome"
    finally:
        launcher.close()
    assert events.error is not None
    return events.error


@pytest.mark.parametrize("failure", [_raised_from_refusal, _refused_in_code_server])
def test_a_refused_parameter_is_logged_without_its_value_or_traceback(
        settings: HfitSettings, hfit_home: Path, caplog: pytest.LogCaptureFixture, failure: Any) -> None:
    """The server log and the build's error name the parameter and the type it expects; the e-mail is in neither,
    and the log line carries no traceback."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    error = _submit(settings, failure())
    records = [r for r in caplog.records if r.name == LOGGER and "b1" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None
    assert "customer_ids" in records[0].getMessage() and "expects int" in records[0].getMessage()
    assert "alice.refused" not in caplog.text
    assert isinstance(error, ParameterError) and "customer_ids" in error.message
    assert "alice.refused" not in str(error)


def test_another_failure_to_submit_keeps_its_traceback(
        settings: HfitSettings, hfit_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A failure that is no parameter refusal is logged with its traceback for the operator, and the build is told
    to see the server log."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    error = _submit(settings, RuntimeError("the code server went away"))
    [record] = [r for r in caplog.records if r.name == LOGGER and "b1" in r.getMessage()]
    assert record.exc_info is not None and "the code server went away" in caplog.text
    assert "see the server log" in error.message
