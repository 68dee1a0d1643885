"""User lifecycle and login brakes against the real app (in process), with ``hfit admin`` run through its CLI on
the same state database: every attack is refused, and every refusal and admin action leaves an audit row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hfit_api.main import create_app
from hfit_api.state import Token, User
from hfit_dagster.cli.main import app as hfit
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings

runner = CliRunner()


@pytest.fixture
def app(tmp_path: Path, demo_source: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    settings = service_settings(tmp_path, demo_source)
    for key in ("HFIT_STATE_URL", "HFIT_STORE_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HFIT_HOME", str(settings.home))
    monkeypatch.setenv("HFIT_TEMPLATES_DIR", str(settings.templates_dir))
    launcher = ScriptedLauncher()
    application = create_app(settings, launcher)
    with TestClient(application) as client:
        yield InProcessApi(client=client, service=application.state.service, launcher=launcher)


def admin(*args: str, input: str | None = None) -> tuple[int, str]:
    """Exit code and stdout (where a new token goes) of ``hfit admin ...``."""
    result = runner.invoke(hfit, ["admin", *args], input=input)
    return result.exit_code, result.stdout


def me(app: InProcessApi, token: str) -> int:
    return app.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def login(app: InProcessApi, user: str, password: str, address: str = "testclient") -> tuple[int, dict, dict]:
    client = app.client if address == "testclient" else TestClient(app.client.app, client=(address, 40000))
    response = client.post("/auth/token", json={"username": user, "password": password})
    return response.status_code, response.json(), dict(response.headers)


def test_a_deleted_users_id_is_never_reused_and_their_token_authenticates_nobody(app: InProcessApi) -> None:
    old = app.user("mallory", "viewer")
    code, _ = admin("delete-user", "mallory")
    assert code == 0 and me(app, old) == 401
    code, out = admin("create-user", "root", "--role", "admin")
    new = out.strip().splitlines()[-1]
    assert code == 0 and me(app, new) == 200 and me(app, old) == 401
    with app.service.db.session() as session:
        ids = {u.name: u.id for u in session.query(User)}
        tokens = session.query(Token).filter(Token.user_id == ids["mallory#deleted-1"]).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
    assert ids["root"] != ids["mallory#deleted-1"]
    # the name is free again, the new user gets a new id
    assert admin("create-user", "mallory")[0] == 0
    with app.service.db.session() as session:
        assert session.query(User).filter(User.name == "mallory").one().id not in ids.values()
    assert len(app.audit(action="auth.me", status=401)) == 2


def test_disabled_users_can_neither_log_in_nor_use_tokens(app: InProcessApi) -> None:
    token = app.user("dora", "author", password="correct horse")
    assert admin("disable-user", "dora")[0] == 0
    assert login(app, "dora", "correct horse")[0] == 401 and me(app, token) == 401
    assert admin("enable-user", "dora")[0] == 0
    assert login(app, "dora", "correct horse")[0] == 200 and me(app, token) == 200


def test_revoking_an_api_token_ends_the_sessions_made_from_it(app: InProcessApi) -> None:
    api_token = app.user("cici", "viewer")
    exchanged = app.client.post("/auth/token", json={"api_token": api_token}).json()
    assert me(app, exchanged["access_token"]) == 200
    with app.service.db.session() as session:
        token_id = session.query(Token).filter(Token.kind == "api").one().id
    assert admin("revoke-token", token_id)[0] == 0
    assert me(app, exchanged["access_token"]) == 401 and me(app, api_token) == 401


def test_role_change_and_password_reset(app: InProcessApi) -> None:
    token = app.user("rita", "viewer", password="old password")
    session_token = login(app, "rita", "old password")[1]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert app.client.post("/templates/validate", json={"yaml": "x: 1"}, headers=headers).status_code == 400
    assert app.client.post("/templates", json={"yaml": "x: 1"}, headers=headers).status_code == 403
    assert admin("set-role", "rita", "author")[0] == 0
    assert app.client.post("/templates", json={"yaml": "x: 1"}, headers=headers).status_code == 400  # now allowed
    assert admin("set-role", "rita", "emperor")[0] != 0
    assert admin("reset-password", "rita", "--password-stdin", input="new password\n")[0] == 0
    assert login(app, "rita", "old password")[0] == 401 and login(app, "rita", "new password")[0] == 200
    assert me(app, session_token) == 401 and me(app, token) == 200


def test_every_admin_action_is_audited_done_or_refused(app: InProcessApi) -> None:
    admin("create-user", "audra", "--role", "author")
    admin("list-users")
    admin("delete-user", "nobody-here")
    admin("disable-user", "audra")
    rows = [(r.action, r.outcome) for r in app.audit() if r.action.startswith("admin.")]
    assert rows == [("admin.create-user", "ok"), ("admin.list-users", "ok"), ("admin.delete-user", "not_found"),
                    ("admin.disable-user", "ok")]
    assert all(r.user.startswith("local:") for r in app.audit() if r.action.startswith("admin."))


def test_password_guessing_is_braked_per_pair_per_account_and_per_address(app: InProcessApi) -> None:
    limit = app.settings.auth_failures_per_minute
    app.user("paula", "viewer", password="paula's password")
    for _ in range(limit):
        assert login(app, "paula", "guess")[0] == 401
    status, body, headers = login(app, "paula", "paula's password")
    assert status == 429 and body["error"]["code"] == "rate_limited" and int(headers["retry-after"]) <= 61
    # one account from many addresses: the account brake holds even with the right password
    app.user("alice", "viewer", password="alice's password")
    for n in range(limit * 3):
        assert login(app, "alice", "guess", address=f"10.0.1.{n}")[0] == 401
    assert login(app, "alice", "alice's password", address="10.0.2.1")[0] == 429
    # one address spraying one password over many accounts
    for n in range(limit * 3):
        assert login(app, f"user{n}", "Summer2026!", address="10.0.3.1")[0] == 401
    assert login(app, "paula", "paula's password", address="10.0.3.1")[0] == 429
    refusals = app.audit(action="auth.token", outcome="rate_limited")
    assert len(refusals) == 3 and {r.client for r in refusals} == {"testclient", "10.0.2.1", "10.0.3.1"}
