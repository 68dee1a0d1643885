"""The alert store: one table in the service's state database, written by ``POST /alerts``, read by Dagster.

Alerts are appended with an increasing id; the Dagster sensor keeps the last id it processed as its
cursor, and derives each run's ``run_key`` from the alert id, so an alert leads to exactly one run per
matching template however often the sensor ticks or restarts. An alert that carries its own id
(``source_id``, e.g. the monitoring system's) is stored once, however often it is delivered.

A payload names people (e-mails, customer ids, a summary quoting them), so it is stored sealed
(``sealed_payload.py``) and opened in memory by the sensor only. The sensor marks what it consumed (when, and
the templates it asked runs of); a consumed alert received longer ago than the retention period loses its
payload (emptied), and keeps what a governance listing shows: id, source id, times, status, templates. A payload
that does not open with a masking key that opens others (altered in the database, or sealed under an earlier key)
is marked ``unopened`` by the sensor and emptied at once: no run can come of it, and it must not hold back the
alerts after it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from hfit_dagster.alerts.sealed_payload import SEALED_PREFIX, is_sealed, open_payload, seal_payload
from hfit_dagster.errors import BuildError
from hfit_dagster.schema_upgrade import add_missing_columns
from hfit_dagster.settings import load_settings

log = logging.getLogger("hfit_dagster.alerts.store")
DROPPED = ""  # the payload of an expired alert: empty, as the column is NOT NULL
BATCH_ROWS = 500

metadata = sa.MetaData()
alerts = sa.Table(
    "hfit_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(200), nullable=True, unique=True),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("consumed_at", sa.DateTime, nullable=True),
    sa.Column("templates", sa.Text, nullable=True),
    sa.Column("payload_dropped_at", sa.DateTime, nullable=True),
    sa.Column("unopened_at", sa.DateTime, nullable=True),
)

AlertStatus = Literal["pending", "consumed", "expired", "unopened"]


@dataclass(frozen=True)
class StoredAlert:
    id: int
    source_id: str | None
    received_at: datetime
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class UnopenedAlert:
    """A kept payload that does not open with the store's key; ``sealed`` is false for one stored as received
    (which the service seals at its start)."""

    id: int
    sealed: bool


@dataclass(frozen=True)
class PendingAlerts:
    """The alerts after a cursor whose payload is kept: those that open, and those that do not, in id order."""

    opened: list[StoredAlert]
    unopened: list[UnopenedAlert]

    @property
    def last_id(self) -> int | None:
        ids = [alert.id for alert in self.opened] + [alert.id for alert in self.unopened]
        return max(ids) if ids else None


@dataclass(frozen=True)
class AlertSummary:
    """What may be listed about an alert: nothing from its payload but the time it names."""

    id: int
    source_id: str | None
    received_at: datetime
    occurred_at: datetime
    status: AlertStatus
    consumed_at: datetime | None
    templates: list[str]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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
    """The alert table, sealing and opening payloads with ``masking_key`` (when not given, the environment's, read
    when a payload is first sealed or opened: a listing needs none)."""

    def __init__(self, url: str, masking_key: bytes | None = None) -> None:
        self._given_key = masking_key
        self.engine = sa.create_engine(url)
        _create_table(self.engine)
        add_missing_columns(self.engine, [alerts])

    @property
    def _key(self) -> bytes:
        if self._given_key is None:
            self._given_key = load_settings().masking_key_bytes()
        return self._given_key

    def add(self, payload: dict[str, Any], source_id: str | None = None) -> tuple[int, bool]:
        """Store an alert, its payload sealed; ``(id, created)`` — an already stored ``source_id`` returns its id,
        not a copy, also when another replica of the service stores it at the same time."""
        received = _now()
        try:
            with self.engine.begin() as conn:
                existing = self._stored_id(conn, source_id)
                if existing is not None:
                    return existing, False
                result = conn.execute(alerts.insert().values(  # sealed below, bound to the row's id, before commit
                    source_id=source_id, received_at=received, occurred_at=alert_time(payload, received),
                    payload=DROPPED,
                ))
                alert_id = int(result.inserted_primary_key[0])
                conn.execute(alerts.update().where(alerts.c.id == alert_id)
                             .values(payload=seal_payload(source_id, payload, self._key, alert_id)))
                return alert_id, True
        except sa.exc.IntegrityError:
            with self.engine.connect() as conn:
                existing = self._stored_id(conn, source_id)
            if existing is None:
                raise
            return existing, False

    @staticmethod
    def _stored_id(conn: sa.Connection, source_id: str | None) -> int | None:
        if source_id is None:
            return None
        found = conn.execute(sa.select(alerts.c.id).where(alerts.c.source_id == source_id)).scalar()
        return None if found is None else int(found)

    def after(self, cursor: int, limit: int = 100) -> list[StoredAlert]:
        """The alerts after ``cursor`` whose payload is kept, opened; an expired or unopened one is skipped (the
        sensor has handled it); BuildError, naming the alert, when a payload does not open."""
        return [self._opened(row) for row in self._kept_after(cursor, limit)]

    def pending(self, cursor: int, limit: int = 100) -> PendingAlerts:
        """The alerts after ``cursor`` whose payload is kept, split into those that open and those that do not
        (their ids only: nothing of an unopened payload is read)."""
        opened: list[StoredAlert] = []
        unopened: list[UnopenedAlert] = []
        for row in self._kept_after(cursor, limit):
            try:
                opened.append(self._opened(row))
            except BuildError:
                unopened.append(UnopenedAlert(id=row.id, sealed=is_sealed(row.payload)))
        return PendingAlerts(opened=opened, unopened=unopened)

    def _kept_after(self, cursor: int, limit: int) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(
                sa.select(alerts).where(alerts.c.id > cursor, alerts.c.payload != DROPPED)
                .order_by(alerts.c.id).limit(limit)
            ).fetchall())

    def _opened(self, row: sa.Row[Any]) -> StoredAlert:
        return StoredAlert(id=row.id, source_id=row.source_id, received_at=row.received_at,
                           occurred_at=row.occurred_at, payload=open_payload(row.id, row.source_id, row.payload,
                                                                             self._key))

    def mark_unopened(self, ids: Sequence[int]) -> None:
        """Alerts ``ids`` hold a payload that does not open with a key that opens others: their payload is emptied
        (no run can come of it, and it is never read again) and they are listed as ``unopened``."""
        if not ids:
            return
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(alerts.update().where(alerts.c.id.in_(list(ids))).values(
                payload=DROPPED, payload_dropped_at=now, unopened_at=now,
                consumed_at=sa.func.coalesce(alerts.c.consumed_at, now),
                templates=sa.func.coalesce(alerts.c.templates, "")))

    def mark_consumed(self, through: int, templates: Mapping[int, Sequence[str]]) -> None:
        """Alerts up to id ``through`` are consumed by the sensor; ``templates`` names, per alert it looked at, the
        templates it asked a run of (alerts consumed without a record of it get none)."""
        now = _now()
        with self.engine.begin() as conn:
            for alert_id, names in templates.items():
                conn.execute(alerts.update().where(alerts.c.id == alert_id, alerts.c.consumed_at.is_(None))
                             .values(consumed_at=now, templates=",".join(names)))
            conn.execute(alerts.update().where(alerts.c.id <= through, alerts.c.consumed_at.is_(None))
                         .values(consumed_at=now, templates=""))

    def drop_expired_payloads(self, retention: timedelta) -> int:
        """Empty the payload of every consumed alert received more than ``retention`` ago; returns how many."""
        now = _now()
        with self.engine.begin() as conn:
            result = conn.execute(alerts.update().where(
                alerts.c.consumed_at.is_not(None), alerts.c.received_at < now - retention,
                alerts.c.payload != DROPPED,
            ).values(payload=DROPPED, payload_dropped_at=now))
            return int(result.rowcount or 0)

    def summaries(self, limit: int = 100, before: int | None = None) -> list[AlertSummary]:
        """The newest alerts (below id ``before``), without their payloads."""
        columns = [alerts.c.id, alerts.c.source_id, alerts.c.received_at, alerts.c.occurred_at,
                   alerts.c.consumed_at, alerts.c.templates, alerts.c.unopened_at,
                   (alerts.c.payload == DROPPED).label("dropped")]
        statement = sa.select(*columns).order_by(alerts.c.id.desc()).limit(limit)
        if before is not None:
            statement = statement.where(alerts.c.id < before)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).fetchall()
        return [AlertSummary(
            id=r.id, source_id=r.source_id, received_at=r.received_at, occurred_at=r.occurred_at,
            status=_status(r.unopened_at is not None, r.dropped, r.consumed_at is not None),
            consumed_at=r.consumed_at, templates=[name for name in (r.templates or "").split(",") if name],
        ) for r in rows]

    def seal_plain_payloads(self) -> int:
        """Seal every payload stored as given (JSON text); returns how many were rewritten. A payload that is not a
        JSON object (no alert the sensor can read, which would stop its every tick once sealed) is dropped as an
        expired alert's is, so no stored text stays readable and the start goes on."""
        count = dropped = 0
        for batch in self._plain_batches():
            with self.engine.begin() as conn:
                for row in conn.execute(sa.select(alerts.c.id, alerts.c.source_id, alerts.c.payload)
                                        .where(alerts.c.id.in_(batch))):
                    if row.payload == DROPPED or is_sealed(row.payload):
                        continue
                    payload = _json_object(row.payload)
                    if payload is None:
                        now = _now()
                        conn.execute(alerts.update().where(alerts.c.id == row.id).values(
                            payload=DROPPED, payload_dropped_at=now,
                            consumed_at=sa.func.coalesce(alerts.c.consumed_at, now),
                            templates=sa.func.coalesce(alerts.c.templates, "")))
                        dropped += 1
                        continue
                    sealed = seal_payload(row.source_id, payload, self._key, row.id)
                    conn.execute(alerts.update().where(alerts.c.id == row.id).values(payload=sealed))
                    count += 1
        if dropped:
            log.warning("dropped %d stored alert payload(s) that were not a JSON object (no run can come of them)",
                        dropped)
        return count

    def _plain_batches(self) -> Iterator[list[int]]:
        """Ids of the rows whose payload is not sealed, a batch at a time (bounded memory)."""
        last = 0
        while True:
            with self.engine.connect() as conn:
                ids = list(conn.execute(
                    sa.select(alerts.c.id).where(alerts.c.id > last, alerts.c.payload != DROPPED,
                                                 alerts.c.payload.not_like(f"{SEALED_PREFIX}%"))
                    .order_by(alerts.c.id).limit(BATCH_ROWS)).scalars())
            if not ids:
                return
            yield ids
            last = ids[-1]

    def dispose(self) -> None:
        self.engine.dispose()


def _status(unopened: bool, dropped: bool, consumed: bool) -> AlertStatus:
    if unopened:
        return "unopened"
    if dropped:
        return "expired"
    return "consumed" if consumed else "pending"


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _create_table(engine: sa.Engine) -> None:
    """The alert table, created when missing; another replica of the service creating it at the same time is not
    an error."""
    try:
        metadata.create_all(engine)
    except sa.exc.DBAPIError:
        if not sa.inspect(engine).has_table(alerts.name):
            raise
