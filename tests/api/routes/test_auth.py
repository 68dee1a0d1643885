"""``/auth``: token exchange, whoami, logout, the brute-force brake, and 401 for every bad token, in process."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hfit_api import accounts
from hfit_api.security import new_token
from tests.api.routes.conftest import InProcessApi


def session_token(api: InProcessApi, name: str, ttl: timedelta) -> str:
    with api.service.db.session() as session:
        return accounts.issue_token(session, accounts.find_user(session, name), "session", ttl).secret


@pytest.mark.parametrize("kind", ["missing", "forged", "garbage", "expired", "revoked"])
def test_bad_tokens_get_401_with_a_reason_and_are_audited(api: InProcessApi, kind: str) -> None:
    """A missing, forged, expired or revoked token never gets through; the answer says which, and is audited."""
    api.user("tess", "admin")
    headers: dict[str, str] = {}
    if kind == "forged":
        headers = {"Authorization": f"Bearer {new_token()}"}
    elif kind == "garbage":
        headers = {"Authorization": "Bearer ' OR 1=1 --"}
    elif kind == "expired":
        headers = {"Authorization": f"Bearer {session_token(api, 'tess', timedelta(seconds=-1))}"}
    elif kind == "revoked":
        headers = {"Authorization": f"Bearer {session_token(api, 'tess', timedelta(hours=1))}"}
        assert api.client.delete("/auth/token", headers=headers).status_code == 200
    response = api.client.get("/templates", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    expected = {"missing": "not authenticated", "forged": "invalid token", "garbage": "invalid token",
                "expired": "token has expired", "revoked": "token has been revoked"}[kind]
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and expected in error["message"]
    assert len(api.audit(action="templates.list", outcome="unauthorized")) == 1


def test_password_and_api_token_exchange_for_session_tokens(api: InProcessApi) -> None:
    """`hfit login` (password) and CI (API token) get expiring session tokens; a session token is not
    exchangeable for another; logout revokes the token it was sent with."""
    api_token = api.user("pat", "author", password="correct horse")
    by_password = api.client.post("/auth/token", json={"username": "pat", "password": "correct horse"})
    by_api_token = api.client.post("/auth/token", json={"api_token": api_token})
    assert by_password.status_code == 200 and by_api_token.status_code == 200
    refused = api.client.post("/auth/token", json={"api_token": by_password.json()["access_token"]})
    assert refused.status_code == 401
    for answer in (by_password.json(), by_api_token.json()):
        assert answer["user"] == "pat" and answer["role"] == "author" and answer["expires_at"]
        me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {answer['access_token']}"})
        assert me.json()["name"] == "pat" and me.json()["token_kind"] == "session"
    headers = {"Authorization": f"Bearer {by_password.json()['access_token']}"}
    revoked = api.client.delete("/auth/token", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert api.client.get("/auth/me", headers=headers).status_code == 401
    assert [r.outcome for r in api.audit(action="auth.token", user="pat")] == ["ok", "ok"]
    assert len(api.audit(action="auth.token", outcome="unauthorized")) == 1
    assert api.audit(action="auth.logout", user="pat")


def test_a_login_needs_either_a_password_or_an_api_token(api: InProcessApi) -> None:
    """A body with neither credential is a 400 that says what to send, not a 401 or a 500."""
    response = api.client.post("/auth/token", json={"username": "pat"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "either username and password, or api_token" in response.json()["error"]["message"]


def test_password_guessing_is_braked_with_429(api: InProcessApi) -> None:
    """After 5 wrong passwords in a minute the user+address gets 429 with Retry-After, even with the right one;
    an unknown user gets the same message as a wrong password."""
    api.user("guessme", "viewer", password="the-real-one")
    codes = [api.client.post("/auth/token", json={"username": "guessme", "password": f"wrong-{i}"}).status_code
             for i in range(5)]
    blocked = api.client.post("/auth/token", json={"username": "guessme", "password": "the-real-one"})
    unknown = api.client.post("/auth/token", json={"username": "nobody-here", "password": "x"})
    assert codes == [401] * 5
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    assert blocked.headers["retry-after"]
    assert unknown.status_code == 401 and unknown.json()["error"]["message"] == "wrong user name or password"
    outcomes = [r.outcome for r in api.audit(action="auth.token", user="guessme")]
    assert outcomes == ["unauthorized"] * 5 + ["rate_limited"]
