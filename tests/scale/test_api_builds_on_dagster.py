"""Builds requested through the API are Dagster runs: queued on the instance, started by the daemon, steps on
Celery workers, published, audited and downloadable through the API.

One Dagster instance in a throwaway PostgreSQL database (``QueuedRunCoordinator``, ``DefaultRunLauncher``), shared
by ``hfit serve`` (which submits the runs and starts its ``dagster-daemon`` child on that instance and workspace),
the run workers the daemon launches, and two ``dagster-celery`` workers this test starts (reusing
``tests/scale/brokers.py``). The code location is the real ``hfit_dagster.definitions`` over the service's
templates, its jobs on the Celery executor (``HFIT_DAGSTER_EXECUTOR=celery``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import yaml

from hfit_dagster.orchestration.executors import BACKEND_ENV, BROKER_ENV, EXECUTOR_ENV, QUEUE_ENV, celery_config_source
from tests.api.service_harness import RunningServer, start_server
from tests.conftest import DEMO_NOW, REPO
from tests.scale.brokers import BIN, Broker, celery_broker, celery_workers, forget_queue, wait_for_workers
from tests.scale.test_scale_out import _celery_nodes, _dagster_yaml, _log_tail

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TEMPLATE = "integration-test-suite"
STEPS = {"integration_test_suite__tables", "integration_test_suite__package"}
ROW_LIMITS = (20, 25, 30)  # three different parameter sets: three builds, none joins or reuses another


def _instance_yaml(database: str) -> dict[str, Any]:
    """docker/dagster.yaml's shape on the local PostgreSQL: storage, a run queue with room for the three runs."""
    return {
        **_dagster_yaml(database),
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {"max_concurrent_runs": len(ROW_LIMITS), "dequeue_interval_seconds": 1}},
        "run_launcher": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
    }


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    with celery_broker(log_dir) as found:
        yield found


