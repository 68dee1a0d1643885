"""The phone operator: every digit replaced by a keyed permutation of the digit string, the format kept."""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator


class PhoneOperator(StringOperator):
    """Every digit replaced (keyed permutation of the digit string); '+', spaces, dashes, parentheses kept.

    A permutation, so distinct numbers with the same digit count stay distinct."""

    name = "phone"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values, letters=False)
