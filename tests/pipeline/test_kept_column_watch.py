"""The watch over kept columns: every batch of a column the plan keeps is searched for structured personal data,
vectorized; a hit fails naming the column and the rule to add, never the value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from hfit_dagster.masking import ColumnDecision, TableMaskingPlan
from hfit_dagster.masking.value_patterns import entity_hits, integer_entity, luhn_valid
from hfit_dagster.pipeline.kept_column_watch import KeptColumnWatch, PersonalDataInKeptColumn


def plan_of(**decisions: tuple[str, str]) -> TableMaskingPlan:
    return TableMaskingPlan("t", {name: ColumnDecision(name, op, None, 1.0, "why", source)
                                  for name, (op, source) in decisions.items()})


@pytest.mark.parametrize(("text", "entity"), [
    ("write to anna.lee@corp.example today", "EMAIL_ADDRESS"),
    ("SSN 078-05-1120 on file", "US_SSN"),
    ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN_CODE"),
    ("call +44 20 7946 0958 after six", "PHONE_NUMBER"),
    ("call (202) 555-0147 after six", "PHONE_NUMBER"),
])
def test_each_structured_entity_is_found_inside_text(text: str, entity: str) -> None:
    hits = entity_hits(pa.array(["nothing here", text, None]))
    assert entity in hits and list(np.flatnonzero(hits[entity])) == [1]


@pytest.mark.parametrize("text", [
    "order ORD-234-567-8901 shipped", "2024-10-15 14:30:00", "version 1.2.3", "card 4111 1111 1111 1112",
    "SSN 000-12-3456", "SKU 12345", "GB82 WEST 1234 5698 7654 33", "555-123-4567",
])
def test_look_alikes_are_not_personal_data(text: str) -> None:
    assert entity_hits(pa.array([text])) == {}


def test_luhn_over_many_lengths_at_once() -> None:
    assert list(luhn_valid(pa.array(["4111111111111111", "79927398713", "4111111111111112", "378282246310005"]))) \
        == [True, True, False, True]


def test_ssn_shaped_integers_are_found_and_sequences_are_not() -> None:
    rng = np.random.default_rng(3)
    ssns = rng.integers(100, 666, 500) * 1_000_000 + rng.integers(10, 100, 500) * 10_000 + rng.integers(1000, 9999, 500)
    assert integer_entity(pa.array(ssns)).entity == "US_SSN"
    assert integer_entity(pa.array(np.arange(100_000_000, 100_000_500))) is None  # auto-increment ids


def test_a_kept_column_with_an_email_fails_naming_the_column_never_the_value() -> None:
    watch = KeptColumnWatch()
    plan = plan_of(notes=("keep", "presidio"), reviewed=("keep", "rule"), email=("email", "name"))
    clean = pa.record_batch({"notes": ["fine"] * 3, "reviewed": ["x@y.example"] * 3, "email": ["a@b.example"] * 3})
    watch.check("t", plan, clean)  # kept by a rule, or masked: not watched
    late = pa.record_batch({"notes": ["fine", "mail late@corp.example", None], "reviewed": [None] * 3,
                            "email": [None] * 3})
    with pytest.raises(PersonalDataInKeptColumn) as failure:
        watch.check("t", plan, late)
    message = str(failure.value)
    assert "t.notes" in message and "1 EMAIL_ADDRESS" in message and "t.notes: redact_text" in message
    assert "late@corp" not in message


def test_binary_and_integer_columns_are_watched_too() -> None:
    watch = KeptColumnWatch()
    plan = plan_of(blob=("keep", "type"), ref=("keep", "type"), customer_id=("keep", "type"))
    rng = np.random.default_rng(5)
    ssns = rng.integers(100, 666, 50) * 1_000_000 + rng.integers(10, 100, 50) * 10_000 + rng.integers(1000, 9999, 50)
    ids = pa.array(ssns)  # SSN-shaped, but named as an id: not looked at by value
    watch.check("t", plan, pa.record_batch({"blob": pa.array([b"\x89PNG\x00\xff"] * 50, pa.binary()),
                                            "ref": pa.array(np.arange(50)), "customer_id": ids}))
    with pytest.raises(PersonalDataInKeptColumn, match=r"t\.ref.*US_SSN"):
        watch.check("t", plan, pa.record_batch({"blob": pa.array([None] * 50, pa.binary()), "ref": ids,
                                                "customer_id": ids}))
    with pytest.raises(PersonalDataInKeptColumn, match=r"t\.blob.*EMAIL_ADDRESS"):
        watch.check("t", plan, pa.record_batch({"blob": pa.array([b"mail a@b.example"] + [b"\xff"] * 49),
                                                "ref": pa.array(np.arange(50)), "customer_id": ids}))


def test_a_template_that_keeps_everything_is_not_watched() -> None:
    KeptColumnWatch(enabled=False).check("t", plan_of(notes=("keep", "default")),
                                         pa.record_batch({"notes": ["mail late@corp.example"]}))


@pytest.mark.parametrize(("values", "entity"), [
    ([f"2024-10-{d:02d}" for d in range(1, 29)], None),  # dates as text are not phone numbers
    ([f"ORD{i:08d}" for i in range(50)], None),
    ([str(i) for i in range(10_000_000, 10_000_050)], None),  # a sequence of numbers as text
    ([f"(202) 555-{i:04d}" for i in range(10)], "PHONE_NUMBER"),
    ([f"{i:03d}-45-6789" for i in range(101, 120)], "US_SSN"),
    ([f"person{i}@mail.example" for i in range(10)], "EMAIL_ADDRESS"),
])
def test_a_column_is_one_entity_only_when_its_values_are(values: list[str], entity: str | None) -> None:
    from hfit_dagster.masking.value_patterns import whole_value_entity

    found = whole_value_entity(pa.array(values))
    assert (found.entity if found is not None else None) == entity


def test_text_inside_binary_that_is_not_utf8_is_found() -> None:
    """An email after the bytes of an image header: the BLOB is searched as bytes, not decoded first."""
    watch = KeptColumnWatch()
    plan = plan_of(blob=("keep", "type"))
    with pytest.raises(PersonalDataInKeptColumn, match=r"t\.blob.*EMAIL_ADDRESS"):
        watch.check("t", plan, pa.record_batch({"blob": pa.array([b"\x89PNG\x00\xff mail a@b.example"] + [b"\xff"] * 9,
                                                                 pa.binary())}))
