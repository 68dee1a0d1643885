"""Content nobody else approved never yields personal data: a draft built on the engine (the service's dry run)
masks what its keep rules would keep, uses a throwaway key (no masking oracle), and neither moves LATEST nor
prunes an approved package."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from hfit_dagster.definitions import HfitResource, build_template_defs
from hfit_dagster.package.store import PackageStore
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import parse_template, resolve_template

TEMPLATE = """
templateName: draft-probe
status: {status}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers ORDER BY id LIMIT 40
masking:
{rules}
retention: {{keep_versions: 1}}
"""
KEEP_EVERYTHING = "  customers.email: keep\n  customers.last_name: keep\n  default: keep"
PERSONAL = ("email", "first_name", "last_name", "phone")


def _source_values(demo_source: str) -> dict[str, set[str]]:
    with sqlite3.connect(demo_source.removeprefix("sqlite:///")) as db:
        rows = db.execute(f"SELECT {', '.join(PERSONAL)} FROM customers ORDER BY id LIMIT 40").fetchall()
    return {column: {str(r[i]) for r in rows if r[i] is not None} for i, column in enumerate(PERSONAL)}


def _source_column(demo_source: str, column: str) -> list[str]:
    with sqlite3.connect(demo_source.removeprefix("sqlite:///")) as db:
        return [str(r[0]) for r in db.execute(f"SELECT {column} FROM customers ORDER BY id LIMIT 40")]


def _draft_run(tmp_path: Path, hfit_home: Path, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(TEMPLATE.format(status="draft", rules=KEEP_EVERYTHING))
    found = resolve_template(str(path), tmp_path)
    result = dg.materialize(list(build_template_defs(found).assets or []),
                            resources={"hfit": HfitResource(home=str(hfit_home))},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        if materialization.asset_key.path[-1] == "package":
            return str(materialization.metadata["version"].value)
    raise AssertionError("no package materialized")


def _column(store: PackageStore, version: str, column: str) -> list[str]:
    table = pq.read_table(store.package_dir("draft-probe", version) / "parquet" / "customers.parquet")
    return [str(v) for v in table.column(column).to_pylist() if v is not None]


def test_spec_as_draft_build_ignores_keep_rules_and_keeps_its_hash() -> None:
    """The draft policy drops `keep` rules and `default: keep`; other rules and the content hash stay."""
    spec = parse_template(TEMPLATE.format(status="draft", rules=KEEP_EVERYTHING + "\n  customers.phone: hash"))
    draft = spec.as_draft_build()
    assert spec.masking_rules("customers") == {"email": "keep", "last_name": "keep", "phone": "hash"}
    assert draft.masking_rules("customers") == {"phone": "hash"}
    assert (spec.masking_default, draft.masking_default) == ("keep", "auto")
    assert draft.content_hash() == spec.content_hash()
    assert not spec.draft_build and draft.draft_build


@pytest.mark.slow
def test_a_draft_on_the_engine_masks_with_a_throwaway_key_and_leaves_latest(
        tmp_path: Path, hfit_home: Path, settings: HfitSettings, demo_source: str) -> None:
    """An author's draft with `default: keep` and keep rules, built as the service builds it: no original
    personal value in its Parquet, fakes unlike the approved package's and unlike another dry run's (so a
    draft cannot compute the service's fake of a guessed value), LATEST still the approved version and the
    approved version not pruned despite `keep_versions: 1`."""
    approved = parse_template(TEMPLATE.format(status="approved", rules="  default: auto"))
    approved_version = build_package(approved, {}, settings).path.name
    store = PackageStore(settings.package_store)
    originals = _source_values(demo_source)

    first = _draft_run(tmp_path, hfit_home, "draft-probe")
    second = _draft_run(tmp_path, hfit_home, "draft-probe-again")

    assert store.latest_version("draft-probe") == approved_version
    assert {approved_version, first, second} <= set(store.versions("draft-probe"))
    for column in ("email", "phone"):
        drafted = _column(store, first, column)
        assert drafted and not set(drafted) & originals[column], column
    for column in ("first_name", "last_name"):  # fakes come from pools of real names: judged row by row
        same = sum(a == b for a, b in zip(_column(store, first, column), _source_column(demo_source, column),
                                          strict=True))
        assert same <= 4, (column, same)
    approved_emails = _column(store, approved_version, "email")
    first_emails, second_emails = _column(store, first, "email"), _column(store, second, "email")
    assert not set(first_emails) & set(approved_emails)
    assert not set(first_emails) & set(second_emails)
