"""Which values each masking operator can produce, so the leak check can tell a collision from a leak.

Fakes come from the same spaces as real values: a phone is a keyed permutation of its digits (every digit
string of that shape is a possible fake), names and streets are drawn from seeded pools of real-looking
values. A fake can therefore equal somebody else's original by chance, and finding it is no evidence of a
leak. Some spaces are narrow, though, and a value outside its space cannot have been written by the operator:

* ``EMAIL``: fakes end in ``@example.com|net|org`` (RFC 2606); an original on another domain is no fake.
* ``NAME``: every word of a fake name is a word of the name pools (first and last names, their e-mail slugs).
* ``STREET``: every word of a fake street is a word of the street pool (numbers included).
* ``CITY``: every word of a fake city is a word of the city pool.
* ``CARD``: fakes are on the test BIN 400000.
* ``IP``: IPv4 fakes are in 10.0.0.0/8, IPv6 fakes in 2001:db8::/32 (other shapes are kept as shapes).
* ``HASH``: 32 hexadecimal characters (or digits, for integers).
* ``ANY``: digit and shape permutations (phone, postal code, national ids, IBAN, ``shape``, ``digits``) and
  everything else: the operator can write any value of the original's shape.

A judgement reads token hashes (:mod:`token_hashes`), so the vectorized kinds never turn a hit back into text;
the rare kinds that need the text (card, IP, hash) get the matched span.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from enum import IntEnum

import numpy as np
import pyarrow as pa

from hfit_dagster.checks.digit_text import digit_counts
from hfit_dagster.checks.token_hashes import string_hashes, tokens_of
from hfit_dagster.masking.operators.emails import EMAIL_DOMAINS
from hfit_dagster.masking.operators.payment import CARD_TEST_PREFIX
from hfit_dagster.masking.operators.pools import fake_pools


class FakeSpace(IntEnum):
    """The values an operator can write (see the module docstring)."""

    ANY = 0
    EMAIL = 1
    NAME = 2
    STREET = 3
    CITY = 4
    CARD = 5
    IP = 6
    HASH = 7


OPERATOR_SPACES: dict[str, FakeSpace] = {
    "email": FakeSpace.EMAIL,
    "person_name": FakeSpace.NAME,
    "first_name": FakeSpace.NAME,
    "last_name": FakeSpace.NAME,
    "street_address": FakeSpace.STREET,
    "city": FakeSpace.CITY,
    "credit_card": FakeSpace.CARD,
    "ip_address": FakeSpace.IP,
    "hash": FakeSpace.HASH,
}
DIGITS_ONLY_OPERATORS = frozenset({"phone", "credit_card", "digits"})  # a value without digits stays as it is
_NEVER_BY_CHANCE = 1e-12  # keyed fakes of a space too large to meet their own original (email, hash)
TEXT_SPACES = frozenset({FakeSpace.CARD, FakeSpace.IP, FakeSpace.HASH})  # judged on the span's text
_HEX32 = re.compile(r"[0-9a-f]{1,32}|[0-9]+")  # a hash fake (cut to its column when that is shorter)


def operator_space(operator: str) -> FakeSpace:
    return OPERATOR_SPACES.get(operator, FakeSpace.ANY)


def _word_hashes(values: list[str]) -> np.ndarray:
    return np.unique(tokens_of(pa.array(values, pa.string())).hashes)


@functools.lru_cache(maxsize=1)
def _vocabularies() -> dict[FakeSpace, np.ndarray]:
    """Sorted token hashes of every word each pool can write."""
    pools = fake_pools()
    return {
        FakeSpace.NAME: _word_hashes([*pools.first_names, *pools.last_names, *pools.first_slugs, *pools.last_slugs]),
        FakeSpace.STREET: _word_hashes(list(pools.streets)),
        FakeSpace.CITY: _word_hashes(list(pools.cities)),
    }


@functools.lru_cache(maxsize=1)
def email_domain_hashes() -> tuple[np.uint64, np.ndarray]:
    """The token hash of ``example`` and the sorted hashes of the fake top-level domains."""
    labels = {domain.split(".")[0] for domain in EMAIL_DOMAINS}
    assert len(labels) == 1, "fake e-mail domains share their first label"
    tlds = [domain.split(".", 1)[1] for domain in EMAIL_DOMAINS]
    return string_hashes(pa.array(sorted(labels)))[0], np.unique(string_hashes(pa.array(tlds)))


def _member(sorted_values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not sorted_values.size:
        return np.zeros(wanted.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, wanted), sorted_values.size - 1)
    return sorted_values[at] == wanted


def could_be_fake(space: FakeSpace, token_hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per matched run of tokens (``token_hashes[starts[i] : starts[i] + lengths[i]]``): could an operator of
    ``space`` have written it? The text kinds (``TEXT_SPACES``) are answered by :func:`span_could_be_fake`;
    here they say True."""
    n = starts.size
    if space in (FakeSpace.NAME, FakeSpace.STREET, FakeSpace.CITY):
        vocabulary = _vocabularies()[space]
        inside = np.ones(n, dtype=bool)
        for j in range(int(lengths.max()) if n else 0):
            there = lengths > j
            inside[there] &= _member(vocabulary, token_hashes[starts[there] + j])
        return inside
    if space is FakeSpace.EMAIL:
        example, tlds = email_domain_hashes()
        ok = lengths >= 3
        last = starts + lengths - 1
        ok[ok] = (token_hashes[last[ok] - 1] == example) & _member(tlds, token_hashes[last[ok]])
        return ok
    return np.ones(n, dtype=bool)


