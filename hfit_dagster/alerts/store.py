"""The alert store: one table in the service's state database, written by ``POST /alerts``, read by Dagster.

Alerts are appended with an increasing id; the Dagster sensor keeps the last id it processed as its
cursor, and derives each run's ``run_key`` from the alert id, so an alert leads to exactly one run per
matching template however often the sensor ticks or restarts. An alert that carries its own id
(``source_id``, e.g. the monitoring system's) is stored once, however often it is delivered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
alerts = sa.Table(
    "hfit_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(200), nullable=True, unique=True),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class StoredAlert:
    id: int
    source_id: str | None
    received_at: datetime
    occurred_at: datetime
    payload: dict[str, Any]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def alert_time(payload: dict[str, Any], fallback: datetime) -> datetime:
    """When the alert happened: ``at``/``timestamp``/``startsAt`` in the payload, else when it arrived."""
    for key in ("at", "timestamp", "startsAt", "occurred_at"):
        value = payload.get(key)
        if isinstance(value, str):
            try:
                return _naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                continue
    return fallback


class AlertStore:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    def add(self, payload: dict[str, Any], source_id: str | None = None) -> tuple[int, bool]:
        """Store an alert; ``(id, created)`` — an already stored ``source_id`` returns its id, not a copy."""
        received = datetime.now(UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            if source_id is not None:
                existing = conn.execute(sa.select(alerts.c.id).where(alerts.c.source_id == source_id)).scalar()
                if existing is not None:
                    return int(existing), False
            result = conn.execute(alerts.insert().values(
                source_id=source_id, received_at=received, occurred_at=alert_time(payload, received),
                payload=json.dumps(payload, sort_keys=True),
            ))
            return int(result.inserted_primary_key[0]), True

    def after(self, cursor: int, limit: int = 100) -> list[StoredAlert]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(alerts).where(alerts.c.id > cursor).order_by(alerts.c.id).limit(limit)
            ).fetchall()
        return [StoredAlert(id=r.id, source_id=r.source_id, received_at=r.received_at, occurred_at=r.occurred_at,
                            payload=json.loads(r.payload)) for r in rows]

    def dispose(self) -> None:
        self.engine.dispose()
