"""PII inside JSON columns: found by walking the documents, masked leaf by leaf, structure kept."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import ColumnInfo, Masker, TextAnalyzer, TextRedactor, build_table_plan
from hfit_dagster.masking.json_pii import searchable_leaves

COLUMNS = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("payload", "JSON")]


@pytest.fixture(scope="module")
def masker(analyzer: TextAnalyzer, key: bytes) -> Masker:
    return Masker(key, text_redactor=TextRedactor(analyzer, key))


def _docs(n: int = 30) -> list[str]:
    return [
        json.dumps({
            "contact": {"email": f"maria.lopez{i}@shop.test", "phone": f"+1 555 010 {1000 + i}", "name": "Maria Lopez"},
            "qty": 3, "price": 1.10 + i, "status": "Pending", "sku": f"AB-{i:04d}",
            "note": f"Called John Smith about order {i}, call back on +44 20 7946 {i:04d}",
        })
        for i in range(n)
    ]  # fmt: skip


def _mask(masker: Masker, values: list[str], analyzer: TextAnalyzer) -> tuple[list[str], object]:
    table = pa.table({"id": list(range(len(values))), "payload": values})
    plan = build_table_plan("orders", COLUMNS, table, {}, analyzer=analyzer)
    return masker.mask_batch(plan, table.to_batches()[0]).column("payload").to_pylist(), plan


def test_the_issue_example_keeps_qty_and_masks_the_email(masker: Masker, key: bytes) -> None:
    """``{"contact": {"email": "a@b.com"}, "qty": 3}``: qty kept, email faked exactly as in an email column."""
    original = '{"contact": {"email": "a@b.com"}, "qty": 3}'
    out = masker.mask_array("json_pii", pa.array([original]))[0].as_py()
    doc = json.loads(out)
    assert doc["qty"] == 3
    assert list(doc) == ["contact", "qty"] and list(doc["contact"]) == ["email"]
    assert doc["contact"]["email"] == Masker(key).mask_array("email", pa.array(["a@b.com"]))[0].as_py()
    assert "a@b.com" not in out


def test_the_plan_chooses_json_pii_and_lists_what_it_found(masker: Masker, analyzer: TextAnalyzer) -> None:
    """The planner walks sampled documents: keys by name, leaves by Presidio; the evidence names paths only."""
    values = _docs()
    out, plan = _mask(masker, values, analyzer)
    decision = plan.decisions["payload"]  # type: ignore[attr-defined]
    print(f"\n{decision}")
    assert decision.operator == "json_pii"
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "PERSON"} <= set(decision.entity.split(","))
    assert "contact.email->email" in decision.evidence and "note:" in decision.evidence
    assert "maria" not in decision.evidence.lower()
    for i, (before, after) in enumerate(zip(values, out, strict=True)):
        a, b = json.loads(before), json.loads(after)
        assert (b["qty"], b["price"], b["status"], b["sku"]) == (a["qty"], a["price"], a["status"], a["sku"])
        assert b["contact"]["email"] != a["contact"]["email"] and b["contact"]["email"].endswith(
            (".com", ".net", ".org"))
        assert len(b["contact"]["phone"]) == len(a["contact"]["phone"]) != b["contact"]["phone"]
        assert b["contact"]["name"] != "Maria Lopez"
        assert "John Smith" not in b["note"] and f"+44 20 7946 {i:04d}" not in b["note"]


def test_documents_without_pii_are_returned_byte_for_byte(masker: Masker) -> None:
    """Other values are kept exactly: numbers keep their text, whitespace style of the document is kept."""
    values = ['{"sku":"AB-1","qty":2,"price":1.10,"big":1e5}', '[1, 2.50, {"status": "shipped"}]']
    assert masker.mask_array("json_pii", pa.array(values)).to_pylist() == values
    rewritten = masker.mask_array("json_pii", pa.array(['{"price":1.10,"email":"a@b.com","n":[1e5,-0]}']))
    assert rewritten[0].as_py().startswith('{"price":1.10,"email":"') and rewritten[0].as_py().endswith(
        '","n":[1e5,-0]}')


def test_secrets_arrays_keys_and_non_json_values(masker: Masker) -> None:
    """Passwords become null, phone arrays are masked element-wise, a map keyed by email gets its keys masked,
    ordinary keys stay, and a non-JSON value in the column is redacted as free text."""
    values = [
        '{"user": {"password": "hunter2", "phones": ["+1 555 010 2233", "+1 555 010 4455"]}}',
        '{"maria.lopez@shop.test": {"visits": 3}}',
        "not JSON: call back on +1 555 010 2233 or mail maria.lopez@shop.test",
    ]
    out = masker.mask_array("json_pii", pa.array(values)).to_pylist()
    first = json.loads(out[0])
    assert first["user"]["password"] is None
    assert all("2233" not in p and "4455" not in p for p in first["user"]["phones"])
    second = json.loads(out[1])
    assert list(second.values()) == [{"visits": 3}] and "maria.lopez@shop.test" not in out[1]
    assert out[2].startswith("not JSON: call back on +") and "2233" not in out[2] and "maria.lopez" not in out[2]


def test_a_json_column_named_like_pii_is_walked_not_replaced(analyzer: TextAnalyzer, masker: Masker) -> None:
    """An ``address`` JSON column is not replaced by one street string (which would not load into a JSON
    column): its leaves are masked by their own keys."""
    columns = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("address", "JSON")]
    values = [json.dumps({"street": f"{i} Baker Street", "zip": "NW1 6XE", "city": "London", "floor": 2})
              for i in range(1, 20)]  # fmt: skip
    table = pa.table({"id": list(range(len(values))), "address": values})
    plan = build_table_plan("customers", columns, table, {}, analyzer=analyzer)
    assert plan.decisions["address"].operator == "json_pii"
    out = masker.mask_batch(plan, table.to_batches()[0]).column("address").to_pylist()
    for before, after in zip(values, out, strict=True):
        a, b = json.loads(before), json.loads(after)
        assert b["floor"] == 2 and b["street"] != a["street"] and b["city"] != "London" and b["zip"] != "NW1 6XE"


def test_json_without_pii_is_kept_and_explained(analyzer: TextAnalyzer) -> None:
    """Deny by default does not mean mask everything: product attributes stay, with evidence why."""
    values = [json.dumps({"color": "blue", "size": "XL", "tags": ["sale"], "weight_kg": 1.2})] * 5
    table = pa.table({"id": list(range(5)), "payload": values})
    decision = build_table_plan("products", COLUMNS, table, {}, analyzer=analyzer).decisions["payload"]
    assert decision.operator == "keep" and "no PII" in decision.evidence


def test_json_pii_needs_a_redactor_and_the_leak_check_gets_the_leaves(key: bytes) -> None:
    """Without Presidio the operator refuses (no silent pass-through); the leaves the leak check should
    search are the ones under personal keys."""
    with pytest.raises(MaskingError) as err:
        Masker(key).mask_array("json_pii", pa.array(['{"email": "a@b.com"}']), column="payload")
    assert "TextRedactor" in (err.value.hint or "")
    assert searchable_leaves(['{"contact": {"email": "a@b.com", "phone": 5550102233}, "qty": 3}', None]) == [
        "5550102233",
        "a@b.com",
    ]


def test_a_secret_named_json_column_is_still_nulled(analyzer: TextAnalyzer) -> None:
    """Walking JSON never weakens a name rule for secrets: ``api_token`` JSON is nulled whole, not walked."""
    columns = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("api_token", "JSON")]
    table = pa.table({"id": [1, 2], "api_token": ['{"value": "sk_live_123"}', '{"value": "sk_live_456"}']})
    assert build_table_plan("apps", columns, table, {}, analyzer=analyzer).decisions["api_token"].operator == "null"


def test_evidence_shows_keys_that_may_be_values_as_a_star(analyzer: TextAnalyzer) -> None:
    """Keys that are emails, phone numbers or people's names become ``*`` in the paths of the evidence: the plan
    says what was found and where (``$.contacts[*].who``), never a value."""
    from hfit_dagster.masking.json_pii import classify_json

    docs = [json.dumps({"contacts": [{"who": f"Maria Lopez {i}", "email": f"maria{i}@corp.example"}],
                        f"anna.lee{i}@corp.example": {"role": "owner"}, "Maria": {"phone": f"+44 20 7946 {i:04d}"},
                        "+1 202 555 0147": "call back", "price": i})
            for i in range(6)]
    findings = classify_json(docs, analyzer)
    assert findings is not None
    evidence = findings.evidence()
    assert "$.contacts[*].email->email" in evidence and "$.*.phone->phone" in evidence
    for value in ("anna", "maria", "@corp", "202", "7946"):
        assert value not in evidence.lower()
