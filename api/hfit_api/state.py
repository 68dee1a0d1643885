"""The service's own state: users, tokens, API-made templates, approvals, builds and the audit log.

SQLite at ``<home>/state.db`` by default (``hfit admin`` and ``hfit serve`` in one checkout share it),
any SQLAlchemy URL (PostgreSQL for several replicas) through ``HFIT_STATE_URL``. Tables are created on
first use; there is no migration tool yet, so columns are only ever added with defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

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
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str | None] = mapped_column(sa.String(300), default=None)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Token(Base):
    """A bearer token. Only its sha256 is stored; the token itself is shown once and never again."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # "api" (long-lived, for CI) or "session" (expiring)
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


class StateDB:
    """Engine and sessions over the state database; creates the tables on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        connect_args = {"check_same_thread": False, "timeout": 30} if is_sqlite else {}
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=not is_sqlite)
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
