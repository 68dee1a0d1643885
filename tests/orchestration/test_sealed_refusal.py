"""A sealed run whose parameter the template no longer takes as it was requested (a revision approved between the
request and the run changed its type) fails without writing the value into Dagster's event log."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from hfit_dagster.definitions import HfitResource, build_template_defs
from hfit_dagster.orchestration.resources import sealed_run_config_for
from hfit_dagster.template.loader import parse_template, resolve_template
from tests.conftest import TEST_MASKING_KEY

REQUESTED = """
templateName: retyped-probe
status: approved
parameters:
  contact: {type: str, required: false}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :contact
"""


def test_a_sealed_value_the_template_refuses_at_run_time_is_not_in_the_event_log(
        hfit_home: Path, tmp_path: Path) -> None:
    """The step's failure (stored by Dagster and shown in its UI) names the parameter and its type, not the
    value opened from the sealed parameters."""
    value = "erin.retyped@example.com"
    config = sealed_run_config_for(parse_template(REQUESTED), {"contact": value}, TEST_MASKING_KEY.encode())
    path = tmp_path / "retyped-probe.yaml"
    path.write_text(REQUESTED.replace("contact: {type: str", "contact: {type: int"))
    assets = list(build_template_defs(resolve_template(str(path), tmp_path)).assets or [])
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(assets, resources={"hfit": HfitResource(home=str(hfit_home))}, run_config=config,
                            instance=instance, raise_on_error=False)
    assert not result.success
    logged = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    assert "parameter 'contact' expects int" in logged
    assert "erin.retyped" not in logged
