"""Alert-triggered builds: the parameters an alert's payload brings (an e-mail, customer ids) reach Dagster's run
storage sealed, never readable, and the run still builds the rows they select."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from hfit_dagster.alerts.store import AlertStore
from hfit_dagster.definitions import build_definitions
from hfit_dagster.errors import MaskingError
from hfit_dagster.orchestration.alert_sensor import SENSOR_NAME
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import load_settings
from tests.conftest import TEST_MASKING_KEY
from tests.sealed_alerts import alter_sealed_payload

CONTACT = """
templateName: alert-contact
status: approved
parameters:
  contact: {type: str, description: "the e-mail address the alert names"}
  customer_ids: {type: "list[int]", required: false}
  start_time: {type: datetime}
  end_time: {type: datetime}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :contact OR id IN :customer_ids
triggers:
  alerts:
    match: {service: payments}
    window: 15m
    params: {contact: "$.customer.email", customer_ids: "$.customer_ids"}
"""


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "alert-contact.yaml").write_text(CONTACT)
    return folder


def _customer(demo_source: str) -> tuple[int, str]:
    with sqlite3.connect(demo_source.removeprefix("sqlite:///")) as conn:
        row = conn.execute("SELECT id, email FROM customers WHERE email LIKE '%@%' ORDER BY id LIMIT 1").fetchone()
    return int(row[0]), str(row[1])


def _post_alert(payload: dict[str, object]) -> int:
    store = AlertStore(load_settings().state_database_url)
    try:
        return store.add(payload)[0]
    finally:
        store.dispose()


def _tick(defs: dg.Definitions, home: Path, instance: dg.DagsterInstance,
          cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, resources={"hfit": HfitResource(home=str(home))},
                                      definitions=defs, cursor=cursor)
    return defs.resolve_sensor_def(SENSOR_NAME).evaluate_tick(context)


def test_an_alert_run_carries_its_parameters_sealed_and_builds_the_customer(
        hfit_home: Path, templates_dir: Path, demo_source: str) -> None:
    """An alert naming a customer's e-mail and id asks for a run whose config, run key and tags (stored by Dagster
    and shown in its UI) hold neither; the config opens, with the masking key, to the alert's parameters (its
    window around the alert), and the run builds exactly that customer, the manifest keeping digests only."""
    customer_id, email = _customer(demo_source)
    other_id = customer_id + 1
    alert_id = _post_alert({"service": "payments", "at": "2024-10-15T14:45:00Z", "customer": {"email": email},
                            "customer_ids": [other_id]})
    defs = build_definitions(templates_dir, home=hfit_home)
    instance = dg.DagsterInstance.ephemeral()
    [request] = _tick(defs, hfit_home, instance).run_requests

    stored = json.dumps({"config": request.run_config, "tags": request.tags, "key": request.run_key})
    assert email not in stored and email.split("@")[0] not in stored
    assert str(other_id) not in stored.replace(f"alert-{alert_id}-", "").replace(f'"{alert_id}"', "")
    step = request.run_config["ops"]["alert_contact__tables"]["config"]
    assert step["params"] == {"contact": "(sealed)", "start_time": "(sealed)", "end_time": "(sealed)"}
    assert open_params("alert-contact", step["sealed_params"], TEST_MASKING_KEY.encode()) == {
        "contact": email, "customer_ids": str(other_id),
        "start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}
    assert request.run_key == f"alert-{alert_id}-alert-contact"

    result = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, tags=request.tags, instance=instance)
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    events = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    for text in (json.dumps(run.run_config), json.dumps(run.tags), events):
        assert email not in text
    store = PackageStore(load_settings().package_store)
    [version] = store.versions("alert-contact")
    package = store.root / "alert-contact" / version
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["params"]["contact"] == parameter_digests({"contact": email}, TEST_MASKING_KEY.encode())["contact"]
    ids = pq.read_table(package / "parquet" / "customers.parquet").column("id").to_pylist()
    assert sorted(ids) == sorted([customer_id, other_id])
    assert all(email.encode() not in path.read_bytes() for path in package.rglob("*") if path.is_file())


def test_an_alert_whose_parameters_do_not_fit_is_logged_without_its_value(
        hfit_home: Path, templates_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """An alert whose payload puts an e-mail where the template takes customer ids asks for no run, and the
    sensor's log (kept by Dagster with the tick) names the alert, the template and the parameter, not the value."""
    value = "bob.refused@example.com"
    alert_id = _post_alert({"service": "payments", "customer": {"email": "x@example.com"}, "customer_ids": value})
    defs = build_definitions(templates_dir, home=hfit_home)
    capfd.readouterr()
    result = _tick(defs, hfit_home, dg.DagsterInstance.ephemeral())
    assert result.run_requests == []
    logged = capfd.readouterr()
    warnings = [line for line in logged.err.splitlines() if "matches alert-contact" in line]
    assert len(warnings) == 1
    assert f"alert {alert_id}" in warnings[0] and "customer_ids" in warnings[0] and "expects int" in warnings[0]
    assert "bob.refused" not in logged.err + logged.out


