"""Load against a real uvicorn: 50 concurrent downloads and 20 concurrent build requests — zero errors, an
audit row for every request, flat server memory. p50/p99 are printed (figures, not assertions).

The soak variant (``make soak``: HFIT_SOAK=1) repeats the same checks with ten times the requests."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.api.service_harness import RunningServer, wait_for_build

SOAK = os.environ.get("HFIT_SOAK") == "1"
DOWNLOADS = 500 if SOAK else 50
BUILDS = 200 if SOAK else 20


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def test_50_concurrent_downloads(server: RunningServer, built: dict[str, Any]) -> None:
    token = server.user("loady", "viewer")
    path = f"/packages/integration-test-suite/versions/{built['version']}"
    before = len(server.audit(user="loady"))
    rss_before = server.rss_kib()

    def download(_: int) -> tuple[int, int, float]:
        started = time.perf_counter()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            response = c.get(path, params={"format": "sql"})
        return response.status_code, len(response.content), time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(download, range(DOWNLOADS)))
    statuses = {status for status, _, _ in results}
    sizes = {size for _, size, _ in results}
    assert statuses == {200} and len(sizes) == 1
    assert len(server.audit(user="loady")) - before == DOWNLOADS
    growth_mb = (server.rss_kib() - rss_before) / 1024
    latency = _percentiles([t for *_, t in results])
    print(f"\n{DOWNLOADS} downloads, 50 at a time: {latency}, server RSS +{growth_mb:.1f} MB")
    assert growth_mb < 100


def test_20_concurrent_build_requests(server: RunningServer) -> None:
    token = server.user("buildy", "viewer")
    before = len(server.audit(user="buildy"))

    def request(i: int) -> tuple[int, dict[str, Any], float]:
        started = time.perf_counter()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            response = c.post("/packages/integration-test-suite/builds",
                              json={"params": {"row_limit": 20 + i % 4}})
            body = response.json()
            if response.status_code in (200, 202):
                body = wait_for_build(c, body, timeout=240)
        return response.status_code, body, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(request, range(BUILDS)))
    assert {status for status, _, _ in results} <= {200, 202}
    assert {body["status"] for _, body, _ in results} == {"succeeded"}, [b.get("error") for _, b, _ in results]
    versions = {body["params"]["row_limit"]: body["version"] for _, body, _ in results}
    assert len(set(versions.values())) == 4  # identical requests joined or reused one build
    assert len(server.audit(user="buildy")) - before >= BUILDS
    print(f"\n{BUILDS} build requests, 20 at a time: {_percentiles([t for *_, t in results])}")
