"""Deterministic, keyed masking operators over whole Arrow arrays, one module per family, found by name.

Why keyed and deterministic: a fixture package must keep its joins. Every operator derives its fake from a
keyed pseudo-random function of (operator, value) - HMAC-SHA256 for the few scalar operators (:mod:`.keyed`),
SipHash-2-4 with keys derived from the secret by HMAC-SHA256 for the vectorized ones
(:mod:`~hfit_dagster.masking.vector_prf`) - so the same original value becomes the same fake in every table,
every batch and every run that uses the same secret key, and nobody without the key can recompute the mapping.

Why whole arrays: per-cell Python over a table is the slow path. :meth:`.base.Operator.operate` hands each
operator only the distinct non-null values of a column; the operators that matter for volume (email, names,
cities, streets, phone, ids, postal codes, cards, IBANs, hash) compute their fakes for all of them at once in
numpy/Arrow; only IP addresses, date-of-birth text and free text run Python per distinct value.

Families: :mod:`.constant` (keep, null, fixed), :mod:`.hashing`, :mod:`.emails`, :mod:`.phones`,
:mod:`.identifiers` (shape, digits, postal codes, national ids), :mod:`.payment` (cards, IBANs),
:mod:`.network` (IP addresses), :mod:`.dates` (date of birth), :mod:`.pooled` (names, streets, cities from
:mod:`.pools`), :mod:`.text` (free text, JSON). :mod:`.registry` maps names to operators.
"""

from hfit_dagster.masking.operators.base import MaskContext, Operator, StringOperator, is_text_type
from hfit_dagster.masking.operators.payment import iban_check_digits, luhn_check_digit
from hfit_dagster.masking.operators.registry import OPERATORS, get_operator

__all__ = [
    "OPERATORS",
    "MaskContext",
    "Operator",
    "StringOperator",
    "get_operator",
    "iban_check_digits",
    "is_text_type",
    "luhn_check_digit",
]
