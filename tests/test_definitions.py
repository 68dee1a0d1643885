"""Dagster: every approved template becomes table assets plus a package asset that publishes."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from hfit_dagster.definitions import HfitResource, build_definitions, build_template_defs
from hfit_dagster.orchestration.resources import run_config_for
from hfit_dagster.package.store import PackageStore
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import resolve_template
from tests.conftest import TEMPLATES


def test_definitions_load_and_validate(hfit_home: Path) -> None:
    """What `dagster dev -w workspace.yaml` loads: valid definitions, one asset per exported table + package."""
    defs = build_definitions(TEMPLATES, home=hfit_home)
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "daily-dev-scenario/customers", "daily-dev-scenario/orders", "daily-dev-scenario/order_items",
        "daily-dev-scenario/payments", "daily-dev-scenario/addresses", "daily-dev-scenario/payment_methods",
        "daily-dev-scenario/package", "integration-test-suite/products", "payment-incident/payments",
    } <= keys
    graph = defs.resolve_asset_graph()
    orders = graph.get(dg.AssetKey(["daily-dev-scenario", "orders"]))
    assert dg.AssetKey(["daily-dev-scenario", "customers"]) in orders.parent_keys
    package = graph.get(dg.AssetKey(["daily-dev-scenario", "package"]))
    assert dg.AssetKey(["daily-dev-scenario", "payments"]) in package.parent_keys
    assert defs.resolve_schedule_def("daily_dev_scenario_schedule").cron_schedule == "0 8 * * 1-5"


def test_draft_templates_are_not_in_dagster(hfit_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    text = (TEMPLATES / "integration-testing" / "integration-test-suite.yaml").read_text()
    (folder / "draft.yaml").write_text(text.replace("status: approved", "status: draft"))
    defs = build_definitions(folder, home=hfit_home)
    assert not list(defs.resolve_asset_graph().get_all_asset_keys())


def test_materializing_publishes_the_same_package_as_hfit_build(hfit_home: Path, settings: HfitSettings) -> None:
    """Materializing a template's assets publishes a package equal (tables, rows, parameters) to `hfit build`'s."""
    found = resolve_template("integration-test-suite", TEMPLATES)
    defs = build_template_defs(found)
    assets = list(defs.assets or [])
    result = dg.materialize(
        assets,
        resources={"hfit": HfitResource(home=str(hfit_home))},
        run_config=run_config_for(found.spec, {"row_limit": "7"}),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"no_pii_leak": True, "foreign_keys_satisfied": True, "row_counts_within_bounds": True,
                      "schema_drift": True}
    store = PackageStore(settings.package_store)
    from_dagster = json.loads((store.package_dir(found.spec.name) / "manifest.json").read_text())
    local = build_package(found.spec, {"row_limit": "7"}, settings).manifest
    assert {t["name"]: t["rows"] for t in from_dagster["tables"]} == {t.name: t.rows for t in local.tables}
    # the same parameters, declared ones as keyed digests ('since' resolves to the moment of each build)
    assert from_dagster["params"].keys() == local.params.keys()
    assert from_dagster["params"]["row_limit"] == local.params["row_limit"] != 7
    assert not list((store.root / ".staging").iterdir())
