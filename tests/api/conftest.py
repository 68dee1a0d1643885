"""Fixtures of the API tests: one real ``hfit serve`` for the session, and one built package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.service_harness import RunningServer, shared_server, wait_for_build


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    yield from shared_server(tmp_path_factory, demo_source)


@pytest.fixture(scope="session")
def built(server: RunningServer) -> dict[str, Any]:
    """A package of integration-test-suite (row_limit=4) built through the API by a viewer."""
    with server.client(server.user("vera", "viewer")) as client:
        response = client.post("/packages/integration-test-suite/builds", json={"params": {"row_limit": 4}})
        assert response.status_code in (200, 202), response.text
        build = wait_for_build(client, response.json())
    assert build["status"] == "succeeded", (build["error"], server.log_tail())
    return build
