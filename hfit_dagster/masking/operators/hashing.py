"""The keyed hash operator: for secrets and values whose only use is equality (joins, uniqueness)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import MaskContext, Operator, is_text_type, is_whole_decimal, unsupported
from hfit_dagster.masking.operators.keyed import keyed_digest


class HashOperator(Operator):
    """Keyed hash: 32 hex chars (128 bits) for strings, a non-negative integer of the same width for integers
    and whole decimals (``DECIMAL(p,0)``: at most p digits).

    Why integers stay integers: a hashed INTEGER column must still load into its INTEGER DDL (the integer
    is the first 64-bit lane of the hash of its decimal string, masked to the type's width).
    In a column shorter than 32 characters the hash is cut to the column's length (:meth:`Operator.shorten`):
    each character less drops 4 bits, so uniqueness degrades with the length - ``VARCHAR(16)``: 64 bits, a
    collision somewhere has even odds among ~5 billion distinct values; ``VARCHAR(8)``: 32 bits, even odds among
    ~77,000. A UNIQUE column that short can fail to load with many distinct values.
    """

    name = "hash"

    def lanes(self, values: pa.Array, key: bytes) -> np.ndarray:
        return vp.prf_strings(key, [f"{self.name}/0", f"{self.name}/1"], values)

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        if is_text_type(t):
            return vp.hex_strings(self.lanes(values, ctx.key), 32).cast(t)
        if pa.types.is_integer(t):
            bits = t.bit_width - (1 if pa.types.is_signed_integer(t) else 0)
            mask = np.uint64((1 << bits) - 1)
            h = self.lanes(pc.cast(values, pa.string()), ctx.key)[:, 0] & mask
            return pa.array(h.astype(np.uint64)).cast(t, safe=False)
        if is_whole_decimal(t):  # DECIMAL(p,0): a non-negative whole number of up to p digits
            h = self.lanes(pc.cast(values, pa.string()), ctx.key)[:, 0] % np.uint64(10**min(t.precision, 19))
            return pa.array([Decimal(int(v)) for v in h], type=t)
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return pa.array(
                [keyed_digest(ctx.key, self.name, v.hex())[:16] for v in values.to_pylist()], type=t
            )
        raise unsupported(self.name, t)

    def hex_many(self, values: pa.Array, key: bytes) -> pa.Array:
        """The 32-hex-char hashes of strings."""
        return vp.hex_strings(self.lanes(values, key), 32)

    def fake_texts(self, values: pa.Array, key: bytes) -> pa.Array | None:
        return self.hex_many(values, key)
