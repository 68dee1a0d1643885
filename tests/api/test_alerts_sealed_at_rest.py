"""Alert payloads at rest: the state database never holds what an alert says about people (e-mail, customer ids,
summary), yet the Dagster sensor still builds the right run from it; admins list alerts without their payloads;
consumed alerts lose their payload after the retention period; payloads stored as received are sealed at the next
start. Each on a state database file (one machine) and on PostgreSQL (several replicas)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hfit_api.alert_signature import sign
from hfit_api.main import create_app
from hfit_api.state import AppliedMigration
from hfit_api.stored_alerts import MIGRATION
from hfit_dagster.alerts.store import AlertStore
from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.alert_sensor import SENSOR_NAME
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.settings import HfitSettings
from tests.api.routes.conftest import InProcessApi, ScriptedLauncher, service_settings
from tests.api.service_harness import ALERT_SECRET
from tests.conftest import TEST_MASKING_KEY
from tests.sealed_alerts import alter_sealed_payload, plain_alert_table

TEMPLATE = "payment-incident-2024-1015"
STEP = "payment_incident_2024_1015__tables"
EMAIL = "dana.alerted@example.com"
SUMMARY = "Card declined for Dana Alerted"
ALERT = {"id": "pd-incident-9001", "service": "payments", "at": "2024-10-15T14:45:00Z",
         "customer_ids": [10007, 10042], "customer": {"email": EMAIL}, "summary": SUMMARY}
PERSONAL = (EMAIL, "dana.alerted", "10007", "10042", SUMMARY, "Dana Alerted")
WINDOW = {"start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}


@dataclass
class Service:
    """A started service (in process), its settings, and the sensor of the code location beside it."""

    settings: HfitSettings
    api: InProcessApi
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def post(self, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        timestamp = int(time.time())
        headers = {"X-Hfit-Timestamp": str(timestamp), "Content-Type": "application/json",
                   "X-Hfit-Signature": sign(ALERT_SECRET.encode(), timestamp, body)}
        return self.api.client.post("/alerts", content=body, headers=headers)

    def tick(self, cursor: str | None = None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, definitions=self.defs,
                                          resources={"hfit": HfitResource(home=str(self.settings.home))})
        return self.defs.resolve_sensor_def(SENSOR_NAME).evaluate_tick(context)

    def stored(self) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.settings.state_database_url)
        try:
            with engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(sa.text("SELECT * FROM hfit_alerts ORDER BY id"))]
        finally:
            engine.dispose()

    def backdate(self, alert_id: int, days: float) -> None:
        engine = sa.create_engine(self.settings.state_database_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE hfit_alerts SET received_at = :at WHERE id = :id"),
                             {"at": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days), "id": alert_id})
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_settings(request: pytest.FixtureRequest, tmp_path: Path, demo_source: str,
                   postgres_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> HfitSettings:
    """The service's settings, its state on a file or on PostgreSQL; the environment the sensor's code location
    reads (its masking key and state database) is the service's."""
    settings = service_settings(tmp_path, demo_source)
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.delenv("HFIT_STATE_URL", raising=False)
    if request.param == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_database()}"
        settings = settings.model_copy(update={"state_url": url})
        monkeypatch.setenv("HFIT_STATE_URL", url)
    return settings


def _start(settings: HfitSettings) -> tuple[TestClient, Service]:
    launcher = ScriptedLauncher()
    app = create_app(settings, launcher)
    client = TestClient(app)
    client.__enter__()
    api = InProcessApi(client=client, service=app.state.service, launcher=launcher)
    defs = build_definitions(settings.templates_dir, home=settings.home)
    return client, Service(settings, api, defs, dg.DagsterInstance.ephemeral())


@pytest.fixture
def service(state_settings: HfitSettings) -> Iterator[Service]:
    client, started = _start(state_settings)
    try:
        yield started
    finally:
        client.__exit__(None, None, None)


def _assert_no_personal_value(text: str) -> None:
    for value in PERSONAL:
        assert value not in text


def test_a_received_alert_is_sealed_at_rest_and_the_sensor_still_builds_its_run(service: Service) -> None:
    """After POST /alerts the alert table holds none of the payload's values (e-mail, customer ids, summary);
    the sensor opens it in memory and asks for the run the alert calls for (its customer ids, its window)."""
    response = service.post(ALERT)
    assert response.status_code == 202, response.text
    alert_id = response.json()["alert_id"]
    [row] = service.stored()
    _assert_no_personal_value(repr(row))
    assert row["source_id"] == "pd-incident-9001" and row["consumed_at"] is None

    [request] = service.tick().run_requests
    assert request.run_key == f"alert-{alert_id}-{TEMPLATE}"
    sealed = request.run_config["ops"][STEP]["config"]["sealed_params"]
    assert open_params(TEMPLATE, sealed, TEST_MASKING_KEY.encode()) == {"customer_ids": "10007,10042", **WINDOW}
    [row] = service.stored()
    _assert_no_personal_value(repr(row))
    assert row["consumed_at"] is not None and row["templates"] == TEMPLATE


