"""The masking plan before any build: the decisions a build makes, from the source, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hfit_dagster.cli.plan_commands import app, plan
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.plan_preview import plan_template
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import resolve_template
from tests.conftest import TEMPLATES

PARAMS = {"since": "2020-01-01", "row_limit": "150"}


def _decisions(tables: dict[str, list[dict]]) -> dict[str, dict[str, tuple]]:
    return {t: {c["column"]: (c["operator"], c["entity"], c["source"]) for c in cols} for t, cols in tables.items()}


def test_preview_decides_what_the_build_decides(settings: HfitSettings) -> None:
    """Same tables, same operator, entity and source for every column as the manifest of a real build."""
    spec = resolve_template("daily-dev-scenario", TEMPLATES).spec
    plans = plan_template(spec, settings, PARAMS)
    built = build_package(spec, PARAMS, settings)
    manifest = json.loads((built.path / "manifest.json").read_text())
    from_build = {t["name"]: [{"column": c["name"], **c["masking"]} for c in t["columns"]]
                  for t in manifest["tables"]}  # fmt: skip
    preview = {name: p.to_dict()["columns"] for name, p in plans.items()}
    assert _decisions(preview) == _decisions(from_build)
    assert plans["customers"].decisions["notes"].source == "rule"
    assert plans["payment_methods"].decisions["card_number"].operator == "credit_card"


def test_preview_writes_nothing_and_needs_no_masking_key(
    hfit_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is masked, so no key is needed; the store and HFIT_HOME stay as they were."""
    monkeypatch.delenv("HFIT_MASKING_KEY", raising=False)
    settings = load_settings()
    before = sorted(p.relative_to(hfit_home) for p in hfit_home.rglob("*"))
    plans = plan_template(resolve_template("payment-incident", TEMPLATES).spec, settings,
                          {"customer_ids": "1,2,3", "start_time": "2024-10-15 14:30:00",
                           "end_time": "2024-10-15 15:00:00"})
    assert plans and all(p.decisions for p in plans.values())
    assert sorted(p.relative_to(hfit_home) for p in hfit_home.rglob("*")) == before
    assert not settings.package_store.exists() or not any(settings.package_store.iterdir())


def test_cli_prints_every_table_as_a_table_or_json(hfit_home: Path) -> None:
    """``hfit pkg-tmpl plan NAME key=value [--json]``: rich tables for people, the manifest's form for tools."""
    assert callable(plan)
    runner = CliRunner()
    args = ["daily-dev-scenario", *(f"{k}={v}" for k, v in PARAMS.items())]
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["template"] == "daily-dev-scenario" and document["params"] == PARAMS
    customers = document["tables"]["customers"]
    assert "email" in customers["masked_columns"]
    assert {"column", "operator", "entity", "confidence", "evidence", "source"} <= set(customers["columns"][0])
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0
    for word in ("customers", "payment_methods", "credit_card", "evidence", "template rule"):
        assert word in shown.stdout
    unknown = runner.invoke(app, ["no-such-template"])
    assert unknown.exit_code != 0


def test_custom_recognizer_from_configuration_masks_in_a_build(hfit_home, tmp_path, demo_source,
                                                                monkeypatch) -> None:
    """A recognizer configured in .hfit/config.yaml (an internal customer-number format) masks that column."""
    import sqlite3
    from pathlib import Path as _Path

    import pyarrow.parquet as pq
    import yaml

    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.settings import load_settings
    from hfit_dagster.template.loader import parse_template

    copy = tmp_path / "shop.db"
    copy.write_bytes(_Path(demo_source.removeprefix("sqlite:///")).read_bytes())
    with sqlite3.connect(copy) as conn:
        conn.execute("ALTER TABLE products ADD COLUMN ref TEXT")
        conn.execute("UPDATE products SET ref = 'CUST-' || (10000000 + id)")
    (hfit_home / "config.yaml").write_text(yaml.safe_dump({
        "providers": {"PROD_REPLICA": f"sqlite:///{copy}"},
        "recognizers": [{"name": "customer-number", "entity": "CUSTOMER_NUMBER", "regex": r"CUST-\d{8}",
                         "score": 0.9, "operator": "digits"}],
    }))
    monkeypatch.delenv("HFIT_PROVIDER_PROD_REPLICA_URL")
    spec = parse_template("""
templateName: refs
exports:
  products:
    provider: PROD_REPLICA
    query: SELECT * FROM products ORDER BY id LIMIT 20
""")
    built = build_package(spec, {}, load_settings())
    refs = pq.read_table(built.path / "parquet" / "products.parquet").column("ref").to_pylist()
    plan = next(c for t in built.manifest.tables for c in t.columns if c.name == "ref").masking
    assert plan["operator"] == "digits" and plan["entity"] == "CUSTOMER_NUMBER"
    assert all(r.startswith("CUST-") for r in refs)
    assert not set(refs) & {f"CUST-{10000000 + i}" for i in range(1, 21)}
