"""Names and places drawn from the seeded pools by a keyed hash of the original (not guaranteed unique)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.pools import follow_case_many, pick_many


class PoolOperator(StringOperator):
    """A realistic value drawn from the seeded pool ``pool`` by a keyed hash of the original."""

    pool: ClassVar[str]
    follow_case: ClassVar[bool] = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        fake = pick_many(self.pool, vp.prf_strings(key, [self.name], values)[:, 0])
        return follow_case_many(values, fake) if self.follow_case else fake


class PersonNameOperator(StringOperator):
    """'First Last': the first name by the low half of the keyed lane, the last name by its high half."""

    name = "person_name"

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        h = vp.prf_strings(key, [self.name], values)[:, 0]
        full = pc.binary_join_element_wise(
            pick_many("first_names", h), pick_many("last_names", h >> np.uint64(32)), " "
        )
        return follow_case_many(values, full)


class FirstNameOperator(PoolOperator):
    name = "first_name"
    pool = "first_names"


class LastNameOperator(PoolOperator):
    name = "last_name"
    pool = "last_names"


class StreetAddressOperator(PoolOperator):
    name = "street_address"
    pool = "streets"
    follow_case = False


class CityOperator(PoolOperator):
    name = "city"
    pool = "cities"
