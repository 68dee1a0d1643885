"""More builds than the Dagster queue runs at once, on a real ``hfit serve`` with max_concurrent_runs 2: the builds
that wait say so (queued), and every one of them is started and finishes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.api.service_harness import RunningServer, start_server, wait_for_build

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]  # 79 s at load 6+ on 2 cores
BUILDS = "/packages/integration-test-suite/builds"
REQUESTS = 3


@pytest.fixture
def queue_server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    yield from start_server(tmp_path_factory.mktemp("engine-queue"), demo_source,
                            extra_env={"HFIT_MAX_CONCURRENT_BUILDS": "2"})


def test_builds_beyond_the_queue_limit_say_queued_and_all_finish(queue_server: RunningServer) -> None:
    """Three different build requests at once, two runs at a time: while the first run, the third is reported
    queued (not running, not failed), and all three succeed with a package each."""
    client = queue_server.client(queue_server.user("vera", "viewer"))
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        builds: list[dict[str, Any]] = list(pool.map(
            lambda i: client.post(BUILDS, json={"params": {"row_limit": 30 + i}}).json(), range(REQUESTS)))
    assert {build["status"] for build in builds} == {"queued"}, builds
    seen_waiting_beside_running = False
    deadline = time.monotonic() + 240
    while not seen_waiting_beside_running and time.monotonic() < deadline:
        states = [client.get(f"/builds/{build['id']}").json()["status"] for build in builds]
        assert "failed" not in states, states
        seen_waiting_beside_running = states.count("running") >= 1 and states.count("queued") >= 1
        if "queued" not in states:
            break
        time.sleep(0.2)
    assert seen_waiting_beside_running, states
    done = [wait_for_build(client, build, timeout=240) for build in builds]
    assert [build["status"] for build in done] == ["succeeded"] * REQUESTS, [b.get("error") for b in done]
    assert len({build["version"] for build in done}) == REQUESTS
