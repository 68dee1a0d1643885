"""The masking plan: template rules first, then name/type heuristics, then Presidio on a sample."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import ColumnInfo, TableMaskingPlan, TextAnalyzer, build_table_plan

ORDER_COLUMNS = [
    ColumnInfo("id", "INTEGER", primary_key=True, nullable=False),
    ColumnInfo("customer_id", "INTEGER", foreign_key="customers.id"),
    ColumnInfo("email", "VARCHAR(160)", unique=True),
    ColumnInfo("phone", "VARCHAR(32)"),
    ColumnInfo("first_name", "VARCHAR(60)"),
    ColumnInfo("last_name", "VARCHAR(60)"),
    ColumnInfo("card_number", "VARCHAR(24)"),
    ColumnInfo("notes", "TEXT"),
    ColumnInfo("product_name", "VARCHAR(120)"),
    ColumnInfo("quantity", "INTEGER"),
    ColumnInfo("price", "NUMERIC(12, 2)"),
    ColumnInfo("created_at", "DATETIME"),
    ColumnInfo("status", "VARCHAR(20)"),
    ColumnInfo("contact", "VARCHAR(100)"),
    ColumnInfo("country", "VARCHAR(40)"),
]
PII = {
    "email": "email",
    "phone": "phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "card_number": "credit_card",
    "notes": "redact_text",
    "contact": "person_name",
}
NOT_PII = ["id", "customer_id", "product_name", "quantity", "price", "created_at", "status", "country"]

FIRST = ["Maria", "John", "Aisha", "Kenji", "Olga", "Pedro", "Grace", "Lukas", "Fatima", "Liam"]
LAST = ["Lopez", "Smith", "Khan", "Tanaka", "Ivanova", "Silva", "Okafor", "Weber", "Haddad", "Murphy"]
PRODUCTS = [
    "Wireless Mouse",
    "USB-C Charging Cable",
    "Ergonomic Office Chair",
    "Stainless Steel Water Bottle",
    "Mechanical Keyboard",
    "Desk Lamp",
    "Noise Cancelling Headphones",
    "Laptop Stand",
    "Acme Anvil",
    "Yoga Mat",
]
NOTES = [
    "Called {f} {l} back; she wants the invoice to {e}",
    "Package delayed at the depot, refund issued",
    "Customer asked to change the delivery slot to the afternoon",
    "{f} {l} phoned from +1 555 010 22{i:02d} about a missing item",
    "Gift wrap requested",
]


def _sample(n: int = 40) -> pa.Table:
    rows = range(n)
    first = [FIRST[i % 10] for i in rows]
    last = [LAST[(i * 3) % 10] for i in rows]
    email = [f"{f.lower()}.{x.lower()}{i}@mail.test" for i, f, x in zip(rows, first, last, strict=True)]
    return pa.table(
        {
            "id": list(rows),
            "customer_id": [100 + i for i in rows],
            "email": email,
            "phone": [f"+1 555 010 {2200 + i}" for i in rows],
            "first_name": first,
            "last_name": last,
            "card_number": ["4111 1111 1111 1111"] * n,
            "notes": [NOTES[i % 5].format(f=first[i], l=last[i], e=email[i], i=i) for i in rows],
            "product_name": [PRODUCTS[i % 10] for i in rows],
            "quantity": [i % 4 + 1 for i in rows],
            "price": [9.99] * n,
            "created_at": [dt.datetime(2024, 10, 15, 14, 30)] * n,
            "status": ["shipped", "pending", "cancelled", "delivered"] * (n // 4),
            "contact": [f"{FIRST[(i + 3) % 10]} {LAST[(i + 7) % 10]}" for i in rows],
            "country": ["Germany", "France", "United States", "Spain", "Japan"] * (n // 5),
        }
    )


@pytest.fixture(scope="module")
def auto_plan(analyzer: TextAnalyzer) -> TableMaskingPlan:
    return build_table_plan("orders", ORDER_COLUMNS, _sample(), {}, analyzer=analyzer)


def test_every_pii_column_is_masked_and_every_other_column_kept(auto_plan: TableMaskingPlan) -> None:
    """Deny by default works on a realistic table: each personal column gets a masking operator, while
    keys, quantities, prices, timestamps, statuses, products and countries stay as they are."""
    print("\n" + str(auto_plan))
    got = {c: d.operator for c, d in auto_plan.decisions.items()}
    assert {c: got[c] for c in PII} == PII
    assert {c: got[c] for c in NOT_PII} == dict.fromkeys(NOT_PII, "keep")
    assert sorted(auto_plan.masked_columns()) == sorted(PII)


def test_every_decision_explains_itself(auto_plan: TableMaskingPlan) -> None:
    """`hfit pkg-tmpl show --plan` can tell a reviewer why each column is (not) masked, without values."""
    d = auto_plan.decisions
    assert (d["id"].source, d["customer_id"].source) == ("key", "key")
    assert d["email"].source == "name" and "email" in d["email"].evidence
    assert d["notes"].source == "presidio" and "PERSON" in d["notes"].evidence
    assert d["contact"].source == "presidio" and d["contact"].entity == "PERSON"
    assert d["price"].source == "type"
    text = str(auto_plan)
    assert all(c.name in text for c in ORDER_COLUMNS)
    assert "Maria" not in text and "@mail.test" not in text
    for decision in d.values():
        assert 0.0 <= decision.confidence <= 1.0
        assert decision.evidence


def test_plan_round_trips_through_json(auto_plan: TableMaskingPlan) -> None:
    """The manifest stores the plan as JSON and the API/CLI can read it back unchanged."""
    data = json.loads(json.dumps(auto_plan.to_dict()))
    assert data["masked_columns"] == auto_plan.masked_columns()
    assert TableMaskingPlan.from_dict(data) == auto_plan


def test_template_rule_overrides_classification(analyzer: TextAnalyzer) -> None:
    """A template author can keep a column the classifier would mask, or force an operator on any column."""
    plan = build_table_plan(
        "orders", ORDER_COLUMNS, _sample(), {"email": "keep", "orders.status": "hash"}, analyzer=analyzer
    )
    assert (plan.decisions["email"].operator, plan.decisions["email"].source) == ("keep", "rule")
    assert (plan.decisions["status"].operator, plan.decisions["status"].source) == ("hash", "rule")
    assert plan.decisions["phone"].operator == "phone"


def test_default_keep_masks_only_ruled_columns() -> None:
    """`default: keep` (local experiments) keeps everything the template does not name."""
    plan = build_table_plan("orders", ORDER_COLUMNS, _sample(), {"notes": "redact_text"}, default="keep")
    assert plan.masked_columns() == ["notes"]
    assert plan.decisions["email"].source == "default"


def test_bad_rules_and_defaults_fail_loudly() -> None:
    """A typo in a masking rule must not silently leave a column unmasked."""
    with pytest.raises(MaskingError, match="emial"):
        build_table_plan("orders", ORDER_COLUMNS, None, {"emial": "email"})
    with pytest.raises(MaskingError) as err:
        build_table_plan("orders", ORDER_COLUMNS, None, {"email": "mask_it"})
    assert "email" in (err.value.hint or "")
    with pytest.raises(MaskingError, match="default"):
        build_table_plan("orders", ORDER_COLUMNS, None, {}, default="deny")
    with pytest.raises(MaskingError, match="orders.quantity"):
        build_table_plan("orders", ORDER_COLUMNS, None, {"quantity": "email"})


def test_name_is_a_person_on_people_tables_but_not_on_products(analyzer: TextAnalyzer) -> None:
    """`customers.name` is masked from its name alone; `products.name` holding product titles is kept
    even though spaCy calls some of them PERSON."""
    customers = build_table_plan(
        "customers",
        [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("name", "VARCHAR(80)")],
        None,
        {},
    )
    assert customers.decisions["name"].operator == "person_name"
    products = build_table_plan(
        "products",
        [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("name", "VARCHAR(80)")],
        pa.table({"id": list(range(10)), "name": PRODUCTS}),
        {},
        analyzer=analyzer,
    )
    assert products.decisions["name"].operator == "keep"


def test_type_and_secret_heuristics() -> None:
    """Flags, counters and timestamps are not mistaken for PII; secrets are nulled or hashed."""
    cols = [
        ColumnInfo("email_verified", "BOOLEAN"),
        ColumnInfo("mobile_sessions", "INTEGER"),
        ColumnInfo("last_login_at", "TIMESTAMP"),
        ColumnInfo("zip", "INTEGER"),
        ColumnInfo("dob", "DATE"),
        ColumnInfo("password_hash", "VARCHAR(100)", nullable=False),
        ColumnInfo("api_token", "VARCHAR(64)"),
        ColumnInfo("ip_address", "VARCHAR(45)"),
        ColumnInfo("billingAddressLine1", "VARCHAR(200)"),
    ]
    ops = {c: d.operator for c, d in build_table_plan("users", cols, None, {}).decisions.items()}
    assert ops == {
        "email_verified": "keep",
        "mobile_sessions": "keep",
        "last_login_at": "keep",
        "zip": "postal_code",
        "dob": "date_of_birth",
        "password_hash": "hash",
        "api_token": "null",
        "ip_address": "ip_address",
        "billingAddressLine1": "street_address",
    }


def test_foreign_key_to_a_masked_column_gets_the_same_operator() -> None:
    """A child column that references a masked parent column is masked the same way, so the join holds."""
    parent = build_table_plan("customers", [ColumnInfo("email", "VARCHAR(160)", primary_key=True)], None, {})
    child = build_table_plan(
        "newsletter",
        [
            ColumnInfo("id", "INTEGER", primary_key=True),
            ColumnInfo("subscriber", "VARCHAR(160)", foreign_key="customers.email"),
        ],
        None,
        {},
        parent_plans={"customers": parent},
    )
    assert child.decisions["subscriber"].operator == "email"
    assert child.decisions["subscriber"].source == "key"


def test_without_sample_free_text_is_redacted_and_other_text_flagged() -> None:
    """Deny by default when nothing could be checked: notes are redacted; the gap is visible as 'default'."""
    plan = build_table_plan(
        "tickets", [ColumnInfo("notes", "TEXT"), ColumnInfo("subject", "VARCHAR(200)")], None, {}
    )
    assert plan.decisions["notes"].operator == "redact_text"
    assert (plan.decisions["subject"].operator, plan.decisions["subject"].source) == ("keep", "default")


def test_free_text_without_pii_is_kept(analyzer: TextAnalyzer) -> None:
    """Descriptions with no personal data stay readable instead of being redacted by reflex."""
    plan = build_table_plan(
        "products",
        [ColumnInfo("description", "TEXT")],
        pa.table({"description": ["Sturdy steel frame, fits 15 inch laptops", "Pack of three, blue"]}),
        {},
        analyzer=analyzer,
    )
    assert plan.decisions["description"].operator == "keep"
    assert "free-text" in plan.decisions["description"].evidence


def _hidden_sample(rows: int = 200) -> pa.Table:
    import numpy as np

    rng = np.random.default_rng(11)
    ssns = rng.integers(100, 666, rows) * 1_000_000 + rng.integers(10, 100, rows) * 10_000 + rng.integers(1000, 9999,
                                                                                                          rows)
    born = [dt.date(1940 + int(y), 1 + int(y) % 12, 1 + int(y) % 28) for y in rng.integers(0, 60, rows)]
    return pa.table({
        "id": pa.array(range(rows)),
        "owner": pa.array([f"owner{i}@corp.example" for i in range(rows)]),
        "tax_ref": pa.array(ssns),
        "order_count": pa.array(ssns),  # SSN-shaped, but named as a count
        "born": pa.array(born, pa.date32()),
        "profile": pa.array([f"Reach me at p{i}@home.example in the evening".encode() for i in range(rows)]),
        "picture": pa.array([bytes([0x89, 0xFF, i % 256]) for i in range(rows)]),
        "area": pa.array(["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH"] * (rows // 5)),
        "legacy": pa.array([None] * rows, pa.string()),
        "legacy_required": pa.array([""] * rows),
    })


HIDDEN_COLUMNS = [
    ColumnInfo("id", "INTEGER", primary_key=True, nullable=False),
    ColumnInfo("owner", "VARCHAR(80)", foreign_key="accounts.account_key"),
    ColumnInfo("tax_ref", "BIGINT"),
    ColumnInfo("order_count", "BIGINT"),
    ColumnInfo("born", "DATE"),
    ColumnInfo("profile", "BLOB"),
    ColumnInfo("picture", "BLOB"),
    ColumnInfo("area", "VARCHAR(10)"),
    ColumnInfo("legacy", "VARCHAR(80)"),
    ColumnInfo("legacy_required", "VARCHAR(80)", nullable=False),
]


def test_types_and_keys_that_hide_personal_data_are_classified_by_their_values() -> None:
    """Without any name to go by: a foreign key holding emails, SSNs as BIGINT, dates of birth, a BLOB of text
    with emails, UK postcodes; an SSN-shaped count, a BLOB of bytes stay; columns never seen filled are masked."""
    plan = build_table_plan("ledger", HIDDEN_COLUMNS, _hidden_sample(), {})
    ops = {c: (d.operator, d.source) for c, d in plan.decisions.items()}
    assert ops["owner"] == ("email", "values")
    assert ops["tax_ref"] == ("national_id", "values")
    assert ops["order_count"] == ("keep", "type")
    assert ops["born"] == ("date_of_birth", "values")
    assert ops["profile"] == ("null", "values")
    assert ops["picture"] == ("keep", "type")
    assert ops["area"] == ("postal_code", "values")
    assert ops["legacy"] == ("null", "default") and "no non-empty value" in plan.decisions["legacy"].evidence
    assert ops["legacy_required"] == ("shape", "default")
    assert "owner0" not in str(plan) and "@" not in str(plan)


def test_a_foreign_key_takes_its_parent_columns_decision_masked_or_kept() -> None:
    accounts = build_table_plan("accounts", [ColumnInfo("account_key", "VARCHAR(80)", primary_key=True)],
                                pa.table({"account_key": [f"a{i}@corp.example" for i in range(20)]}), {})
    assert accounts.decisions["account_key"].operator == "email"
    kept = build_table_plan("accounts", [ColumnInfo("account_key", "VARCHAR(80)", primary_key=True)],
                            pa.table({"account_key": [f"ACC-{i:05d}" for i in range(20)]}), {})
    child = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("customer_email", "VARCHAR(80)",
                                                                       foreign_key="accounts.account_key")]
    for parent, operator in ((accounts, "email"), (kept, "keep")):
        plan = build_table_plan("logins", child, None, {}, parent_plans={"accounts": parent})
        assert (plan.decisions["customer_email"].operator, plan.decisions["customer_email"].source) == (operator, "key")


def test_a_free_text_column_never_seen_filled_is_redacted_by_default() -> None:
    plan = build_table_plan("tickets", [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("notes", "TEXT")],
                            pa.table({"id": list(range(50)), "notes": pa.array([None] * 50, pa.string())}), {})
    notes = plan.decisions["notes"]
    assert (notes.operator, notes.source) == ("redact_text", "default") and "no non-empty value" in notes.evidence


def test_dates_of_birth_written_as_text_under_a_neutral_name_are_found() -> None:
    days = [str(dt.date(1940 + i % 60, 1 + i % 12, 1 + i % 28)) for i in range(120)]
    recent = [str(dt.date(2024, 1 + i % 12, 1 + i % 28)) for i in range(120)]
    columns = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("d1", "VARCHAR(10)"),
               ColumnInfo("d2", "VARCHAR(10)")]
    plan = build_table_plan("people_import", columns, pa.table({"id": list(range(120)), "d1": days, "d2": recent}), {})
    assert (plan.decisions["d1"].operator, plan.decisions["d1"].source) == ("date_of_birth", "values")
    assert plan.decisions["d2"].operator == "keep"  # this year's dates are events, not births
