"""The service's state database on SQLite (default) and PostgreSQL (by URL): users, tokens, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hfit_api import accounts
from hfit_api.audit import AuditFilter, AuditLog
from hfit_api.security import hash_password, verify_password
from hfit_api.state import StateDB
from hfit_dagster.errors import AuthError, Conflict


def exercise(db: StateDB) -> None:
    with db.session() as session:
        _user, api_token = accounts.create_user(session, "pg-user", "approver", "s3cret")
    with db.session() as session:
        user = accounts.authenticate_password(session, "pg-user", "s3cret")
        session_token = accounts.issue_token(session, user, "session", timedelta(minutes=5))
    with db.session() as session:
        assert accounts.authenticate_token(session, api_token.secret)[0].name == "pg-user"
        found, token = accounts.authenticate_token(session, session_token.secret)
        assert found.role == "approver" and token.expires_at is not None and token.expires_at.tzinfo is not None
    with db.session() as session, pytest.raises(Conflict):
        accounts.create_user(session, "pg-user", "viewer")
    with db.session() as session:
        accounts.revoke_token(session, session_token.id)
    with db.session() as session, pytest.raises(AuthError, match="revoked"):
        accounts.authenticate_token(session, session_token.secret)
    log = AuditLog(db)
    log.record(action="packages.download", outcome="ok", user="pg-user", template="t", params={"ids": [1, 2]},
               version="v", bytes_sent=10, client="127.0.0.1")
    rows = log.query(AuditFilter(user="pg-user"))
    assert rows[0].params == {"ids": [1, 2]} and rows[0].bytes == 10 and rows[0].at.tzinfo is not None


def test_state_on_sqlite(tmp_path: Path) -> None:
    """`hfit admin` and `hfit serve` share users, tokens and audit through <home>/state.db."""
    db = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        exercise(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_state_on_postgresql(postgres_database: Callable[[], str]) -> None:
    """HFIT_STATE_URL=postgresql://… puts the same state in PostgreSQL (several API replicas can share it)."""
    db = StateDB(f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_database()}")
    try:
        exercise(db)
    finally:
        db.dispose()


def test_passwords_are_salted_scrypt() -> None:
    """Stored passwords are salted hashes; the same password hashes differently twice and still verifies."""
    # a password with spaces cannot turn up in the base64 salt or hash by chance (a short one can)
    password = "correct horse battery"
    first, second = hash_password(password), hash_password(password)
    assert first != second and first.startswith("scrypt$") and password not in first
    assert verify_password(password, first) and not verify_password(password + "!", first)
    assert not verify_password(password, None) and not verify_password(password, "garbage")


def test_an_older_state_database_gets_its_missing_nullable_columns(tmp_path: Path) -> None:
    """A state database made before a column existed gains it in place."""
    import sqlalchemy as sa

    from hfit_api.state import Base
    from hfit_dagster.schema_upgrade import add_missing_columns

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE templates DROP COLUMN approved_by")
        conn.exec_driver_sql("ALTER TABLE builds DROP COLUMN started_at")
    add_missing_columns(engine, Base.metadata.sorted_tables)
    inspector = sa.inspect(engine)
    assert "approved_by" in {c["name"] for c in inspector.get_columns("templates")}
    assert "started_at" in {c["name"] for c in inspector.get_columns("builds")}
    engine.dispose()
