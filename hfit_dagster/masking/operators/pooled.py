"""Names and places drawn from the seeded pools by a keyed hash of the original (not guaranteed unique)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.pools import follow_case_many, name_parts, name_picks, pick_many, pool_arrays


class PoolOperator(StringOperator):
    """A realistic value drawn from the seeded pool ``pool`` by a keyed hash of the original."""

    pool: ClassVar[str]
    follow_case: ClassVar[bool] = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        fake = pick_many(self.pool, vp.prf_strings(key, [self.name], values)[:, 0])
        return follow_case_many(values, fake) if self.follow_case else fake


class PersonNameOperator(StringOperator):
    """'First Last': the fake of the name's first word as ``first_name`` gives it and the fake of its last word as
    ``last_name`` does (so ``Jane Doe`` here, ``Jane`` and ``Doe`` in first and last name columns and the address
    ``jane.doe@...`` all fake to one person's name); a name of one word takes its last name, and a value without
    a word of two letters both names, from the keyed lane of the whole value (low half, high half)."""

    name = "person_name"

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        h = vp.prf_strings(key, [self.name], values)[:, 0]
        first, last = name_parts(values)
        pools = pool_arrays()
        full = pc.binary_join_element_wise(
            pools["first_names"].take(pa.array(name_picks(key, "first_name", "first_names", first, h))),
            pools["last_names"].take(pa.array(name_picks(key, "last_name", "last_names", last, h >> np.uint64(32)))),
            " ",
        )
        return follow_case_many(values, full)


class NameOperator(PoolOperator):
    """A first or last name from its pool, keyed by the name as written in lower case without surrounding spaces
    (``Jane``, ``JANE`` and ``jane`` are one name, with one fake in their own case); never the name itself."""

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        words = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        picks = name_picks(key, self.name, self.pool, words, np.zeros(len(values), dtype=np.uint64))
        return follow_case_many(values, pool_arrays()[self.pool].take(pa.array(picks)))


class FirstNameOperator(NameOperator):
    name = "first_name"
    pool = "first_names"


class LastNameOperator(NameOperator):
    name = "last_name"
    pool = "last_names"


class StreetAddressOperator(PoolOperator):
    name = "street_address"
    pool = "streets"
    follow_case = False


class CityOperator(PoolOperator):
    name = "city"
    pool = "cities"
