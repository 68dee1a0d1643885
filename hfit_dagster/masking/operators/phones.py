"""The phone operator: every digit of the national number replaced by a keyed permutation, the country code and
the format kept."""

from __future__ import annotations

import functools
import re

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator

# "+", then the country code's digits (ITU codes are 1-3 digits and prefix-free), possibly spread over separators
_INTERNATIONAL = re.compile(r"^\s*(?:\+|00)")


@functools.lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def country_code_end(value: str) -> int:
    """The position just after the country code of an international number (``+44 20 ...``: after ``44``;
    ``0044 ...`` too), or 0 when the value has no ``+``/``00`` or no known country code follows it."""
    start = _INTERNATIONAL.match(value)
    if start is None:
        return 0
    digits = ""
    for at in range(start.end(), len(value)):
        if value[at].isdigit():
            digits += value[at]
            if digits in _country_codes():
                return at + 1
            if len(digits) == 3:
                return 0
        elif digits:  # a separator inside the code: no known code ended before it
            return 0
    return 0


class PhoneOperator(StringOperator):
    """Every digit of the national number replaced (keyed permutation of its digit string); the country code of
    an international number (``+44``, ``0044``) and '+', spaces, dashes, parentheses kept.

    A permutation per digit count, so distinct numbers with the same country code and digit count stay
    distinct. The national part is faked as the same number written without its country code would be."""

    name = "phone"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        values = vp.as_utf8(values)
        international = pc.match_substring_regex(values, r"^\s*(\+|00)")
        if not pc.any(international).as_py():
            return vp.shape_fakes(key, self.name, values, letters=False)
        texts = values.to_pylist()
        cut = np.array([country_code_end(v) if i else 0
                        for v, i in zip(texts, international.to_pylist(), strict=True)], dtype=np.int64)
        rests = pa.array([v[c:] for v, c in zip(texts, cut.tolist(), strict=True)], pa.string())
        faked = vp.shape_fakes(key, self.name, rests, letters=False).to_pylist()
        return pa.array([v[:c] + f for v, c, f in zip(texts, cut.tolist(), faked, strict=True)], pa.string())
