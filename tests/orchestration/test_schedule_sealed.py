"""Scheduled builds: the parameters a template's schedule gives (an approved template may name a customer) reach
Dagster's run storage sealed, and a refused one fails the tick without its value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from hfit_dagster.definitions import build_definitions
from hfit_dagster.errors import ParameterError
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.sealed_params import open_params
from tests.conftest import TEST_MASKING_KEY

WATCHED = """
templateName: watched-customer
status: approved
parameters:
  contact: {type: str}
  row_limit: {type: int, default: 5}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :contact LIMIT :row_limit
schedule:
  cron: "0 6 * * *"
  params: {contact: carol.scheduled@example.com, row_limit: PARAMS_ROW_LIMIT}
"""


def _tick(home: Path, folder: Path, row_limit: str) -> dg.ScheduleExecutionData:
    folder.mkdir(exist_ok=True)
    (folder / "watched-customer.yaml").write_text(WATCHED.replace("PARAMS_ROW_LIMIT", row_limit))
    schedule = build_definitions(folder, home=home).resolve_schedule_def("watched_customer_schedule")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 6, tzinfo=UTC),
                                        resources={"hfit": HfitResource(home=str(home))})
    return schedule.evaluate_tick(context)


def test_a_schedule_run_carries_its_parameters_sealed(hfit_home: Path, tmp_path: Path) -> None:
    """The run a schedule asks for holds the schedule's e-mail in neither config nor tags; the config opens, with
    the masking key, to the schedule's parameters."""
    [request] = _tick(hfit_home, tmp_path / "templates", "7").run_requests
    stored = json.dumps({"config": request.run_config, "tags": request.tags})
    assert "carol.scheduled" not in stored
    step = request.run_config["ops"]["watched_customer__tables"]["config"]
    assert step["params"] == {"contact": "(sealed)"}
    assert open_params("watched-customer", step["sealed_params"], TEST_MASKING_KEY.encode()) == {
        "contact": "carol.scheduled@example.com", "row_limit": "7"}
    assert request.tags["hfit/requester"] == "schedule"


def test_a_schedule_parameter_the_template_refuses_fails_the_tick_without_its_value(
        hfit_home: Path, tmp_path: Path) -> None:
    """A schedule whose parameter does not fit its type fails each tick (shown in the Dagster UI) naming the
    parameter and its type, not the value it was given."""
    with pytest.raises(dg.DagsterUserCodeExecutionError) as info:
        _tick(hfit_home, tmp_path / "templates", "dave.refused@example.com")
    assert isinstance(info.value.__cause__, ParameterError)
    told = f"{info.value} {info.value.__cause__}"
    assert "row_limit" in told and "expects int" in told
    assert "dave.refused" not in told
