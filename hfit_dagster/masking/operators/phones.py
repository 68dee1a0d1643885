"""The phone operator: every digit of the national number replaced by a keyed permutation, the country code and
the format kept."""

from __future__ import annotations

import functools

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator


@functools.lru_cache(maxsize=1)
def international_pattern() -> str:
    """RE2 pattern splitting an international number into ``+``/``00`` with its country code, and the rest (ITU
    codes are 1-3 digits and prefix-free, so at most one alternative matches)."""
    codes = "|".join(sorted((str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), key=len, reverse=True))
    return rf"^(?P<code>\s*(?:\+|00)(?:{codes}))(?P<rest>.*)$"


class PhoneOperator(StringOperator):
    """Every digit of the national number replaced (keyed permutation of its digit string); the country code of
    an international number (``+44``, ``0044``) and '+', spaces, dashes, parentheses kept.

    A permutation per digit count, so distinct numbers with the same country code and digit count stay
    distinct. The national part is faked as the same number written without its country code would be. A ``+``
    followed by no known country code (``+06...``) is permuted whole, like a national number."""

    name = "phone"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        values = vp.as_utf8(values)
        parts = pc.extract_regex(values, international_pattern())
        international = parts.is_valid()
        if not pc.any(international).as_py():
            return vp.shape_fakes(key, self.name, values, letters=False)
        code = pc.fill_null(parts.field("code"), "")
        rest = pc.if_else(international, parts.field("rest"), values)
        return pc.binary_join_element_wise(code, vp.shape_fakes(key, self.name, rest, letters=False), "")
