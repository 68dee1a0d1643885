"""Secrets never reach logs: after the API suite has logged users in, built and downloaded, the server's log
holds no token, password, masking key or alert secret."""

from __future__ import annotations

from tests.api.service_harness import ALERT_SECRET, RunningServer
from tests.conftest import TEST_MASKING_KEY


def test_server_log_has_no_secrets(server: RunningServer, built: dict) -> None:
    token = server.user("logwatch", "viewer")
    with server.client() as client:
        assert client.post("/auth/token", json={"username": "logwatch", "password": "wrong-password-123"}
                           ).status_code in (401, 429)
        forged = client.get("/packages/integration-test-suite",
                            headers={"Authorization": "Bearer hfit_forged_token_value"})
        assert forged.status_code == 401
    log = (server.root / "server.log").read_text(errors="replace")
    for secret in [token, *server.tokens.values(), "wrong-password-123", "hfit_forged_token_value",
                   TEST_MASKING_KEY, ALERT_SECRET]:
        assert secret not in log
