"""The template model: what authors may write, and the errors they get when they get it wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.errors import QueryRefused, TemplateError, TemplateNotFound
from hfit_dagster.template.loader import discover_templates, parse_template, resolve_template
from hfit_dagster.template.query import ExportQuery

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

GOOD = """
templateName: t1
status: approved
parameters:
  since: {type: datetime, default: now-30d}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE created_at >= :since
  orders:
    provider: PROD_REPLICA
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
"""


def test_shipped_templates_are_valid_and_unique() -> None:
    """Every template in templates/ loads; names are unique across folders; folders are reported."""
    found = discover_templates(TEMPLATES)
    assert {"daily-dev-scenario", "integration-test-suite", "payment-incident"} <= set(found)
    assert found["payment-incident"].folder == "bug-investigation"


def test_references_become_dependencies_and_bind_names() -> None:
    """`IN :customers.id` makes orders depend on customers and binds the keys, never formats them."""
    spec = parse_template(GOOD)
    assert spec.export_order() == ["customers", "orders"]
    orders = spec.queries()["orders"]
    assert orders.references == (("customers", "id"),)
    assert ":ref__customers__id" in orders.sql
    clause = orders.to_clause({"ref__customers__id": [1, 2, 3]})
    assert "1, 2, 3" not in str(clause.compile())


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM customers", "only a SELECT"),
        ("SELECT 1; DROP TABLE customers", "exactly one statement"),
        ("SELECT * FROM customers FOR UPDATE", "locking read"),
        ("SELECT SLEEP(5)", "SLEEP"),
        ("SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
        ("SELECT * FROM customers INTO OUTFILE '/tmp/x'", "SELECT"),
        ("UPDATE customers SET email = NULL", "only a SELECT"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE"),
    ],
)
def test_queries_that_are_not_one_read_only_select_are_refused(query: str, message: str) -> None:
    """A refused query names what is wrong, so authors can fix it; nothing reaches a database."""
    with pytest.raises(QueryRefused, match=message):
        ExportQuery.parse(query)


def test_malformed_template_errors_name_field_and_line() -> None:
    """Errors point at file, line and field, and call unknown keys typos."""
    text = GOOD.replace("    provider: PROD_REPLICA\n    query: SELECT * FROM orders",
                        "    providr: PROD_REPLICA\n    query: SELECT * FROM orders")
    with pytest.raises(TemplateError) as info:
        parse_template(text, "x.yaml")
    message = str(info.value)
    assert "x.yaml" in message
    assert "exports.orders.providr: unknown field" in message
    assert "line 11, exports.orders.providr" in message


def test_yaml_syntax_error_points_at_line() -> None:
    with pytest.raises(TemplateError, match=r"x.yaml:\d+: not valid YAML"):
        parse_template("templateName: a\nexports: [\n", "x.yaml")


def test_reference_to_unknown_export_is_refused() -> None:
    with pytest.raises(TemplateError, match="no export named 'buyers'"):
        parse_template(GOOD.replace(":customers.id", ":buyers.id"))


def test_unknown_template_name_suggests_close_names() -> None:
    with pytest.raises(TemplateNotFound, match="daily-dev") as info:
        resolve_template("daily-dev", TEMPLATES)
    assert "daily-dev-scenario" in str(info.value)


def test_content_hash_changes_with_content() -> None:
    """The hash identifies exactly what was approved: any edit changes it."""
    a = parse_template(GOOD)
    b = parse_template(GOOD.replace("now-30d", "now-31d"))
    assert a.content_hash() != b.content_hash()
    assert a.content_hash() == parse_template(GOOD).content_hash()


def test_a_template_names_one_schema_per_provider() -> None:
    """``schema:`` per export or per provider; one schema per provider; system schemas refused; a template
    that names no schema keeps the content hash it had before the field existed."""
    per_export = parse_template(GOOD.replace("    query: SELECT * FROM orders",
                                             "    schema: sales\n    query: SELECT * FROM orders"))
    assert per_export.provider_schema("prod_replica") == "sales"
    assert per_export.exports["orders"].source_schema == "sales"
    per_provider = parse_template(GOOD + "providers: {PROD_REPLICA: {schema: sales}}\n")
    assert per_provider.provider_schema("PROD_REPLICA") == "sales"
    assert parse_template(GOOD).provider_schema("PROD_REPLICA") is None
    with pytest.raises(TemplateError, match="name different schemas"):
        parse_template(GOOD.replace("    query: SELECT * FROM customers", "    schema: crm\n    query: SELECT * FROM "
                                    "customers") + "providers: {PROD_REPLICA: {schema: sales}}\n")
    with pytest.raises(TemplateError, match="system schema"):
        parse_template(GOOD + "providers: {PROD_REPLICA: {schema: pg_catalog}}\n")
    with pytest.raises(TemplateError, match="not the provider of any export"):
        parse_template(GOOD + "providers: {OTHER: {schema: sales}}\n")
    assert parse_template(GOOD).content_hash() == "581fdd351e74be55b2b2a12f3c5af6945c9810306105c1bba386b69ace873aa9"
