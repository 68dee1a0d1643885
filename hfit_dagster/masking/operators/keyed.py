"""Keyed randomness for the operators that work one value at a time (HMAC-SHA256), and the shape-keeping fake of
one value over the vectorized :mod:`~hfit_dagster.masking.vector_prf`."""

from __future__ import annotations

import hmac

import pyarrow as pa

from hfit_dagster.masking import vector_prf as vp

_SEP = b"\x1f"


def keyed_digest(key: bytes, operator: str, value: str, counter: int = 0) -> bytes:
    """HMAC-SHA256(key, operator + value): the source of randomness of every scalar operator.

    The separator keeps ``("email", "x")`` and ``("emai", "lx")`` apart; ``counter`` extends the stream
    when an operator needs more than 32 bytes.
    """
    msg = operator.encode() + _SEP + value.encode("utf-8", "surrogatepass")
    if counter:
        msg += _SEP + str(counter).encode()
    return hmac.digest(key, msg, "sha256")


def keyed_stream(key: bytes, operator: str, value: str, n_bytes: int) -> bytes:
    """At least ``n_bytes`` of keyed pseudo-random bytes for one value."""
    out = keyed_digest(key, operator, value)
    counter = 1
    while len(out) < n_bytes:
        out += keyed_digest(key, operator, value, counter)
        counter += 1
    return out


def keyed_int(key: bytes, operator: str, value: str, modulus: int) -> int:
    """A keyed integer in ``[0, modulus)`` for one value."""
    n_bytes = max(32, (modulus.bit_length() + 7) // 8 + 16)
    return int.from_bytes(keyed_stream(key, operator, value, n_bytes), "big") % modulus


def shape_preserve(key: bytes, operator: str, value: str) -> str:
    """Keep the shape of a value: digits become other digits, letters other letters (case kept).

    Punctuation and spaces stay where they were, so ``"AB12 3CD"`` still looks like a UK postcode and
    ``"123-45-6789"`` like an SSN. Digits are permuted (unique in, unique out for one letter pattern).
    Scalar convenience over :func:`vector_prf.shape_fakes` (same result as masking a whole column).
    """
    return vp.shape_fakes(key, operator, pa.array([value], pa.string()))[0].as_py()