def _request_at_once(server: RunningServer, token: str) -> list[dict[str, Any]]:
    """POST the three build requests from three threads released together (real HTTP, one connection each)."""
    since = DEMO_NOW.replace(day=1).isoformat(sep=" ")
    barrier = threading.Barrier(len(ROW_LIMITS))
    answers: list[dict[str, Any]] = [{} for _ in ROW_LIMITS]

    def request(index: int, row_limit: int) -> None:
        with server.client(token) as client:
            barrier.wait()
            response = client.post(f"/packages/{TEMPLATE}/builds",
                                   json={"params": {"since": since, "row_limit": row_limit}})
            answers[index] = {"status_code": response.status_code, **response.json()}

    threads = [threading.Thread(target=request, args=(i, n)) for i, n in enumerate(ROW_LIMITS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def _wait_for(client: httpx.Client, build_ids: list[str], done: Callable[[list[dict[str, Any]]], bool],
              timeout: float, what: str, server: RunningServer, log_dir: Path) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        builds = [client.get(f"/builds/{build_id}").json() for build_id in build_ids]
        if done(builds):
            return builds
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {[(b['status'], b.get('error')) for b in builds]}\n{server.log_tail()}\n"
                        f"{_log_tail(log_dir)}")
        time.sleep(0.2)


@pytest.mark.timeout(240)
def test_three_api_builds_are_concurrent_dagster_runs_on_celery_workers(
    tmp_path: Path, demo_source: str, postgres_database: Callable[[], str], broker: Broker,
) -> None:
    """Three builds requested through the API at once become three Dagster runs of the instance, started by the
    service's daemon side by side (the queue has room for three), their steps executed by the Celery workers; each
    is published, audited and downloadable through the API.

    Protects issue 22's main promise: the API never executes a build itself, `/builds` follows the run's real
    state, and several builds run at once up to the queue's limit.

    Overlap, deterministically: the workers are started only once the API reports all three builds running (their
    runs STARTED). A run cannot finish before a worker executes its steps, so every run started before any run
    ended: max(start) < min(end). The overlap (min end - max start) is printed. Which worker took which step
    depends on timing; the test asserts only that every step ran in one of the two workers' processes.
    """
    began = time.monotonic()
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    database = postgres_database()
    dagster_home = tmp_path / "dagster-home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(_instance_yaml(database)))
    queue = f"hfit-api-{uuid.uuid4().hex[:10]}"  # only this test's workers listen here
    worker_config = tmp_path / "celery.yaml"
    worker_config.write_text(yaml.safe_dump({"execution": {"config": {
        "broker": broker.broker_url, "backend": broker.backend_url, "config_source": celery_config_source(queue),
    }}}))
    dagster_env = {"DAGSTER_HOME": str(dagster_home), EXECUTOR_ENV: "celery", BROKER_ENV: broker.broker_url,
                   BACKEND_ENV: broker.backend_url, QUEUE_ENV: queue, "HFIT_DAGSTER_DAEMON": "serve",
                   "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    names = [f"w1-{queue}", f"w2-{queue}"]
    root = tmp_path / "service"
    root.mkdir()

    try:
        for server in start_server(root, demo_source, extra_env=dagster_env):
            token = server.user("vera", "viewer")
            answers = _request_at_once(server, token)
            assert [a["status_code"] for a in answers] == [202] * 3, answers
            assert all(a["outcome"] == "launched" and a["status"] == "queued" for a in answers), answers
            build_ids = [a["id"] for a in answers]
            with server.client(token) as client:
                _wait_for(client, build_ids, lambda bs: all(b["status"] == "running" for b in bs), 90,
                          "the three builds were not all running", server, log_dir)
                with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                    run_ids = [client.get(f"/builds/{b}").json()["run_id"] for b in build_ids]
                    _wait_until_started(instance, run_ids, server, log_dir)
                    worker_env = {**server.env, **dagster_env, "PYTHONPATH": str(REPO)}
                    with celery_workers(names, queue, worker_config, worker_env, REPO, log_dir) as procs:
                        try:
                            nodes = wait_for_workers(broker.broker_url, names, procs)
                        except RuntimeError as exc:
                            pytest.fail(f"{exc} (broker: {broker.description})\n{_log_tail(log_dir)}")
                        builds = _wait_for(client, build_ids,
                                           lambda bs: all(b["status"] not in ("queued", "running") for b in bs),
                                           120, "the builds did not finish", server, log_dir)
                        assert all(b["status"] == "succeeded" for b in builds), \
                            ([b["error"] for b in builds], server.log_tail(), _log_tail(log_dir))
                        records = {r.dagster_run.run_id: r for r in instance.get_run_records(
                            dg.RunsFilter(run_ids=[b["run_id"] for b in builds]))}
                        # while the workers live: their process groups are where the steps ran
                        handled_by = _check_runs(instance, builds, records, {proc.pid for proc in procs},
                                                 set(nodes.values()))
                    windows = [(records[b["run_id"]].start_time, records[b["run_id"]].end_time) for b in builds]

                # published, downloadable through the API, and audited
                sizes = {}
                for build in builds:
                    download = client.get(build["download_url"])
                    assert download.status_code == 200 and b"CREATE TABLE" in download.content
                    assert (server.store / TEMPLATE / build["version"] / "manifest.json").is_file()
                    sizes[build["version"]] = len(download.content)
            assert len(sizes) == 3
            for build in builds:
                finished = [row for row in server.audit(action="build.finished", template=TEMPLATE)
                            if row.detail and build["id"] in row.detail]
                assert [(row.outcome, row.version, row.user) for row in finished] == \
                    [("succeeded", build["version"], "vera")]
                assert build["run_id"] in (finished[0].detail or "")
                served = server.audit(action="packages.download", version=build["version"], user="vera")
                assert [row.bytes for row in served] == [sizes[build["version"]]]
    finally:
        forget_queue(broker, queue)

    starts = [start for start, _ in windows]
    ends = [end for _, end in windows]
    assert all(start is not None and end is not None for start, end in windows), windows
    overlap = min(ends) - max(starts)  # type: ignore[type-var,operator]
    assert overlap > 0, windows
    print(f"api builds on dagster: 3 runs overlapped {overlap:.1f}s (run windows "
          f"{[(_at(s), _at(e)) for s, e in windows]}), steps on {handled_by}, broker {broker.description}, "
          f"{time.monotonic() - began:.1f}s wall", file=sys.stderr)


def _wait_until_started(instance: dg.DagsterInstance, run_ids: list[str], server: RunningServer,
                        log_dir: Path) -> None:
    """Until every run is STARTED (the API says running from STARTING on): no run can end without a worker."""
    deadline = time.monotonic() + 60
    while True:
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
        statuses = [run.status if run is not None else None for run in runs]
        if all(status == dg.DagsterRunStatus.STARTED for status in statuses):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"runs not all started: {statuses}\n{server.log_tail()}\n{_log_tail(log_dir)}")
        time.sleep(0.2)


def _check_runs(instance: dg.DagsterInstance, builds: list[dict[str, Any]], records: dict[str, Any],
                worker_pgids: set[int], nodes: set[str]) -> dict[str, str]:
    """Each build is one successful run, tagged with its build, requester and template, whose two steps ran in the
    workers' processes (pids in their process groups, Celery node named in the event log); returns
    run/step -> node."""
    handled_by: dict[str, str] = {}
    for build in builds:
        run = records[build["run_id"]].dagster_run
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert (run.tags["hfit/build"], run.tags["hfit/requester"], run.tags["hfit/template"]) == \
            (build["id"], "vera", TEMPLATE)
        assert run.job_name == "build_integration_test_suite"
        logs = instance.all_logs(run.run_id)
        step_events = [r.dagster_event for r in logs if r.dagster_event is not None
                       and r.dagster_event.event_type in (dg.DagsterEventType.STEP_START,
                                                          dg.DagsterEventType.STEP_SUCCESS)]
        assert {e.step_key for e in step_events} == STEPS
        pids = {e.step_key: e.pid for e in step_events}
        assert all(pid is not None and os.getpgid(pid) in worker_pgids for pid in pids.values()), (pids, worker_pgids)
        ran_on = _celery_nodes(logs)
        assert set(ran_on) == STEPS and set(ran_on.values()) <= nodes, ran_on
        handled_by.update({f"{run.run_id[:8]}/{step}": node.split("@")[0][:2] for step, node in ran_on.items()})
    return handled_by


def _at(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-4] if timestamp is not None else "-"
