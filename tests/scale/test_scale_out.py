"""Scale-out for real: a template built by Dagster with PostgreSQL storage and two Celery workers.

This is the deployment shape of docker/docker-compose.yml without containers: the Dagster instance lives in a
throwaway PostgreSQL database (dagster-postgres), the run's steps are Celery tasks on a queue of their own
(dagster-celery) served by two ``dagster-celery worker start`` processes that share DAGSTER_HOME, HFIT_HOME
(the package store) and the Python environment with the ``dagster job execute`` processes that launch the runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._core.events.log import EventLogEntry

from hfit_dagster.orchestration.executors import (
    BACKEND_ENV,
    BROKER_ENV,
    EXECUTOR_ENV,
    QUEUE_ENV,
    celery_config_source,
)
from hfit_dagster.orchestration.resources import run_config_for
from hfit_dagster.package.store import PackageStore
from tests.conftest import DEMO_NOW, REPO
from tests.scale.brokers import (
    BIN,
    Broker,
    celery_broker,
    celery_workers,
    forget_queue,
    stop_process_group,
    wait_for_workers,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CODE_MODULE = "tests.scale.scale_defs"
TEMPLATE = "integration-test-suite"
JOB = "build_integration_test_suite"
STEPS = {"integration_test_suite__tables", "integration_test_suite__package"}


def _dagster_yaml(database: str) -> dict[str, object]:
    """The storage section of docker/dagster.yaml, pointed at the local PostgreSQL.

    ``scheme: postgresql+psycopg2``: with SQLAlchemy 2.1 a bare ``postgresql://`` means psycopg 3, on which
    dagster-postgres's ``NOTIFY run_events, %(id)s`` is a syntax error (server-side parameters).
    """
    return {
        "storage": {"postgres": {"postgres_db": {
            "hostname": "127.0.0.1", "port": 5432, "username": "postgres", "password": "", "db_name": database,
            "scheme": "postgresql+psycopg2",
        }}},
        "telemetry": {"enabled": False},
    }


def _log_tail(log_dir: Path, limit: int = 3000) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-limit:]}" for p in sorted(log_dir.glob("*.log")))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    with celery_broker(log_dir) as found:
        yield found


def _launch(label: str, params: dict[str, str], env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    """``dagster job execute`` of the template's job in a process of its own: the run's orchestrator.

    It submits the steps to the Celery queue and waits for their events; the steps run in the workers.
    """
    config = folder / f"run-{label}.yaml"
    config.write_text(yaml.safe_dump(run_config_for(TEMPLATE, params)))
    with (folder / f"launcher-{label}.log").open("wb") as log:
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-m", CODE_MODULE, "-a", "defs", "-j", JOB, "-c", str(config),
             "-d", str(REPO), "--tags", json.dumps({"hfit/scale-test": label})],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _celery_nodes(records: list[EventLogEntry]) -> dict[str, str]:
    """step key → Celery node, from the engine event dagster-celery writes when a worker starts a step."""
    nodes = {}
    for record in records:
        event = record.dagster_event
        if event is None or event.event_type != dg.DagsterEventType.ENGINE_EVENT or event.step_key is None:
            continue
        metadata = event.engine_event_data.metadata or {}
        if "Celery worker" in metadata:
            nodes[event.step_key] = str(metadata["Celery worker"].value)
    return nodes


@pytest.mark.timeout(180)
def test_a_template_builds_on_postgres_storage_with_steps_on_two_celery_workers(
    hfit_home: Path, postgres_database: Callable[[], str], broker: Broker, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A production-shaped Dagster (PostgreSQL instance, Celery executor, two workers) publishes packages.

    Protects the scale-out promise of docs/deployment.md: the same definitions run their steps in worker
    processes, not in the one that launched the run; two builds at once are spread over both workers (a busy
    worker takes nothing more: late acks, prefetch 1); the runs and their event logs are in PostgreSQL where
    the webserver and the daemon read them; every package lands in the shared store.
    """
    started = time.monotonic()
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    database = postgres_database()
    dagster_home = tmp_path / "dagster-home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(_dagster_yaml(database)))
    queue = f"hfit-scale-{uuid.uuid4().hex[:10]}"  # only the workers of this test listen here
    worker_config = tmp_path / "celery.yaml"
    worker_config.write_text(yaml.safe_dump({"execution": {"config": {
        "broker": broker.broker_url, "backend": broker.backend_url,
        "config_source": celery_config_source(queue),
    }}}))
    for key, value in {"DAGSTER_HOME": str(dagster_home), EXECUTOR_ENV: "celery", BROKER_ENV: broker.broker_url,
                       BACKEND_ENV: broker.backend_url, QUEUE_ENV: queue}.items():
        monkeypatch.setenv(key, value)
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    names = [f"w1-{queue}", f"w2-{queue}"]
    since = DEMO_NOW.replace(day=1).isoformat(sep=" ")

    launchers: list[subprocess.Popen[bytes]] = []
    try:
        with celery_workers(names, queue, worker_config, env, REPO, log_dir) as procs, \
                dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            try:
                nodes = wait_for_workers(broker.broker_url, names, procs)
            except RuntimeError as exc:
                pytest.fail(f"{exc} (broker: {broker.description})\n{_log_tail(log_dir)}")
            worker_pgids = {proc.pid for proc in procs}
            # two builds at once, each orchestrated by its own process, as the run launcher would start them
            launchers = [_launch(label, {"since": since, "row_limit": limit}, env, log_dir)
                         for label, limit in (("a", "25"), ("b", "30"))]
            try:
                codes = [proc.wait(timeout=75) for proc in launchers]
            except subprocess.TimeoutExpired:
                pytest.fail(f"the runs did not finish in time (broker: {broker.description})\n{_log_tail(log_dir)}")
            assert codes == [0, 0], f"launchers exited {codes} (broker: {broker.description})\n{_log_tail(log_dir)}"
            runs = instance.get_runs()
            assert sorted(run.tags["hfit/scale-test"] for run in runs) == ["a", "b"]
            assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
            run_ids = [run.run_id for run in runs]

            handled_by: dict[str, str] = {}
            for run_id in run_ids:
                records = instance.all_logs(run_id)
                step_events = [r.dagster_event for r in records if r.dagster_event is not None
                               and r.dagster_event.event_type in (dg.DagsterEventType.STEP_START,
                                                                  dg.DagsterEventType.STEP_SUCCESS)]
                assert {e.step_key for e in step_events} == STEPS
                # every step ran in a worker's process group, not in the launcher nor in this process
                pids = {e.step_key: e.pid for e in step_events}
                assert all(pid is not None and os.getpgid(pid) in worker_pgids for pid in pids.values()), \
                    (pids, worker_pgids)
                # and the workers say so in the event log: dagster-celery names the Celery node of each step
                ran_on = _celery_nodes(records)
                assert set(ran_on) == STEPS and set(ran_on.values()) <= set(nodes.values()), ran_on
                handled_by.update({f"{run_id[:8]}/{step}": node for step, node in ran_on.items()})
            assert set(handled_by.values()) == set(nodes.values()), f"not both workers took work: {handled_by}"
    finally:
        for proc in launchers:
            stop_process_group(proc)
        forget_queue(broker, queue)

    # the runs and their events are rows in PostgreSQL, where the webserver and the daemon look
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database) as conn:
        statuses = conn.execute("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (run_ids,)).fetchall()
        steps = conn.execute("SELECT run_id, step_key FROM event_logs WHERE run_id = ANY(%s) "
                             "AND dagster_event_type = 'STEP_SUCCESS'", (run_ids,)).fetchall()
        materialized = conn.execute("SELECT count(*) FROM event_logs WHERE run_id = ANY(%s) "
                                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'", (run_ids,)).fetchone()
    assert sorted(statuses) == sorted((run_id, "SUCCESS") for run_id in run_ids)
    assert sorted(steps) == sorted((run_id, step) for run_id in run_ids for step in STEPS)
    assert materialized == (2 * 5,)  # per run: four tables and the package

    # both packages are published in the shared store, LATEST names one, nothing is left in staging
    store = PackageStore(hfit_home / "packages")
    versions = store.versions(TEMPLATE)
    assert len(versions) == 2 and store.latest_version(TEMPLATE) in versions
    for version in versions:
        package = hfit_home / "packages" / TEMPLATE / version
        assert (package / "package.sql").stat().st_size > 0 and (package / "manifest.json").is_file()
    assert not any((hfit_home / "packages" / ".staging").glob("run-*"))
    print(f"scale-out: {broker.description}, steps on {handled_by}, {time.monotonic() - started:.1f}s",
          file=sys.stderr)
