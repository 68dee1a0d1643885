"""Shape-keeping operators for ids whose format matters: national ids, postal codes, prefixed ids.

Digits go through a keyed Feistel permutation, so distinct inputs of the same shape give distinct outputs.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.network import MAC_ADDRESS, mac_fake

# RE2 has no back-references: the start of a MAC address, confirmed by MAC_ADDRESS in Python
_MAC_START = r"^[0-9A-Fa-f]{2}[:-][0-9A-Fa-f]{2}[:-]|^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\."


class ShapeOperator(StringOperator):
    """Digits to digits, letters to letters, everything else kept: for ids whose format matters.

    A MAC address (``08:00:2b:01:02:03``, the plan's operator for ``mac`` columns) gets keyed hex digits
    instead (:func:`~hfit_dagster.masking.operators.network.mac_fake`): letters to letters would leave hex.
    """

    name = "shape"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        fakes = vp.shape_fakes(key, self.name, values)
        if self.name != "shape" or not len(values):
            return fakes
        start = pc.fill_null(pc.match_substring_regex(vp.as_utf8(values), _MAC_START), False)
        if not pc.any(start).as_py():
            return fakes
        out = fakes.to_pylist()
        for i, value in enumerate(values.to_pylist()):
            if start[i].as_py() and MAC_ADDRESS.match(value):
                out[i] = mac_fake(key, self.name, value)
        return pa.array(out, pa.string())


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
