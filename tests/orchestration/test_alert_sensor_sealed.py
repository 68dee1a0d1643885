"""Alert-triggered builds: the parameters an alert's payload brings (an e-mail, customer ids) reach Dagster's run
storage sealed, never readable, and the run still builds the rows they select."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from hfit_dagster.alerts.store import AlertStore
from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.alert_sensor import SENSOR_NAME
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import load_settings
from tests.conftest import TEST_MASKING_KEY

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


def _tick(defs: dg.Definitions, home: Path, instance: dg.DagsterInstance) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, resources={"hfit": HfitResource(home=str(home))},
                                      definitions=defs)
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
