"""Fixtures of the client tests: a real ``hfit serve`` for the session and a package built on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.service_harness import RunningServer, shared_server, wait_for_build


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, demo_source: str) -> Iterator[RunningServer]:
    yield from shared_server(tmp_path_factory, demo_source)


@pytest.fixture(scope="session")
def built(server: RunningServer) -> dict[str, Any]:
    """A package of integration-test-suite (row_limit=4), built through the API."""
    with server.client(server.user("builder", "viewer")) as client:
        response = client.post("/packages/integration-test-suite/builds", json={"params": {"row_limit": 4}})
        build = wait_for_build(client, response.json())
    assert build["status"] == "succeeded", (build["error"], server.log_tail())
    return build


@pytest.fixture
def viewer_xdg(server: RunningServer, tmp_path: Path) -> Path:
    """A config directory where a viewer is logged in (with an API token, as CI would)."""
    xdg = tmp_path / "xdg"
    result = server.cli("login", "--token", server.user("cli-viewer", "viewer"), xdg=xdg)
    assert result.returncode == 0, result.stderr
    return xdg