def span_could_be_fake(space: FakeSpace, span: str) -> bool:
    """Could an operator of ``space`` (a text kind) have written the matched text ``span``?"""
    if space is FakeSpace.CARD:
        digits = re.sub(r"\D", "", span)
        return digits.startswith(CARD_TEST_PREFIX) or len(digits) < len(CARD_TEST_PREFIX)
    if space is FakeSpace.IP:
        try:
            address = ipaddress.ip_address(span.strip())
        except ValueError:
            return True  # not an address: the operator keeps its shape
        fake_net = ipaddress.ip_network("10.0.0.0/8" if address.version == 4 else "2001:db8::/32")
        return address in fake_net
    if space is FakeSpace.HASH:
        return _HEX32.fullmatch(span.lower()) is not None
    return True


def chance_unchanged(operator: str, values: pa.Array) -> np.ndarray:
    """Per original value: the chance that ``operator``'s fake of it is the value itself (a keyed draw that
    lands on its own input). Digit permutations: 10**-digits; pooled names and streets: one over the pool
    combinations; emails and hashes: never. An upper bound where letters are drawn too (``shape``)."""
    n = len(values)
    if operator in ("email", "hash"):
        return np.full(n, _NEVER_BY_CHANCE)
    pools = fake_pools()
    if operator == "person_name":
        return np.full(n, 1 / (len(pools.first_names) * len(pools.last_names)))
    if operator == "street_address":
        return np.full(n, 1 / len(pools.streets))
    return np.maximum(10.0 ** -digit_counts(values).astype(np.float64), _NEVER_BY_CHANCE)


def beyond_chance(unchanged: int, expected: float, bound: float = 1e-6) -> bool:
    """Is ``unchanged`` values equal to their own originals more than chance gives with ``expected`` such
    values on average: the Poisson chance of at least that many is below ``bound``?"""
    if unchanged == 0:
        return False
    if unchanged > expected + 12 * (expected ** 0.5) + 30:  # far out of the tail: no need to sum it
        return True
    term = total = float(np.exp(-expected))  # P(X = 0), then P(X = i) for i < unchanged
    for i in range(1, unchanged):
        term *= expected / i
        total += term
    return 1 - total < bound
