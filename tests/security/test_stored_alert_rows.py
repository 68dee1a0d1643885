"""Alert rows the one-time sealing at service start (``AlertStore.seal_plain_payloads``) meets in a state database
as it may be: payloads in an unexpected shape, and two service replicas starting at once on one PostgreSQL state
database whose alert table is in its older shape. Every start finishes, no raw value is left in the table, and
every alert that could lead to a run still opens to its payload.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from hfit_dagster.alerts.store import AlertStore
from tests.conftest import PG_ADMIN, TEST_MASKING_KEY
from tests.sealed_alerts import plain_alert_table

KEY = TEST_MASKING_KEY.encode()
EMAIL = "dana.alerted@example.com"
OLD = sa.MetaData()
OLD_ALERTS = plain_alert_table(OLD)


def _old_table(url: str, payloads: list[str]) -> None:
    """The alert table in the shape a service created before payloads were sealed, holding ``payloads``."""
    engine = sa.create_engine(url)
    try:
        OLD.create_all(engine)
        at = datetime(2024, 10, 15, 14, 46)
        with engine.begin() as conn:
            for i, payload in enumerate(payloads):
                conn.execute(OLD_ALERTS.insert().values(source_id=f"src-{i}", received_at=at, occurred_at=at,
                                                        payload=payload))
    finally:
        engine.dispose()


def _rows(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM hfit_alerts ORDER BY id"))]
    finally:
        engine.dispose()


def test_payloads_of_an_unexpected_shape_do_not_stop_the_start_nor_stay_raw(tmp_path: Path) -> None:
    """A payload that is not JSON, or JSON but not an object (no alert the sensor can read), is not left as
    received and does not stop the sealing (the service's start): it is dropped, its alert listed as expired;
    the object payloads around it are sealed and open, and the sensor's read of the alerts does not fail."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    good = {"service": "payments", "customer": {"email": EMAIL}}
    _old_table(url, [json.dumps(good), f"not json {EMAIL}", json.dumps([EMAIL]), json.dumps(EMAIL), "null",
                     json.dumps({"customer": {"email": EMAIL}})])
    store = AlertStore(url, KEY)
    try:
        assert store.seal_plain_payloads() == 2
        assert EMAIL not in repr(_rows(url))
        opened = store.after(0)
        assert [a.payload for a in opened] == [good, {"customer": {"email": EMAIL}}]
        assert [s.status for s in store.summaries()][::-1] == ["pending", "expired", "expired", "expired",
                                                               "expired", "pending"]
        assert store.seal_plain_payloads() == 0
    finally:
        store.dispose()


def _waiting_on_locks(database: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                            [database]).fetchone()[0]


@pytest.mark.postgres
def test_two_replicas_starting_at_once_on_an_older_alert_table_both_start(
        postgres_database: Callable[[], str]) -> None:
    """Two replicas of the service opening the alert store at once on a PostgreSQL state database whose alert
    table lacks the columns added since (both find them missing, both add them) both start, and both sealing
    passes leave every payload sealed and opening to what was received."""
    database = postgres_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    payloads = [{"service": "payments", "n": i, "customer": {"email": f"p{i}.{EMAIL}"}} for i in range(30)]
    _old_table(url, [json.dumps(p) for p in payloads])
    holder = sa.create_engine(url)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            store = AlertStore(url, KEY)
            try:
                store.seal_plain_payloads()
            finally:
                store.dispose()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    try:
        with holder.begin() as conn:  # both replicas find the columns missing, then queue on the table
            conn.execute(sa.text("LOCK TABLE hfit_alerts IN ACCESS EXCLUSIVE MODE"))
            threads = [threading.Thread(target=replica) for _ in range(2)]
            for thread in threads:
                thread.start()
            for _ in range(200):
                if _waiting_on_locks(database) >= 2:
                    break
                time.sleep(0.05)
        for thread in threads:
            thread.join(30)
    finally:
        holder.dispose()
    assert not errors, [type(e).__name__ for e in errors]
    assert EMAIL not in repr(_rows(url))
    store = AlertStore(url, KEY)
    try:
        assert [a.payload for a in store.after(0)] == payloads
    finally:
        store.dispose()


def test_an_alert_time_at_the_calendars_edge_asks_no_window_and_raises_nothing() -> None:
    """An alert whose time (``at``) is the calendar's first or last day, so its window around it leaves the
    calendar, gives the template a refusal (logged by the sensor without values, its other alerts still run),
    not an OverflowError that fails every tick of the sensor."""
    from hfit_dagster.alerts.matching import params_for
    from hfit_dagster.alerts.store import StoredAlert
    from hfit_dagster.errors import ParameterError
    from hfit_dagster.template.loader import parse_template

    spec = parse_template("""templateName: incident
description: Rows around an incident.
status: approved
owner: ops
parameters:
  start_time: {type: datetime}
  end_time: {type: datetime}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE created_at BETWEEN :start_time AND :end_time
triggers:
  alerts: {match: {service: payments}, window: 30m}
""", "incident.yaml")
    for at in (datetime.min, datetime.max):
        alert = StoredAlert(id=1, source_id=None, received_at=at, occurred_at=at, payload={"service": "payments"})
        with pytest.raises(ParameterError) as caught:
            params_for(spec, alert)
        assert "window" in str(caught.value)


def test_a_sealed_payload_copied_to_another_row_does_not_open(tmp_path: Path) -> None:
    """A payload copied from one alert's row to another (alerts without a source id, whose binding was the same
    empty id), or into a new row after its own was consumed, does not open there: the sensor is refused rather
    than asking the alert's runs again under another alert; the refusal names the row, not a value."""
    from hfit_dagster.errors import BuildError

    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = AlertStore(url, KEY)
    try:
        first, _ = store.add({"service": "payments", "customer": {"email": EMAIL}})
        second, _ = store.add({"service": "payments", "customer": {"email": "other@example.com"}})
        assert [a.payload["customer"]["email"] for a in store.after(0)] == [EMAIL, "other@example.com"]
        with store.engine.begin() as conn:
            [sealed] = conn.execute(sa.text("SELECT payload FROM hfit_alerts WHERE id = :id"), {"id": first}).one()
            conn.execute(sa.text("UPDATE hfit_alerts SET payload = :p WHERE id = :id"), {"p": sealed, "id": second})
        with pytest.raises(BuildError, match=f"alert {second}'s sealed payload does not open") as caught:
            store.after(first)
        assert EMAIL not in str(caught.value)
        store.mark_consumed(second, {})
        with store.engine.begin() as conn:
            at = datetime(2024, 10, 15, 14, 46)
            conn.execute(sa.text("INSERT INTO hfit_alerts (received_at, occurred_at, payload) VALUES (:at, :at, :p)"),
                         {"at": at, "p": sealed})
        with pytest.raises(BuildError, match="does not open"):
            store.after(second)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_a_sealing_killed_between_rows_is_finished_by_the_next_start(postgres_database: Callable[[], str]) -> None:
    """A service killed while sealing (its first batch committed, the second half done and waiting on a row)
    leaves each row either as received or sealed whole, and the next start seals the rest: every payload opens
    to what was received and none stays readable."""
    import os
    import signal
    import subprocess
    import sys

    from hfit_dagster.alerts import store as store_module

    database = postgres_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    total = store_module.BATCH_ROWS + 300
    payloads = [{"service": "payments", "n": i, "customer": {"email": f"p{i}.{EMAIL}"}} for i in range(total)]
    _old_table(url, [json.dumps(p) for p in payloads])
    AlertStore(url, KEY).dispose()  # the table's newer columns, as the killed start added them
    held = store_module.BATCH_ROWS + 200
    holder = sa.create_engine(url)
    script = ("import sys; from hfit_dagster.alerts.store import AlertStore; "
              "AlertStore(sys.argv[1], sys.argv[2].encode()).seal_plain_payloads()")
    try:
        with holder.begin() as conn:
            conn.execute(sa.text("SELECT id FROM hfit_alerts WHERE id = :id FOR UPDATE"), {"id": held})
            child = subprocess.Popen([sys.executable, "-c", script, url, TEST_MASKING_KEY],
                                     env={**os.environ, "HFIT_MASKING_KEY": TEST_MASKING_KEY})
            for _ in range(400):
                if _waiting_on_locks(database) >= 1:
                    break
                time.sleep(0.05)
            assert _waiting_on_locks(database) >= 1
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        stored = [r["payload"] for r in _rows(url)]
        assert all(p.startswith("hfit-sealed-alert-v1:") for p in stored[: store_module.BATCH_ROWS])
        assert [json.loads(p) for p in stored[store_module.BATCH_ROWS:]] == payloads[store_module.BATCH_ROWS:]
    finally:
        holder.dispose()
    store = AlertStore(url, KEY)
    try:
        assert store.seal_plain_payloads() == total - store_module.BATCH_ROWS
        assert EMAIL not in repr(_rows(url))
        assert [a.payload for a in store.after(0, limit=total)] == payloads
    finally:
        store.dispose()


@pytest.mark.postgres
def test_one_alert_delivered_to_two_replicas_at_once_is_stored_once(postgres_database: Callable[[], str]) -> None:
    """The monitoring system delivering one alert (its source id) to two replicas at once: the replica whose
    insert waits on the other's answers with the stored alert's id (not created), rather than failing the
    delivery on the unique source id."""
    database = postgres_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    first = AlertStore(url, KEY)
    second = AlertStore(url, KEY)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(second.add({"service": "payments"}, source_id="pd-incident-1"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    try:
        with first.engine.begin() as conn:  # the first replica's insert, not committed yet
            at = datetime(2024, 10, 15, 14, 46)
            stored = conn.execute(sa.text(
                "INSERT INTO hfit_alerts (source_id, received_at, occurred_at, payload) "
                "VALUES ('pd-incident-1', :at, :at, '') RETURNING id"), {"at": at}).scalar_one()
            thread = threading.Thread(target=deliver)
            thread.start()
            for _ in range(200):
                if _waiting_on_locks(database) >= 1:
                    break
                time.sleep(0.05)
        thread.join(30)
        assert not errors, [type(e).__name__ for e in errors]
        assert results == [(stored, False)]
    finally:
        first.dispose()
        second.dispose()