EARLIER_KEY = b"an-earlier-masking-key-not-secret"


def _seal_under_earlier_key(payload: dict[str, object]) -> int:
    """An alert stored by a service whose masking key has since been rotated."""
    store = AlertStore(load_settings().state_database_url, EARLIER_KEY)
    try:
        return store.add(payload)[0]
    finally:
        store.dispose()


def _alter_payload(alert_id: int) -> None:
    """One character of the alert's sealed payload changed in the database."""
    alter_sealed_payload(load_settings().state_database_url, alert_id)


def _statuses() -> dict[int, str]:
    store = AlertStore(load_settings().state_database_url)
    try:
        return {summary.id: summary.status for summary in store.summaries()}
    finally:
        store.dispose()


def _stored_payloads() -> dict[int, str]:
    engine = sa.create_engine(load_settings().state_database_url)
    try:
        with engine.connect() as conn:
            return {int(r.id): str(r.payload) for r in conn.execute(sa.text("SELECT id, payload FROM hfit_alerts"))}
    finally:
        engine.dispose()


@pytest.mark.parametrize("damage", ["altered in the database", "sealed under an earlier key"])
def test_an_alert_whose_payload_does_not_open_is_marked_and_the_later_alerts_still_run(
        hfit_home: Path, templates_dir: Path, damage: str, capfd: pytest.CaptureFixture[str]) -> None:
    """An alert whose sealed payload does not open (altered in the state database, or sealed before the masking key
    was rotated) between two that do: the two get their runs and the cursor moves past all three; the bad one asks
    no run, is listed as unopened with its payload dropped, is logged by its id only, and is never read again, even
    by a sensor whose cursor was lost."""
    bad_email = "mallory.unopened@example.com"
    first = _post_alert({"service": "payments", "customer": {"email": "first@example.com"}, "customer_ids": [1]})
    bad_payload = {"service": "payments", "customer": {"email": bad_email}, "customer_ids": [2]}
    if damage == "altered in the database":
        bad = _post_alert(bad_payload)
        _alter_payload(bad)
    else:
        bad = _seal_under_earlier_key(bad_payload)
    last = _post_alert({"service": "payments", "customer": {"email": "last@example.com"}, "customer_ids": [3]})
    defs = build_definitions(templates_dir, home=hfit_home)
    instance = dg.DagsterInstance.ephemeral()
    capfd.readouterr()

    result = _tick(defs, hfit_home, instance)
    assert [r.run_key for r in result.run_requests] == [f"alert-{first}-alert-contact", f"alert-{last}-alert-contact"]
    assert result.cursor == str(last)
    logged = capfd.readouterr()
    [line] = [line for line in logged.err.splitlines() if "does not open" in line]
    assert f"alert {bad}'s" in line and "marked unopened" in line
    assert "mallory" not in logged.err + logged.out
    assert _statuses() == {first: "consumed", bad: "unopened", last: "consumed"}
    assert _stored_payloads()[bad] == ""

    assert _tick(defs, hfit_home, instance, result.cursor).run_requests == []
    lost = _tick(defs, hfit_home, instance)  # the good ones' run keys again (Dagster launches each once), not the bad
    assert sorted(r.run_key for r in lost.run_requests) == [f"alert-{first}-alert-contact",
                                                             f"alert-{last}-alert-contact"]
    assert _statuses()[bad] == "unopened"


