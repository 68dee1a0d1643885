"""Operators by name: the one table the engine, the planner, span faking and JSON masking look operators up in.

Every name of the catalog (:data:`~hfit_dagster.masking.catalog.OPERATOR_TABLE`) has exactly one operator here
(tests/masking/test_masking_catalog.py checks it).
"""

from __future__ import annotations

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.operators.base import Operator
from hfit_dagster.masking.operators.constant import FixedOperator, KeepOperator, NullOperator
from hfit_dagster.masking.operators.dates import DateOfBirthOperator
from hfit_dagster.masking.operators.emails import EmailOperator
from hfit_dagster.masking.operators.hashing import HashOperator
from hfit_dagster.masking.operators.identifiers import (
    DigitsOperator,
    NationalIdOperator,
    PostalCodeOperator,
    ShapeOperator,
)
from hfit_dagster.masking.operators.network import IpAddressOperator
from hfit_dagster.masking.operators.payment import CreditCardOperator, IbanOperator
from hfit_dagster.masking.operators.phones import PhoneOperator
from hfit_dagster.masking.operators.pooled import (
    CityOperator,
    FirstNameOperator,
    LastNameOperator,
    PersonNameOperator,
    StreetAddressOperator,
)
from hfit_dagster.masking.operators.text import JsonPiiOperator, RedactTextOperator


def _registry(*ops: Operator) -> dict[str, Operator]:
    return {op.name: op for op in ops}


OPERATORS: dict[str, Operator] = _registry(
    KeepOperator(),
    NullOperator(),
    FixedOperator(),
    HashOperator(),
    EmailOperator(),
    PhoneOperator(),
    PersonNameOperator(),
    FirstNameOperator(),
    LastNameOperator(),
    StreetAddressOperator(),
    CityOperator(),
    PostalCodeOperator(),
    CreditCardOperator(),
    IbanOperator(),
    IpAddressOperator(),
    NationalIdOperator(),
    ShapeOperator(),
    DigitsOperator(),
    DateOfBirthOperator(),
    RedactTextOperator(),
    JsonPiiOperator(),
)


def get_operator(name: str) -> Operator:
    """The operator registered under ``name``; a MaskingError listing the known ones otherwise."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise MaskingError(
            f"unknown masking operator '{name}'",
            hint="known operators: " + ", ".join(sorted(OPERATORS)),
        ) from None
