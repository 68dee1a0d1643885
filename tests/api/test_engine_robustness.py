"""A real ``hfit serve`` whose builds are runs of its own dagster-daemon, when something dies: the daemon killed
in the middle of a run, the service restarted while a build waits or runs. ``/builds`` must say something true and
every build must end; none may stay queued or running for ever."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.service_harness import HFIT, RunningServer, start_server, wait_for_build

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
BUILDS = "/packages/integration-test-suite/builds"


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    yield from start_server(tmp_path_factory.mktemp("engine-robustness"), demo_source)


def _daemon_pids(server: RunningServer) -> list[int]:
    return [int(pid) for pid in re.findall(r"dagster-daemon pid (\d+) started",
                                           (server.root / "server.log").read_text(errors="replace"))]


def _wait_for(client: httpx.Client, build: dict[str, Any], states: set[str], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while build["status"] not in states:
        assert time.monotonic() < deadline, f"build {build['id']} still {build['status']}"
        time.sleep(0.2)
        build = client.get(f"/builds/{build['id']}").json()
    return build


def _finished_and_true(server: RunningServer, client: httpx.Client, build: dict[str, Any]) -> dict[str, Any]:
    """The build ended; when it says succeeded its package is there to download."""
    done = wait_for_build(client, build, timeout=120)
    assert done["status"] in ("succeeded", "failed"), done
    if done["status"] == "succeeded":
        assert client.get(done["download_url"]).status_code == 200
    else:
        assert done["error"]["message"], done
    return done


def test_a_build_ends_truthfully_when_the_daemon_dies_mid_run_and_the_next_build_runs(own_server: RunningServer,
                                                                                     ) -> None:
    """The service's dagster-daemon killed while a build runs: the build still ends (the run goes on in its own
    process, or is failed by run monitoring), `/builds` says which, and the service starts the daemon again, so a
    build requested afterwards is taken off the queue and succeeds."""
    client = own_server.client(own_server.user("vera", "viewer"))
    build = client.post(BUILDS, json={"params": {"row_limit": 7}}).json()
    build = _wait_for(client, build, {"running", "succeeded", "failed"})
    [daemon] = _daemon_pids(own_server)
    os.kill(daemon, signal.SIGKILL)
    _finished_and_true(own_server, client, build)
    after = client.post(BUILDS, json={"params": {"row_limit": 8}}).json()
    assert after["status"] == "queued", after
    assert _finished_and_true(own_server, client, after)["status"] == "succeeded"
    assert len(_daemon_pids(own_server)) == 2  # started again by the service


def _restart(server: RunningServer) -> None:
    server.process.terminate()
    server.process.wait(timeout=30)
    log = (server.root / "server.log").open("ab")
    server.process = subprocess.Popen([str(HFIT), "serve", "--port", str(server.port), "--log-level", "warning"],
                                      env=server.env, stdout=log, stderr=subprocess.STDOUT, cwd=server.root)
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.process.poll() is None and time.monotonic() < deadline, "hfit serve did not restart"
        time.sleep(0.1)


def test_a_build_waiting_while_the_service_restarts_is_followed_to_its_end(own_server: RunningServer) -> None:
    """The service stopped and started again while a build's run runs: the restarted service follows the run
    again and `/builds` reports how it ended. A build the service had not yet handed to Dagster (the launcher
    still loading the code location) is reported failed as interrupted, never left queued."""
    client = own_server.client(own_server.user("vera", "viewer"))
    handed = client.post(BUILDS, json={"params": {"row_limit": 9}}).json()
    handed = _wait_for(client, handed, {"running", "succeeded", "failed"})  # its run started
    _restart(own_server)
    early = client.post(BUILDS, json={"params": {"row_limit": 10}}).json()
    _restart(own_server)  # within the launcher's warm-up: the second build has no run yet
    done = _finished_and_true(own_server, client, handed)
    assert done["status"] == "succeeded", done
    lost = _finished_and_true(own_server, client, early)
    assert lost["status"] == "succeeded" or "interrupted" in lost["error"]["message"], lost
