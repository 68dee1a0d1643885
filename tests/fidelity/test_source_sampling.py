"""Samples mean what they say, on the demo source: a scaled or sampled template keeps about the asked share of
every exported table, and every kept order has all its items (children of kept parents are complete)."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pyarrow.parquet as pq
import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.subset import samples_at_roots
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import parse_template
from tests.conftest import TEMPLATES

TOLERANCE = 0.03  # absolute share: "within a few points"


def source_counts(url: str, tables: list[str]) -> dict[str, int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608


def items_per_order(url: str) -> Counter[int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return Counter(dict(conn.execute("SELECT order_id, COUNT(*) FROM order_items GROUP BY order_id")))


@pytest.mark.slow
@pytest.mark.parametrize(("template", "params", "exported"), [
    ("performance-baseline", {"table_size_factor": "0.1"}, ["customers", "orders", "order_items", "payments"]),
    ("large-dataset", {"sample_rate": "0.1"}, ["orders", "order_items", "payments"]),
    ("large-dataset", {"sample_rate": "0.3"}, ["orders", "order_items", "payments"]),
])
def test_every_exported_table_keeps_the_asked_share(settings: HfitSettings, demo_source: str, template: str,
                                                    params: dict[str, str], exported: list[str]) -> None:
    spec = parse_template((TEMPLATES / "performance-testing" / f"{template}.yaml").read_text())
    built = build_package(spec, params, settings, dialect="sqlite")
    share = float(next(iter(params.values())))
    total = source_counts(demo_source, exported)
    rows = {t.name: t.rows for t in built.manifest.tables}
    for table in exported:
        assert abs(rows[table] / total[table] - share) <= TOLERANCE, (table, rows[table], total[table])
    kept_items = Counter(pq.read_table(built.path / "parquet" / "order_items.parquet").column("order_id").to_pylist())
    source_items = items_per_order(demo_source)
    kept_orders = pq.read_table(built.path / "parquet" / "orders.parquet").column("id").to_pylist()
    assert all(kept_items[o] == source_items[o] for o in kept_orders)  # no order without (some of) its items
    assert built.manifest.checks["foreign_keys"]["dangling_references"] == 0


def test_a_sample_applies_where_the_reference_chain_starts() -> None:
    """Exports binding a sampled export's keys (directly or through another) lose their own sample; an
    export that binds an unsampled export's keys keeps its own."""
    spec = parse_template("""
templateName: chain
exports:
  customers: {provider: P, query: "SELECT * FROM customers", sample: 0.1}
  orders: {provider: P, query: "SELECT * FROM orders WHERE customer_id IN :customers.id", sample: 0.1}
  order_items: {provider: P, query: "SELECT * FROM order_items WHERE order_id IN :orders.id", sample: 0.1}
  products: {provider: P, query: "SELECT * FROM products"}
  reviews: {provider: P, query: "SELECT * FROM reviews WHERE product_id IN :products.id", sample: 0.5}
""")
    rooted = samples_at_roots(spec)
    assert {n: e.sample for n, e in rooted.exports.items()} == {
        "customers": 0.1, "orders": None, "order_items": None, "products": None, "reviews": 0.5}