def test_admins_list_alerts_without_their_payloads(service: Service) -> None:
    """GET /alerts shows an admin each alert's id, source id, times, status and the templates it led to, and none
    of its payload; a viewer may not list alerts."""
    first = service.post(ALERT).json()["alert_id"]
    service.tick()
    second = service.post({**ALERT, "id": "pd-incident-9002"}).json()["alert_id"]
    response = service.api.client.get("/alerts", headers=service.api.auth("greta", "admin"))
    assert response.status_code == 200, response.text
    _assert_no_personal_value(response.text)
    listed = response.json()
    assert [(a["id"], a["source_id"], a["status"], a["templates"]) for a in listed] == [
        (second, "pd-incident-9002", "pending", []), (first, "pd-incident-9001", "consumed", [TEMPLATE])]
    assert listed[1]["occurred_at"].startswith("2024-10-15T14:45:00")
    assert service.api.client.get("/alerts", headers=service.api.auth("vic", "viewer")).status_code == 403


def test_a_consumed_alert_loses_its_payload_after_the_retention_period(service: Service) -> None:
    """A consumed alert received longer ago than alert_retention_days (7 by default) has its payload dropped at
    the sensor's next tick and is listed as expired; a recent consumed alert and an old one the sensor has not
    consumed keep theirs; a sensor whose cursor is lost asks no run again for the expired alert."""
    old = service.post(ALERT).json()["alert_id"]
    first = service.tick()
    service.backdate(old, days=8)
    recent = service.post({**ALERT, "id": "pd-incident-9002"}).json()["alert_id"]
    second = service.tick(first.cursor)
    assert [r.tags["hfit/alert"] for r in second.run_requests] == [str(recent)]
    stored = {row["id"]: row for row in service.stored()}
    assert stored[old]["payload"] == "" and stored[old]["payload_dropped_at"] is not None
    assert stored[recent]["payload"].startswith("hfit-sealed-alert-v1:")

    pending = service.post({**ALERT, "id": "pd-incident-9003"}).json()["alert_id"]
    service.backdate(pending, days=30)
    store = AlertStore(service.settings.state_database_url, TEST_MASKING_KEY.encode())
    try:
        assert store.drop_expired_payloads(timedelta(days=7)) == 0
    finally:
        store.dispose()
    listed = service.api.client.get("/alerts", headers=service.api.auth("greta", "admin")).json()
    assert {a["id"]: a["status"] for a in listed} == {old: "expired", recent: "consumed", pending: "pending"}
    again = service.tick()  # the cursor lost: every kept alert is looked at again
    assert sorted(r.tags["hfit/alert"] for r in again.run_requests) == sorted([str(recent), str(pending)])


def _plain_alert_table(settings: HfitSettings) -> int:
    """The alert table as the service created it before payloads were sealed, with one alert stored as received;
    returns its id."""
    engine = sa.create_engine(settings.state_database_url)
    old = sa.MetaData()
    table = plain_alert_table(old)
    try:
        old.create_all(engine)
        with engine.begin() as conn:
            result = conn.execute(table.insert().values(
                source_id="pd-incident-9001", received_at=datetime(2024, 10, 15, 14, 46),
                occurred_at=datetime(2024, 10, 15, 14, 45), payload=json.dumps(ALERT, sort_keys=True)))
            return int(result.inserted_primary_key[0])
    finally:
        engine.dispose()


def test_an_alert_stored_as_received_is_sealed_at_the_next_start(state_settings: HfitSettings) -> None:
    """An alert a service stored before payloads were sealed (plain JSON, in the table's older shape) holds no
    value after the service starts, the start records the rewrite once (a second start changes nothing), and the
    sensor still builds the run the alert calls for."""
    settings = state_settings
    settings.home.mkdir(parents=True, exist_ok=True)
    alert_id = _plain_alert_table(settings)

    client, service = _start(settings)
    try:
        [row] = service.stored()
        _assert_no_personal_value(repr(row))
        assert row["payload"].startswith("hfit-sealed-alert-v1:")
        with service.api.service.db.session() as session:
            assert session.get(AppliedMigration, MIGRATION) is not None
        [request] = service.tick().run_requests
        assert request.run_key == f"alert-{alert_id}-{TEMPLATE}"
        sealed = request.run_config["ops"][STEP]["config"]["sealed_params"]
        assert open_params(TEMPLATE, sealed, TEST_MASKING_KEY.encode()) == {"customer_ids": "10007,10042", **WINDOW}
        before_restart = service.stored()
    finally:
        client.__exit__(None, None, None)

    client, service = _start(settings)
    try:
        assert service.stored() == before_restart
    finally:
        client.__exit__(None, None, None)


def test_an_alert_whose_payload_does_not_open_is_listed_as_unopened(service: Service) -> None:
    """An alert whose sealed payload was altered in the state database, between two received ones: the sensor asks
    the runs of the two and GET /alerts lists the altered one as unopened, with no template, no payload kept and
    none of its values shown."""
    first = service.post(ALERT).json()["alert_id"]
    altered = service.post({**ALERT, "id": "pd-incident-9002"}).json()["alert_id"]
    last = service.post({**ALERT, "id": "pd-incident-9003"}).json()["alert_id"]
    alter_sealed_payload(service.settings.state_database_url, altered)

    result = service.tick()
    assert sorted(r.tags["hfit/alert"] for r in result.run_requests) == sorted([str(first), str(last)])
    response = service.api.client.get("/alerts", headers=service.api.auth("greta", "admin"))
    assert response.status_code == 200, response.text
    _assert_no_personal_value(response.text)
    assert [(a["id"], a["status"], a["templates"]) for a in response.json()] == [
        (last, "consumed", [TEMPLATE]), (altered, "unopened", []), (first, "consumed", [TEMPLATE])]
    assert {row["id"]: row["payload"] for row in service.stored()}[altered] == ""
