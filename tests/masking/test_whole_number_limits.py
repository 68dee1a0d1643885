"""A masked whole number fits its SQL column, not only the Arrow type it was read as: a MySQL INT is read as
int64, a PostgreSQL NUMERIC(9,0) as its decimal text; a foreign key wraps its fakes as its parent does, so joins
on a masked integer key hold."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from hfit_dagster.masking.engine import Masker
from hfit_dagster.masking.plan import ColumnInfo, build_table_plan, largest_whole

KEY = b"tests-masking-key-not-secret"


def test_largest_whole_number_of_each_integer_and_whole_decimal_type() -> None:
    """The bound every masked whole number is wrapped into, per SQL type spelling of MySQL and PostgreSQL."""
    assert largest_whole("INTEGER") == largest_whole("INT(11)") == largest_whole("int4") == 2**31 - 1
    assert largest_whole("INT UNSIGNED") == 2**32 - 1 and largest_whole("TINYINT") == 127
    assert largest_whole("SMALLINT") == 2**15 - 1 and largest_whole("MEDIUMINT UNSIGNED") == 2**24 - 1
    assert largest_whole("BIGINT") == 2**63 - 1
    assert largest_whole("NUMERIC(9, 0)") == largest_whole("DECIMAL(9)") == 10**9 - 1
    assert largest_whole("NUMERIC(12, 2)") is None and largest_whole("VARCHAR(9)") is None


def test_a_hashed_int_key_fits_its_column_and_a_bigint_child_still_joins() -> None:
    """customers.id INT hashed by a rule (read as int64: the hash was a 63-bit number no INT holds) is a number
    under 2^31, and orders.customer_id BIGINT referencing it gets the very same fakes; a NUMERIC(9,0) held as
    text is hashed to digits (no hex) of at most 9."""
    ids = pa.array([123456789, 2_000_000_000, 7, None], pa.int64())
    parent = build_table_plan("customers", [ColumnInfo("id", "INTEGER", primary_key=True),
                                            ColumnInfo("tax_ref", "NUMERIC(9, 0)")], None,
                              {"id": "hash", "tax_ref": "hash"})
    child = build_table_plan("orders", [ColumnInfo("id", "BIGINT", primary_key=True),
                                        ColumnInfo("customer_id", "BIGINT", foreign_key="customers.id")],
                             None, {}, parent_plans={"customers": parent})
    masker = Masker(KEY)
    batch = pa.record_batch([ids, pa.array(["123456789", "078051120", "NaN", None])], names=["id", "tax_ref"])
    masked = masker.mask_batch(parent, batch).to_pydict()
    assert all(0 <= v < 2**31 for v in masked["id"][:3]) and masked["id"][3] is None
    assert not set(masked["id"]) & {123456789, 2_000_000_000, 7}
    refs = masker.mask_batch(child, pa.record_batch([pa.array([1, 2, 3, 4], pa.int64()), ids],
                                                    names=["id", "customer_id"])).to_pydict()
    assert refs["customer_id"] == masked["id"]
    taxes = masked["tax_ref"]
    assert all(t.isdigit() and len(t) <= 9 and Decimal(t) < 10**9 for t in taxes[:2]) and taxes[2:] == ["NaN", None]


def test_a_dictionary_encoded_numeric_text_is_masked_as_the_number_it_is() -> None:
    """A PostgreSQL numeric held as dictionary-encoded text (repeated values) takes the number path too: hashed to
    digits within NUMERIC(9,0), equal values equal, the dictionary type kept."""
    values = pa.array(["123456789", "123456789", None, "NaN"]).dictionary_encode()
    plan = build_table_plan("t", [ColumnInfo("tax_ref", "NUMERIC(9, 0)")], None, {"tax_ref": "hash"})
    masked = Masker(KEY).mask_batch(plan, pa.record_batch([values], names=["tax_ref"])).column(0)
    assert pa.types.is_dictionary(masked.type)
    out = masked.to_pylist()
    assert out[0] == out[1] and out[0].isdigit() and len(out[0]) <= 9 and out[0] != "123456789"
    assert out[2:] == [None, "NaN"]
