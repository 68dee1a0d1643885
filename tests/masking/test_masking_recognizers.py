"""Custom recognizers from configuration: classify columns, redact spans, reach every analyzer a build makes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import ColumnInfo, Masker, TextAnalyzer, TextRedactor, build_table_plan
from hfit_dagster.masking.factory import masker, text_analyzer
from hfit_dagster.settings import load_settings

CUSTOMER_NUMBER = {
    "name": "customer_number", "entity": "CUSTOMER_NUMBER", "regex": r"\bCUST-\d{8}\b", "score": 0.7,
    "operator": "digits", "context": ["customer"],
}  # fmt: skip


@pytest.fixture(scope="module")
def custom() -> TextAnalyzer:
    return TextAnalyzer(extra_recognizers=[CUSTOMER_NUMBER])


def test_a_column_of_customer_numbers_gets_the_configured_operator(custom: TextAnalyzer, key: bytes) -> None:
    """An internal id format no built-in recognizer knows is classified by the configured pattern and masked
    with its operator: prefix kept, digits permuted (so the column stays unique and joinable)."""
    columns = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("external_ref", "VARCHAR(20)"),
               ColumnInfo("sku", "VARCHAR(20)")]  # fmt: skip
    values = [f"CUST-{10_000_000 + 7919 * i}" for i in range(50)]
    sample = pa.table({"id": list(range(50)), "external_ref": values, "sku": [f"SKU-{i:05d}" for i in range(50)]})
    plan = build_table_plan("accounts_export", columns, sample, {}, analyzer=custom)
    decision = plan.decisions["external_ref"]
    assert (decision.operator, decision.entity, decision.source) == ("digits", "CUSTOMER_NUMBER", "presidio")
    assert plan.decisions["sku"].operator == "keep"
    out = Masker(key).mask_batch(plan, sample.to_batches()[0]).column("external_ref").to_pylist()
    assert all(v.startswith("CUST-") and len(v) == 13 and v[5:].isdigit() for v in out)
    assert len(set(out)) == 50 and not set(out) & set(values)


def test_in_free_text_a_custom_entity_becomes_the_column_fake(custom: TextAnalyzer, key: bytes) -> None:
    """A note quoting a customer number gets the same fake as the id column: the story stays followable."""
    column_fake = Masker(key).mask_array("digits", pa.array(["CUST-12345678"]))[0].as_py()
    redacted = TextRedactor(custom, key).redact("Refund approved for customer CUST-12345678 today")
    assert "CUST-12345678" not in redacted
    assert column_fake in redacted


def test_without_an_operator_columns_are_hashed_and_spans_tagged(key: bytes) -> None:
    """No operator configured: the safe defaults (keyed hash for a column, a tag in free text)."""
    analyzer = TextAnalyzer("regex", extra_recognizers=[{k: v for k, v in CUSTOMER_NUMBER.items() if k != "operator"}])
    assert analyzer.column_operator("CUSTOMER_NUMBER") == "hash"
    assert TextRedactor(analyzer, key).redact("customer CUST-12345678") == "customer <CUSTOMER_NUMBER>"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**CUSTOMER_NUMBER, "operator": "redact_text"}, "cannot mask a custom entity"),
        ({**CUSTOMER_NUMBER, "entity": "customer number"}, "UPPER_SNAKE_CASE"),
        ({**CUSTOMER_NUMBER, "context": "customer"}, "context must be a list"),
        ({**CUSTOMER_NUMBER, "colour": "red"}, "unknown keys: colour"),
    ],
)
def test_bad_recognizer_configuration_is_named(spec: dict, message: str) -> None:
    with pytest.raises(MaskingError, match=message):
        TextAnalyzer("regex", extra_recognizers=[spec])


def test_config_file_recognizers_model_and_workers_reach_the_analyzer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: bytes
) -> None:
    """``.hfit/config.yaml`` (or HFIT_*) -> settings -> the factory every build path uses."""
    for var in ("HFIT_SPACY_MODEL", "HFIT_RECOGNIZERS", "HFIT_TEXT_WORKERS", "HFIT_MASKING_KEY"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "spacy_model": "regex", "masking_key": key.decode(), "recognizers": [CUSTOMER_NUMBER], "text_workers": 1,
    }))  # fmt: skip
    settings = load_settings(home=tmp_path)
    analyzer = text_analyzer(settings)
    assert analyzer.nlp_model == "regex"
    assert analyzer.entity_operators == {"CUSTOMER_NUMBER": "digits"}
    built = masker(settings, analyzer)
    assert built.text_redactor is not None and built.text_redactor.workers == 1
    assert "CUST-12345678" not in built.mask_array("redact_text", pa.array(["id CUST-12345678"]))[0].as_py()
    monkeypatch.setenv("HFIT_TEXT_WORKERS", "2")
    assert load_settings(home=tmp_path).text_workers == 2
