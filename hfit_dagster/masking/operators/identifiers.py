"""Shape-keeping operators for ids whose format matters: national ids, postal codes, prefixed ids.

Digits go through a keyed Feistel permutation, so distinct inputs of the same shape give distinct outputs.
"""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator


class ShapeOperator(StringOperator):
    """Digits to digits, letters to letters, everything else kept: for ids whose format matters."""

    name = "shape"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values)


class DigitsOperator(StringOperator):
    """Digits permuted (keyed), everything else kept: ids with a fixed prefix (``CUST-12345678``)."""

    name = "digits"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values, letters=False)


class PostalCodeOperator(ShapeOperator):
    name = "postal_code"


class NationalIdOperator(ShapeOperator):
    name = "national_id"
