"""Authentication against a real server: tokens, expiry, revocation, brute-force brake, audit of refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hfit_api.security import new_token
from tests.api.service_harness import RunningServer


def test_health_and_openapi_need_no_token(server: RunningServer) -> None:
    """Monitoring can probe /healthz, and the OpenAPI docs list every route of the service."""
    with server.client() as client:
        assert client.get("/healthz").json()["status"] == "ok"
        paths = client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200
    for route in ("/auth/token", "/templates", "/templates/{name}", "/packages/{template}",
                  "/packages/{template}/versions/{version}", "/packages/{template}/builds", "/builds/{build_id}",
                  "/alerts", "/audit", "/healthz"):
        assert route in paths, route


@pytest.mark.parametrize("kind", ["missing", "forged", "garbage", "expired", "revoked"])
def test_bad_tokens_get_401_and_are_audited(server: RunningServer, kind: str) -> None:
    """No request with a missing, forged, expired or revoked token gets through; each refusal is audited."""
    server.user("tess", "admin")
    if kind == "missing":
        token = None
    elif kind == "forged":
        token = new_token()  # well-formed, never issued
    elif kind == "garbage":
        token = "' OR 1=1 --"
    elif kind == "expired":
        token = server.session_token("tess", timedelta(seconds=-1))
    else:
        token = server.session_token("tess", timedelta(hours=1))
        with server.client(token) as client:
            assert client.get("/auth/me").status_code == 200
            assert client.delete("/auth/token").status_code == 200
    before = len(server.audit(action="templates.list", outcome="unauthorized"))
    with server.client(token) as client:
        response = client.get("/templates")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    expected = {"missing": "not authenticated", "forged": "invalid token", "garbage": "invalid token",
                "expired": "token has expired", "revoked": "token has been revoked"}[kind]
    assert expected in error["message"]
    assert len(server.audit(action="templates.list", outcome="unauthorized")) == before + 1


def test_password_and_api_token_exchange_for_expiring_session_tokens(server: RunningServer) -> None:
    """`hfit login` (password) and CI (API token) both get an expiring session token; logout revokes it."""
    api_token = server.user("pat", "author", password="correct horse")
    with server.client() as client:
        by_password = client.post("/auth/token", json={"username": "pat", "password": "correct horse"}).json()
        by_api_token = client.post("/auth/token", json={"api_token": api_token}).json()
        # a session token cannot be exchanged for a longer one
        refused = client.post("/auth/token", json={"api_token": by_password["access_token"]})
    assert refused.status_code == 401
    for answer in (by_password, by_api_token):
        assert answer["user"] == "pat" and answer["role"] == "author" and answer["expires_at"]
        with server.client(answer["access_token"]) as client:
            me = client.get("/auth/me").json()
            assert me["name"] == "pat" and me["token_kind"] == "session"
    with server.client(by_password["access_token"]) as client:
        assert client.delete("/auth/token").json()["revoked"] is True
        assert client.get("/auth/me").status_code == 401
    outcomes = [(row.user, row.outcome) for row in server.audit(action="auth.token")]
    assert ("pat", "ok") in outcomes
    assert server.audit(action="auth.logout", user="pat")


def test_tokens_are_stored_hashed(server: RunningServer) -> None:
    """The state database never holds a token itself, only its sha256."""
    token = server.user("hash-check", "viewer")
    raw = (server.home / "state.db").read_bytes()
    wal = server.home / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert token.encode() not in raw
    assert token[5:].encode() not in raw


def test_password_guessing_is_rate_limited_and_audited(server: RunningServer) -> None:
    """After 5 wrong passwords in a minute the user+address gets 429, even with the right password."""
    server.user("guessme", "viewer", password="the-real-one")
    with server.client() as client:
        codes = [client.post("/auth/token", json={"username": "guessme", "password": f"wrong-{i}"}).status_code
                 for i in range(5)]
        blocked = client.post("/auth/token", json={"username": "guessme", "password": "the-real-one"})
        unknown = client.post("/auth/token", json={"username": "nobody-here", "password": "x"})
    assert codes == [401] * 5
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    assert blocked.headers["retry-after"]
    assert unknown.status_code == 401 and unknown.json()["error"]["message"] == "wrong user name or password"
    rows = server.audit(action="auth.token", user="guessme")
    assert [r.outcome for r in rows].count("unauthorized") == 5
    assert [r.outcome for r in rows][-1] == "rate_limited"
    assert all(r.client == "127.0.0.1" for r in rows)


def test_audit_is_for_admins_and_filters(server: RunningServer) -> None:
    """Only admins read the audit log; filters by user, action and template work."""
    viewer = server.user("vic", "viewer")
    admin = server.user("ada", "admin")
    with server.client(viewer) as client:
        assert client.get("/audit").status_code == 403
    with server.client(admin) as client:
        rows = client.get("/audit", params={"user": "vic", "action": "audit.list"}).json()
        assert rows and all(r["user"] == "vic" and r["outcome"] == "forbidden" for r in rows)
        assert client.get("/audit", params={"limit": 0}).status_code == 400
