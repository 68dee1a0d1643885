"""The catalog of operators and entities is consistent with itself and with the operator registry."""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.masking import OPERATORS
from hfit_dagster.masking import catalog as c


def test_every_catalog_operator_is_registered_and_every_registered_one_catalogued() -> None:
    assert set(OPERATORS) == set(c.OPERATOR_SPECS)
    for name, op in OPERATORS.items():
        assert op.name == name
        assert (op.entity, op.description, op.accepts) == (c.OPERATOR_SPECS[name].entity,
                                                           c.OPERATOR_SPECS[name].description,
                                                           c.OPERATOR_SPECS[name].accepts)


def test_entities_name_catalogued_operators() -> None:
    named = {*c.SPAN_OPERATORS.values(), *c.COLUMN_OPERATORS.values()}
    assert named <= set(c.OPERATOR_SPECS)
    for operators in c.SAME_KIND.values():
        assert operators <= c.CONTEXT_OPERATORS
    assert set(c.STAND_INS) == c.CONTEXT_OPERATORS
    assert not c.TEXT_OPERATORS & c.CONTEXT_OPERATORS


def test_span_operators_fake_plain_strings(key: bytes) -> None:
    """An operator that fakes a span of free text gives a per-value fake of plain strings; ``null`` and
    ``fixed`` (allowed for custom entities) give none, so such spans become a tag."""
    values = pa.array(["Maria Lopez", "078-05-1120"], pa.string())
    for name in {*c.SPAN_OPERATORS.values(), *c.CUSTOM_ENTITY_OPERATORS}:
        fakes = OPERATORS[name].fake_texts(values, key)
        if name in ("null", "fixed"):
            assert fakes is None
        else:
            assert fakes is not None and len(fakes) == 2, name
