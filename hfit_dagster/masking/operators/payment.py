"""Payment identifiers: card numbers (Luhn-valid, on a test BIN) and IBANs (valid mod-97 check digits)."""

from __future__ import annotations

import re
import string

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.jit import compiled
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator

# A test BIN used by payment sandboxes; masked cards never collide with real issuers' ranges.
CARD_TEST_PREFIX = "400000"
_DIGITS = frozenset(string.digits)
_IBAN_FORM = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$"


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True when a digit string passes the Luhn check."""
    digits = [c for c in number if c in _DIGITS]
    return bool(digits) and luhn_check_digit("".join(digits[:-1])) == digits[-1]


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Luhn check digit (ASCII) for each row of an (n, k) ASCII digit matrix."""
    d = body.astype(np.int64) - 48
    doubled = d[:, ::-1][:, 0::2] * 2
    doubled -= 9 * (doubled > 9)
    total = doubled.sum(axis=1) + d[:, ::-1][:, 1::2].sum(axis=1)
    return ((10 - total % 10) % 10 + 48).astype(np.uint8)


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits (mod 97) for a country code and BBAN."""
    numeric = "".join(str(int(c, 36)) for c in (bban + country + "00").upper())
    return str(98 - int(numeric) % 97).zfill(2)


def iban_valid(iban: str) -> bool:
    """True when an IBAN (spaces allowed) has correct mod-97 check digits."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", compact):
        return False
    numeric = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(numeric) % 97 == 1


def iban_check_digits_many(country: np.ndarray, bban: np.ndarray) -> np.ndarray:
    """ISO 13616 check digits (ASCII, (n, 2)) for (n, 2) country and (n, k) BBAN upper-case matrices."""
    return _iban_check_digits(np.ascontiguousarray(country, dtype=np.uint8), np.ascontiguousarray(bban, dtype=np.uint8))


@compiled
def _iban_check_digits(country: np.ndarray, bban: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """mod 97 of BBAN + country + "00", digits as digits and letters as 10..35 (A=10), per row."""
    n, k = bban.shape
    out = np.empty((n, 2), dtype=np.uint8)
    for i in range(n):
        r = np.int64(0)  # int64 on both paths: uncompiled, uint8 bytes would wrap r * 100
        for j in range(k + 4):
            c = np.int64(bban[i, j]) if j < k else (np.int64(country[i, j - k]) if j < k + 2 else np.int64(48))
            r = (r * 10 + (c - 48)) % 97 if c <= 57 else (r * 100 + (c - 55)) % 97
        check = 98 - r
        out[i, 0] = check // 10 + 48
        out[i, 1] = check % 10 + 48
    return out


class CreditCardOperator(StringOperator):
    """A Luhn-valid number of the same length on the test BIN 400000; separators kept.

    Values with fewer than 12 digits (e.g. already-truncated ``"**** 1234"``) get permuted digits. Not
    guaranteed unique: 9 free digits for 16-digit cards.
    """

    name = "credit_card"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        prefix = np.frombuffer(CARD_TEST_PREFIX.encode(), dtype=np.uint8)

        def card(count: int, digits: np.ndarray) -> np.ndarray:
            if count < 12:
                return vp.permute_digit_matrix(key, self.name, digits)
            free = count - len(CARD_TEST_PREFIX) - 1
            if free <= 18:
                h = vp.prf_digit_rows(key, self.name, digits)[:, 0] % np.uint64(10**free)
                body_free = vp.int_to_digits(h, free)
            else:
                body_free = vp.keyed_digit_stream(key, self.name, digits, free)
            body = np.concatenate([np.tile(prefix, (len(digits), 1)), body_free], axis=1)
            return np.concatenate([body, luhn_check_digits(body)[:, None]], axis=1)

        def mapper(groups: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
            return {count: card(count, digits) for count, digits in groups.items()}

        return vp.map_digits(values, mapper)


class IbanOperator(StringOperator):
    """Same country and length, BBAN shape-preserved, valid mod-97 check digits; spaces kept."""

    name = "iban"

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        values = vp.as_utf8(values)
        compact = pc.utf8_upper(pc.replace_substring(values, " ", ""))
        valid = pc.match_substring_regex(compact, _IBAN_FORM).to_numpy(zero_copy_only=False)
        if not valid.all():
            good, bad = np.nonzero(valid)[0], np.nonzero(~valid)[0]
            parts = [(bad, vp.shape_fakes(key, self.name, values.take(pa.array(bad))))]
            if len(good):
                take = pa.array(good)
                parts.append((good, self._valid(values.take(take), compact.take(take), key)))
            return vp.merge_strings(parts, len(values))  # type: ignore[arg-type]
        return self._valid(values, compact, key)

    def _valid(self, values: pa.Array, compact: pa.Array, key: bytes) -> pa.Array:
        """IBANs of a valid form: new BBAN (same shape), new check digits, written back around the spaces."""
        new_bban = vp.shape_fakes(key, self.name, pc.utf8_slice_codeunits(compact, 4))
        lengths = pc.utf8_length(new_bban).to_numpy(zero_copy_only=False)
        country_all = vp.ByteRows.from_array(pc.utf8_slice_codeunits(compact, 0, 2), 8).mat[:, :2]
        parts: list[tuple[np.ndarray, pa.Array]] = []
        for k in np.unique(lengths):
            idx = np.nonzero(lengths == k)[0] if len(np.unique(lengths)) > 1 else np.arange(len(lengths))
            bban = vp.ByteRows.from_array(new_bban.take(pa.array(idx)), int(k)).mat[:, : int(k)]
            country = country_all[idx]
            check = iban_check_digits_many(country, bban)
            parts.append((idx, vp.matrix_to_strings(np.concatenate([country, check, bban], axis=1))))
        new_compact = vp.merge_strings(parts, len(values))  # type: ignore[arg-type]
        return vp.fill_non_space(values, new_compact)