def test_alerts_none_of_which_opens_hold_the_cursor_with_one_line_until_the_key_is_right(
        hfit_home: Path, templates_dir: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Alerts all sealed under another masking key than the code location's (the service's key differs from the
    sensor's): no run is asked, no alert is marked or loses its payload, the cursor stays, and the tick logs one
    line saying the key likely differs (no value); once the code location has the service's key, every alert runs."""
    email = "held.alert@example.com"
    ids = [_seal_under_earlier_key({"service": "payments", "customer": {"email": email}, "customer_ids": [n]})
           for n in (1, 2)]
    before = _stored_payloads()
    defs = build_definitions(templates_dir, home=hfit_home)
    capfd.readouterr()

    result = _tick(defs, hfit_home, dg.DagsterInstance.ephemeral())
    assert result.run_requests == [] and result.cursor is None
    logged = capfd.readouterr()
    [line] = [line for line in logged.err.splitlines() if "masking key" in line]
    assert "none of the 2 pending alert payload(s) opens" in line and "likely differs" in line
    assert "held.alert" not in logged.err + logged.out
    assert _stored_payloads() == before
    assert _statuses() == {ids[0]: "pending", ids[1]: "pending"}

    monkeypatch.setenv("HFIT_MASKING_KEY", EARLIER_KEY.decode())
    opened = _tick(defs, hfit_home, dg.DagsterInstance.ephemeral())
    assert [r.run_key for r in opened.run_requests] == [f"alert-{i}-alert-contact" for i in ids]
    assert opened.cursor == str(ids[1])


def test_alerts_stored_as_received_are_held_until_the_service_seals_them(
        hfit_home: Path, templates_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Alerts an older service stored as received (plain JSON, not yet sealed by a start of the new service) are
    neither run nor dropped: the cursor stays and the tick's one line says to start the service, without a value."""
    _post_alert({"service": "payments"})  # the table, in its current shape
    engine = sa.create_engine(load_settings().state_database_url)
    plain = json.dumps({"service": "payments", "customer": {"email": "plain.held@example.com"}})
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM hfit_alerts"))
            conn.execute(sa.text("INSERT INTO hfit_alerts (received_at, occurred_at, payload) VALUES (:at, :at, :p)"),
                         {"at": datetime(2024, 10, 15, 14, 46), "p": plain})
    finally:
        engine.dispose()
    defs = build_definitions(templates_dir, home=hfit_home)
    capfd.readouterr()

    result = _tick(defs, hfit_home, dg.DagsterInstance.ephemeral())
    assert result.run_requests == [] and result.cursor is None
    logged = capfd.readouterr()
    [line] = [line for line in logged.err.splitlines() if "not sealed" in line]
    assert "start the hfit service" in line
    assert "plain.held" not in logged.err + logged.out
    assert list(_stored_payloads().values()) == [plain]


def test_a_code_location_without_a_masking_key_holds_every_alert(
        hfit_home: Path, templates_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sensor whose code location has no masking key fails its tick naming the setting to give, and marks no
    alert: each stays pending with its payload, and runs once the key is given."""
    alert_id = _post_alert({"service": "payments", "customer": {"email": "nokey@example.com"}, "customer_ids": [1]})
    before = _stored_payloads()
    defs = build_definitions(templates_dir, home=hfit_home)
    monkeypatch.delenv("HFIT_MASKING_KEY")
    with pytest.raises(MaskingError, match="set HFIT_MASKING_KEY"):
        _tick(defs, hfit_home, dg.DagsterInstance.ephemeral())
    assert _stored_payloads() == before and _statuses() == {alert_id: "pending"}
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    [request] = _tick(defs, hfit_home, dg.DagsterInstance.ephemeral()).run_requests
    assert request.run_key == f"alert-{alert_id}-alert-contact"
