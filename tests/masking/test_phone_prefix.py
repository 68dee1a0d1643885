"""The split of a phone number at its country code (``masking/operators/phone_prefix.py``): the compiled byte
pass gives what the RE2 reference gives, on generated values (other whitespace, newlines, digits of other
scripts, codes of every length, a ``+`` or ``00`` before no code) and on every region's example numbers in
every format; the phone operator's fakes and the leak check's national numbers are what the reference split
gives."""

from __future__ import annotations

import random

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hfit_dagster.checks.leak import national_variants
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.phone_prefix import code_ends, international_split
from hfit_dagster.masking.operators.registry import get_operator

PIECES = ["+", "00", "0", "1", "7", "44", "49", "352", "880", "999", "0044", "+1", "+44", "+800", "+88", " ", "\t",
          "\n", "\v", "\f", "\r", "\u00a0", "\u3000", "-", "(", ")", ".", "/", "a", "é", "٣", "１", "ext", "x", "中"]
STARTS = ["", " ", "  \t", "\n", "\r\n", "\v", "\u00a0", "+", "00", "+0", "000", "+ ", "0 0"]


def _generated(count: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    values: list[str | None] = []
    for _ in range(count):
        if rng.random() < 0.03:
            values.append(None)
            continue
        body = "".join(rng.choice(PIECES) if rng.random() < 0.4 else rng.choice("0123456789")
                       for _ in range(rng.randint(0, 14)))
        values.append(rng.choice(STARTS) + body)
    return values


def _examples() -> list[str]:
    """Every region's example numbers (each number type it has), in each format a table may hold."""
    values = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            values += [e164, "00" + e164[1:], " " + e164, e164 + "\n",
                       phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
                       phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
                       phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966)]
    return values


def _layouts(values: pa.Array) -> list[pa.Array]:
    """The array as Arrow builds it, sliced (an offset), and with read-only buffers (as read from IPC)."""
    batch = pa.record_batch([values], ["v"])
    read_only = pa.ipc.read_record_batch(batch.serialize(), batch.schema).column(0)
    return [values, values.slice(3, len(values) - 5), read_only]


@pytest.mark.parametrize("source", ["generated", "examples"])
def test_code_ends_fast_path_equals_the_re2_reference(source: str) -> None:
    """Where each value's country code ends (or that it has none), byte pass against RE2, in three layouts."""
    values = pa.array(_generated(20_000, 11) if source == "generated" else _examples(), pa.string())
    for layout in _layouts(values):
        fast, reference = code_ends(layout), code_ends(layout, fast=False)
        assert np.array_equal(fast, reference)
        assert (fast >= 0).sum() > len(layout) // 20  # the cases are not all "no code"


def test_international_split_fast_path_equals_the_re2_reference() -> None:
    """The flag, the code and the rest, NULLs where the reference has them."""
    values = pa.array(_generated(20_000, 12) + _examples(), pa.string())
    for layout in _layouts(values):
        fast, reference = international_split(layout), international_split(layout, fast=False)
        assert np.array_equal(fast[0], reference[0])
        assert fast[1].to_pylist() == reference[1].to_pylist()
        assert fast[2].to_pylist() == reference[2].to_pylist()


def test_country_codes_end_where_the_number_says() -> None:
    """Every region's E.164 example ends its code after ``+`` and the region's country code; a national
    writing has none; a newline after the code (RE2's ``.`` stops there) has none either."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number(region)
        if number is None:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        ends = code_ends(pa.array([e164, "00" + e164[1:], e164 + "\n1"]))
        assert ends.tolist() == [1 + len(str(number.country_code)), 2 + len(str(number.country_code)), -1], region


def test_phone_fakes_equal_the_reference_split_fakes() -> None:
    """The operator's fakes are the fakes of the reference split: the code kept, the rest permuted."""
    key = b"phone-prefix-test-key-0123456789"
    values = pa.array(_generated(5_000, 13) + _examples(), pa.string())
    international, code, rest = international_split(values, fast=False)
    expected = pc.binary_join_element_wise(code, vp.shape_fakes(key, "phone", rest, letters=False), "")
    assert get_operator("phone").fake_many(values, key).to_pylist() == expected.to_pylist()
    assert international.any()


def test_national_variants_take_the_rest_of_the_reference_split() -> None:
    """The leak check's national numbers: the rest's digits, bare and after a trunk 0, for the numbers with a code
    and at least six digits after it."""
    values = pa.array(_generated(5_000, 14) + _examples(), pa.string())
    variants, rows = national_variants("phone", values)
    international, _, rest = international_split(values, fast=False)
    digits = ["".join(c for c in v if "0" <= c <= "9") if v is not None else "" for v in rest.to_pylist()]
    expected = [i for i in range(len(values)) if international[i] and len(digits[i]) >= 6]
    assert rows.tolist() == expected + expected
    assert variants.to_pylist() == [digits[i] for i in expected] + ["0" + digits[i] for i in expected]
