"""While the service's Dagster instance cannot be read, the launcher's watcher keeps trying every poll but logs the
first failure with its traceback, then one line a minute, and one line when the instance can be read again:
an operator sees what broke and when it recovered, not a traceback twice a second."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from hfit_api.launcher import PollFailureLog, QueuedRunLauncher
from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings

LOGGER = "hfit_api.launcher"


class _Recorded:
    """BuildEvents that keeps what the launcher reported."""

    def __init__(self) -> None:
        self.failed_builds: list[tuple[str, str]] = []

    def submitted(self, build_id: str, run_id: str) -> None: ...

    def started(self, build_id: str) -> None: ...

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None: ...

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None:
        self.failed_builds.append((build_id, error.message))


def _wait(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_broken_instance_logs_one_traceback_and_a_line_when_it_recovers(
        settings: HfitSettings, caplog: pytest.LogCaptureFixture) -> None:
    """dagster.yaml broken while a build is followed: dozens of polls fail, one error with its traceback is logged;
    once the file is fixed (deleted: the service writes its own) the next poll reads the instance, a line says so
    with the number of failed polls, and the followed build gets its outcome."""
    directory = settings.dagster_instance_dir
    directory.mkdir(parents=True, exist_ok=True)
    broken = directory / "dagster.yaml"
    broken.write_text("run_coordinator: [not valid\n")
    caplog.set_level(logging.INFO, logger=LOGGER)
    events = _Recorded()
    launcher = QueuedRunLauncher(settings, poll_seconds=0.01)
    try:
        launcher.follow("b" * 32, "0" * 36, events)
        _wait(lambda: launcher.watch_failures.failures >= 25, "the watcher did not poll the broken instance")
        errors = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert errors[0].exc_info is not None and "could not read the state" in errors[0].getMessage()
        assert "is not valid YAML" in caplog.text  # the traceback says what is wrong

        Path(broken).unlink()
        _wait(lambda: events.failed_builds, "the followed build got no outcome after the instance recovered")
        recovered = [r.getMessage() for r in caplog.records if "can be read again" in r.getMessage()]
        assert len(recovered) == 1 and "failed polls" in recovered[0]
        assert launcher.watch_failures.failures == 0
        assert "interrupted" in events.failed_builds[0][1]  # its run was never created in this instance
    finally:
        launcher.close()


def test_a_lasting_failure_is_logged_once_a_minute_without_traceback() -> None:
    """Failures over three minutes of polls (a clock the test moves): the first with its traceback, then one line
    per minute naming the exception's class, how long and how many polls, never the exception's message (it may
    echo a setting); one line when a poll succeeds; the next outage starts with a traceback again."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.poll_failures")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    now = [1000.0]
    failures = PollFailureLog(logger, 60.0, clock=lambda: now[0])
    try:
        for _ in range(361):  # a poll every 0.5 s for three minutes
            failures.failed(RuntimeError("password=s3cret-4711"))
            now[0] += 0.5
        failures.succeeded()
        failures.succeeded()
        failures.failed(RuntimeError("again"))
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert len(messages) == 6, messages
    assert records[0].exc_info is not None and all(r.exc_info is None for r in records[1:4])
    assert all(m.startswith("still cannot read") for m in messages[1:4])
    assert "(RuntimeError), for 60 s and 121 polls" in messages[1]
    assert not any("s3cret-4711" in m for m in messages)
    assert "can be read again, after 180 s and 361 failed polls" in messages[4]
    assert records[5].exc_info is not None and messages[5].startswith("could not read the state")
