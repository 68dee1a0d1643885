"""The alert table as tests need it around sealed payloads: its shape before payloads were sealed (rows a service
stored as received), and one character of a sealed payload changed in place (an altered row)."""

from __future__ import annotations

import sqlalchemy as sa


def plain_alert_table(metadata: sa.MetaData) -> sa.Table:
    """``hfit_alerts`` as the service created it before payloads were sealed (plain JSON payloads)."""
    return sa.Table("hfit_alerts", metadata,
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("source_id", sa.String(200), nullable=True, unique=True),
                    sa.Column("received_at", sa.DateTime, nullable=False),
                    sa.Column("occurred_at", sa.DateTime, nullable=False),
                    sa.Column("payload", sa.Text, nullable=False))


def alter_sealed_payload(state_url: str, alert_id: int) -> None:
    """One character in the middle of alert ``alert_id``'s sealed payload changed in the state database."""
    engine = sa.create_engine(state_url)
    try:
        with engine.begin() as conn:
            sealed = conn.execute(sa.text("SELECT payload FROM hfit_alerts WHERE id = :id"), {"id": alert_id}).scalar()
            middle = len(sealed) // 2
            altered = sealed[:middle] + ("B" if sealed[middle] == "A" else "A") + sealed[middle + 1:]
            conn.execute(sa.text("UPDATE hfit_alerts SET payload = :p WHERE id = :id"), {"p": altered, "id": alert_id})
    finally:
        engine.dispose()
