"""The phone operator: every digit of the national number replaced by a keyed permutation, the country code and
the format kept."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.phone_prefix import international_split


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
        international, code, rest = international_split(values)
        if not international.any():
            return vp.shape_fakes(key, self.name, values, letters=False)
        return pc.binary_join_element_wise(code, vp.shape_fakes(key, self.name, rest, letters=False), "")
