"""The audit log: one row per request (reads included), template change, approval, build, download, refusal
and ``hfit admin`` command.

Each row is committed in its own transaction before the handler goes on (for downloads: before the first
byte is sent), so a crash after the fact cannot lose it. Rows never hold tokens, passwords or data values;
``params`` are build parameters as the package manifest keeps them (``parameter_digests``): every name, values
as keyed digests but for flags, nulls and built-in knobs the template does not declare; callers pass them so.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hfit_api.state import AuditEntry, StateDB

MAX_DETAIL = 500


@dataclass
class RequestMarker:
    """How many audit rows the request being served has written (see request_audit)."""

    rows: int = 0


CURRENT_REQUEST: ContextVar[RequestMarker | None] = ContextVar("hfit_current_request", default=None)


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None
    template: str | None = None
    action: str | None = None
    outcome: str | None = None
    limit: int = 100


class AuditLog:
    def __init__(self, db: StateDB) -> None:
        self.db = db

    def record(self, *, action: str, outcome: str, user: str | None = None, template: str | None = None,
               params: dict[str, Any] | None = None, version: str | None = None, bytes_sent: int | None = None,
               status: int | None = None, client: str | None = None, detail: str | None = None) -> None:
        entry = AuditEntry(
            user=_clip(user, 100), action=action, outcome=outcome, template=_clip(template, 200),
            params=_jsonable(params), version=_clip(version, 100), bytes=bytes_sent, status=status,
            client=_clip(client, 100), detail=_clip(detail, MAX_DETAIL),
        )
        with self.db.session() as session:
            session.add(entry)
        marker = CURRENT_REQUEST.get()
        if marker is not None:
            marker.rows += 1

    def query(self, where: AuditFilter) -> list[AuditEntry]:
        statement = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(where.limit)
        if where.user is not None:
            statement = statement.where(AuditEntry.user == where.user)
        if where.template is not None:
            statement = statement.where(AuditEntry.template == where.template)
        if where.action is not None:
            statement = statement.where(AuditEntry.action == where.action)
        if where.outcome is not None:
            statement = statement.where(AuditEntry.outcome == where.outcome)
        with self.db.session() as session:
            return list(session.scalars(statement))


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    printable = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def _jsonable(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return json.loads(json.dumps(params, default=str))
