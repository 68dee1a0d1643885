"""Orchestration: alerts become exactly one run each, schedules carry params, checks block publishing,
new source columns stay masked, old versions are pruned."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from hfit_dagster.alerts.store import AlertStore
from hfit_dagster.definitions import build_definitions
from hfit_dagster.errors import BuildError
from hfit_dagster.orchestration.alert_sensor import SENSOR_NAME
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.package.store import PackageStore, new_version
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEMPLATES

INCIDENT = """
templateName: alert-incident
status: approved
parameters:
  customer_ids: {type: "list[int]"}
  start_time: {type: datetime}
  end_time: {type: datetime}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE id IN :customer_ids
  payments:
    provider: PROD_REPLICA
    query: |
      SELECT p.* FROM payments p JOIN orders o ON o.id = p.order_id
      WHERE o.customer_id IN :customers.id AND p.created_at BETWEEN :start_time AND :end_time
triggers:
  alerts:
    match: {service: payments}
    window: 15m
    params: {customer_ids: "$.customer_ids"}
"""


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "alert-incident.yaml").write_text(INCIDENT)
    (folder / "daily.yaml").write_text((TEMPLATES / "daily-development" / "daily-dev-scenario.yaml").read_text())
    return folder


def test_an_alert_leads_to_exactly_one_run_with_the_right_window(hfit_home: Path, templates_dir: Path) -> None:
    """POSTed alerts are stored; the sensor asks for one run per alert and matching template, never twice."""
    settings = load_settings()
    store = AlertStore(settings.state_database_url)
    alert_id, created = store.add({"service": "payments", "at": "2024-10-15T14:45:00Z",
                                   "customer_ids": [10007, 10042]}, source_id="pd-123")
    assert created and store.add({"service": "payments"}, source_id="pd-123") == (alert_id, False)
    store.add({"service": "search", "at": "2024-10-15T14:46:00Z"})  # matches no template
    store.dispose()
    defs = build_definitions(templates_dir, home=hfit_home)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, resources={"hfit": HfitResource(home=str(hfit_home))},
                                      definitions=defs)
    result = sensor.evaluate_tick(context)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_key == f"alert-{alert_id}-alert-incident"
    assert request.job_name == "build_alert_incident"
    sealed = request.run_config["ops"]["alert_incident__tables"]["config"]["sealed_params"]
    assert open_params("alert-incident", sealed, settings.masking_key_bytes()) == {
        "customer_ids": "10007,10042", "start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}
    again = sensor.evaluate_tick(dg.build_sensor_context(
        instance=instance, cursor=result.cursor, resources={"hfit": HfitResource(home=str(hfit_home))},
        definitions=defs))
    assert again.run_requests == []


def test_schedule_run_request_carries_template_params(hfit_home: Path, templates_dir: Path) -> None:
    defs = build_definitions(templates_dir, home=hfit_home)
    schedule = defs.resolve_schedule_def("daily_dev_scenario_schedule")
    assert schedule.cron_schedule == "0 8 * * 1-5"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 8, tzinfo=UTC),
                                        resources={"hfit": HfitResource(home=str(hfit_home))})
    request = schedule.evaluate_tick(context).run_requests[0]
    assert "daily_dev_scenario__tables" in request.run_config["ops"]
    assert request.tags["hfit/requester"] == "schedule"


def test_failing_row_count_check_publishes_nothing(settings) -> None:
    """A build whose rows fall outside the template's bounds fails its check; nothing is published."""
    text = (TEMPLATES / "integration-testing" / "integration-test-suite.yaml").read_text()
    spec = parse_template(text.replace("    provider: PROD_REPLICA\n    query: |\n      SELECT * FROM customers",
                                       "    provider: PROD_REPLICA\n    min_rows: 100000\n    query: |\n"
                                       "      SELECT * FROM customers", 1))
    with pytest.raises(BuildError, match="row_counts_within_bounds"):
        build_package(spec, {}, settings)
    assert PackageStore(settings.package_store).versions(spec.name) == []


def test_new_source_column_is_masked_until_reviewed(hfit_home: Path, tmp_path: Path, demo_source: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema drift: a column added to the source after the last package is nulled and reported."""
    copy = tmp_path / "shop.db"
    copy.write_bytes(Path(demo_source.removeprefix("sqlite:///")).read_bytes())
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", f"sqlite:///{copy}")
    text = (TEMPLATES / "integration-testing" / "integration-test-suite.yaml").read_text()
    spec = parse_template(text)
    first = build_package(spec, {}, load_settings()).manifest
    assert first.checks["schema_drift"]["compared"] is False
    with sqlite3.connect(copy) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN loyalty_code TEXT")
        conn.execute("UPDATE customers SET loyalty_code = 'LOYAL-' || id")
    second = build_package(spec, {}, load_settings())
    assert second.manifest.checks["schema_drift"]["new_columns"] == {"customers": ["loyalty_code"]}
    column = next(c for t in second.manifest.tables if t.name == "customers" for c in t.columns
                  if c.name == "loyalty_code")
    assert column.masking["operator"] == "null" and column.masking["source"] == "drift"
    values = pq.read_table(second.path / "parquet" / "customers.parquet").column("loyalty_code").to_pylist()
    assert set(values) == {None}


def test_retention_keeps_latest_and_newest(tmp_path: Path) -> None:
    store = PackageStore(tmp_path)
    now = datetime.now(UTC)
    versions = [new_version(now - timedelta(days=d)) for d in (40, 20, 10, 5, 1)]
    for version in versions:
        staging = store.create_staging()
        (staging / "package.sql").write_text("--")
        store.publish("t", staging, version)
    removed = store.prune("t", keep_versions=3, max_age_days=15)
    assert sorted(removed) == sorted(versions[:2])
    assert store.latest_version("t") == versions[-1]
    assert sorted(store.versions("t")) == sorted(versions[2:])
