"""The service's own state: users, tokens, API-made templates, approvals, builds and the audit log.

SQLite at ``<home>/state.db`` by default (``hfit admin`` and ``hfit serve`` in one checkout share it; the
file is 0600 in a 0700 folder), any SQLAlchemy URL (PostgreSQL for several replicas) through
``HFIT_STATE_URL``. Tables are created on first use; there is no migration tool, so columns are only ever
added, nullable, and ``schema_upgrade.add_missing_columns`` adds them to an older database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from hfit_dagster.schema_upgrade import add_missing_columns

ROLES = ("viewer", "author", "approver", "admin")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps are stored as naive UTC and always come back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    pass


class User(Base):
    """A user. Deleting one keeps the row as a tombstone (renamed, disabled, ``deleted_at`` set), so an id is
    never given to anyone else and a token of the deleted user can never authenticate a later user."""

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str | None] = mapped_column(sa.String(300), default=None)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Token(Base):
    """A bearer token. Only its sha256 is stored; the token itself is shown once and never again."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # "api" (long-lived, for CI) or "session" (expiring)
    # the API token a session token was exchanged for: revoking that token ends the session too
    parent_id: Mapped[str | None] = mapped_column(sa.String(40), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class TemplateRecord(Base):
    """A template created or changed through the API (it wins over templates/ for the same name)."""

    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(sa.Text)
    owner: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(20))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    folder: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(sa.String(100))
    approved_by: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    approved_hash: Mapped[str | None] = mapped_column(sa.String(64), default=None)


class TemplateRevision(Base):
    """A proposed change to an approved or repository template, waiting for someone else to approve its hash.

    The approved content keeps building meanwhile; one revision per template is pending at a time.
    """

    __tablename__ = "template_revisions"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    base_hash: Mapped[str] = mapped_column(sa.String(64))
    proposed_by: Mapped[str] = mapped_column(sa.String(100))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Approval(Base):
    """Every approval ever given: which exact content (hash) of which template, by whom, when."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(sa.String(100), index=True)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    approved_by: Mapped[str] = mapped_column(sa.String(100))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Build(Base):
    __tablename__ = "builds"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    template: Mapped[str] = mapped_column(sa.String(100), index=True)
    template_hash: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    params_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(20))  # queued | running | succeeded | failed
    fresh: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    version: Mapped[str | None] = mapped_column(sa.String(60), default=None)
    run_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    error_code: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    error_message: Mapped[str | None] = mapped_column(sa.Text, default=None)
    error_hint: Mapped[str | None] = mapped_column(sa.Text, default=None)
    host: Mapped[str] = mapped_column(sa.String(200), default="")


class AuditEntry(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    template: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    version: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    bytes: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    outcome: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[int | None] = mapped_column(default=None)
    client: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    detail: Mapped[str | None] = mapped_column(sa.Text, default=None)


class AppliedMigration(Base):
    """A one-time rewrite of stored rows (``stored_params.py``, ``stored_alerts.py``) this database has had, so it
    runs once."""

    __tablename__ = "applied_migrations"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StateDB:
    """Engine and sessions over the state database; creates the tables on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        database = sa.engine.make_url(url).database if is_sqlite else None
        if database and database != ":memory:":
            make_private(Path(database))
        connect_args = {"check_same_thread": False, "timeout": 30} if is_sqlite else {}
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=not is_sqlite)
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine, Base.metadata.sorted_tables)
        if database and database != ":memory:":
            for sidecar in (Path(f"{database}-wal"), Path(f"{database}-shm")):
                if sidecar.exists():
                    sidecar.chmod(0o600)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def migration_applied(self, name: str) -> bool:
        """Whether the one-time rewrite ``name`` (an ``AppliedMigration``) is recorded as done."""
        with self.session() as session:
            return session.get(AppliedMigration, name) is not None

    def record_migration(self, name: str) -> None:
        """Record the one-time rewrite ``name`` as done; another replica recording it at the same time is not an
        error."""
        try:
            with self.session() as session:
                session.add(AppliedMigration(name=name))
        except IntegrityError:
            pass

    def dispose(self) -> None:
        self.engine.dispose()


def make_private(path: Path) -> None:
    """``path`` as a file only its owner reads and writes (0600), in a folder only its owner enters (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    path.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
