"""Deterministic, keyed masking operators over whole Arrow arrays.

Why keyed and deterministic: a fixture package must keep its joins. Every operator derives its fake from a
keyed pseudo-random function of (operator, value) - HMAC-SHA256 for the few scalar operators, SipHash-2-4
with keys derived from the secret by HMAC-SHA256 for the vectorized ones (:mod:`vector_prf`) - so the same
original value becomes the same fake in every table, every batch and every run that uses the same secret key,
and nobody without the key can recompute the mapping. A different key gives different fakes.

Why whole arrays: per-cell Python over a table is the slow path. :class:`Masker` dictionary-encodes a
column (Arrow, in C), hands each operator only the *distinct* non-null values, and ``take``\\ s the masked
dictionary back to the original positions. Duplicates cost nothing, NULL stays NULL, and the output keeps the
input's Arrow type (strings stay strings, dates stay dates, integers stay integers). The operators that
matter for volume (email, names, cities, streets, phone, ids, postal codes, cards, IBANs, hash) compute
their fakes for all distinct values at once in numpy/Arrow; only IP addresses, date-of-birth text and
free text run Python per distinct value.

Uniqueness: digit shapes (phone, national id, postal code, the digits of an IBAN) go through a keyed Feistel
permutation, so distinct inputs of the same shape always give distinct outputs. Emails carry a 48-bit keyed
suffix plus a name pair (a collision needs ~10^10 distinct emails). Credit cards (test BIN 400000, 9 free
digits for 16-digit cards), IPs (10.0.0.0/8) and pooled names/cities/streets are *not* guaranteed unique.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import json
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import string_buffers
from hfit_dagster.errors import MaskingError
from hfit_dagster.jit import compiled
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.row_context import CONTEXT_OPERATORS, substitute_row_values
from hfit_dagster.masking.row_context import MIN_LENGTH as MIN_CONTEXT_LENGTH

if TYPE_CHECKING:
    from hfit_dagster.masking.plan import TableMaskingPlan
    from hfit_dagster.masking.text_redactor import TextRedactor

# Reserved for documentation (RFC 2606): a fake address can never reach a real mailbox.
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")
# A test BIN used by payment sandboxes; masked cards never collide with real issuers' ranges.
CARD_TEST_PREFIX = "400000"
FEISTEL_ROUNDS = vp.FEISTEL_ROUNDS
DOB_MAX_SHIFT_DAYS = 180
_POOL_SEED = 20_240_917
_SEP = b"\x1f"
_DIGITS = frozenset(string.digits)


# --------------------------------------------------------------------------------------------- keyed bytes


def keyed_digest(key: bytes, operator: str, value: str, counter: int = 0) -> bytes:
    """HMAC-SHA256(key, operator + value): the single source of randomness of every operator.

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


def _keyed_int(key: bytes, operator: str, value: str, modulus: int) -> int:
    n_bytes = max(32, (modulus.bit_length() + 7) // 8 + 16)
    return int.from_bytes(keyed_stream(key, operator, value, n_bytes), "big") % modulus


def permute_digits(key: bytes, operator: str, digits: str) -> str:
    """A keyed permutation of all digit strings of one length (see :func:`vector_prf.permute_digit_matrix`).

    Why a permutation and not a hash: distinct phone numbers / ids of the same length stay distinct, so a
    unique column stays unique and a join on it still matches one row. Scalar convenience over the
    vectorized implementation (same result as masking a whole column).
    """
    if not digits:
        return digits
    mat = np.frombuffer(digits.encode("ascii"), dtype=np.uint8).reshape(1, -1)
    return bytes(vp.permute_digit_matrix(key, operator, mat)[0]).decode("ascii")


def shape_preserve(key: bytes, operator: str, value: str) -> str:
    """Keep the shape of a value: digits become other digits, letters other letters (case kept).

    Punctuation and spaces stay where they were, so ``"AB12 3CD"`` still looks like a UK postcode and
    ``"123-45-6789"`` like an SSN. Digits are permuted (unique in, unique out for one letter pattern).
    Scalar convenience over :func:`vector_prf.shape_fakes` (same result as masking a whole column).
    """
    return vp.shape_fakes(key, operator, pa.array([value], pa.string()))[0].as_py()


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


# ------------------------------------------------------------------------------------------ fake pools


@dataclass(frozen=True)
class _FakePools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    first_slugs: tuple[str, ...]  # ASCII lower-case, for email local parts
    last_slugs: tuple[str, ...]


def _dedupe(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _streets_without_person_names(fake: Any, count: int) -> tuple[str, ...]:
    """Street fakes that never contain a "First Last" pair ("2039 Sarah Lane" would read as a person's name,
    and could even equal a real customer's), so names found in an output always come from name columns."""
    from faker.providers.person.en_US import Provider as People

    first, last = set(People.first_names), set(People.last_names)
    streets: list[str] = []
    while len(streets) < count:
        words = (candidate := fake.street_address()).split()
        if not any(a in first and b in last for a, b in zip(words, words[1:], strict=False)):
            streets.append(candidate)
    return _dedupe(streets)


POOL_FILE = "fake_pools.json"


@functools.lru_cache(maxsize=1)
def fake_pools() -> _FakePools:
    """Realistic names/places, indexed by keyed hashes: read from ``fake_pools.json`` beside this module.

    Why pools: calling Faker per value is ~50x slower than indexing a tuple. Why a file: drawing them from
    the seeded Faker took ~0.6 s in every build process, and a file keeps every fake stable even when Faker
    changes (``generate_fake_pools`` made the file; a test checks the two still agree).
    """
    from importlib.resources import files

    data = json.loads(files("hfit_dagster.masking").joinpath(POOL_FILE).read_text(encoding="utf-8"))
    return _FakePools(**{name: tuple(data[name]) for name in _FakePools.__dataclass_fields__})


def generate_fake_pools() -> _FakePools:
    """The pools drawn from a seeded Faker (how ``fake_pools.json`` was made; see ``write_fake_pools``)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(_POOL_SEED)
    first = _dedupe([fake.first_name() for _ in range(2500)])
    last = _dedupe([fake.last_name() for _ in range(2500)])
    return _FakePools(
        first_names=first,
        last_names=last,
        cities=_dedupe([fake.city() for _ in range(1000)]),
        streets=_streets_without_person_names(fake, 1500),
        first_slugs=tuple(_ascii_slug(n) for n in first),
        last_slugs=tuple(_ascii_slug(n) for n in last),
    )


def write_fake_pools(path: Path) -> None:
    """Write the generated pools as ``fake_pools.json`` (changing them changes every name, city and street fake)."""
    from faker import VERSION

    pools = generate_fake_pools()
    data = {"generated_by": f"Faker {VERSION}, seed {_POOL_SEED}",
            **{name: list(getattr(pools, name)) for name in _FakePools.__dataclass_fields__}}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


@functools.lru_cache(maxsize=1)
def pool_arrays() -> dict[str, pa.Array]:
    """The fake pools as Arrow arrays, for vectorized picks."""
    pools = fake_pools()
    return {name: pa.array(getattr(pools, name), pa.string()) for name in pools.__dataclass_fields__}


def pick_many(pool: str, h: np.ndarray) -> pa.Array:
    """``pool[h % len(pool)]`` for every 64-bit keyed value in ``h``."""
    arr = pool_arrays()[pool]
    return arr.take(pa.array((h % np.uint64(len(arr))).astype(np.int64)))


def follow_case_many(original: pa.Array, fake: pa.Array) -> pa.Array:
    """Upper-case fakes for upper-case originals, lower-case for lower-case ones, else as drawn."""
    upper = pc.utf8_is_upper(original)
    lower = pc.utf8_is_lower(original)
    return pc.if_else(upper, pc.utf8_upper(fake), pc.if_else(lower, pc.utf8_lower(fake), fake))


def _ascii_slug(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower()) or "user"


# ---------------------------------------------------------------------------------------------- types


def is_text_type(t: pa.DataType) -> bool:
    """Arrow string types the string operators accept."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t)


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


@dataclass
class MaskContext:
    """What an operator may need besides the values: the key, the redactor, a fixed value, the column."""

    key: bytes
    text_redactor: TextRedactor | None = None
    fixed_values: Mapping[str, Any] = field(default_factory=dict)
    table: str | None = None
    column: str | None = None


class Operator(ABC):
    """One masking operator, applied to the distinct values of a column.

    Subclasses implement :meth:`mask_distinct`; :meth:`mask` does the dedupe/take around it so no
    operator ever sees a duplicate or a NULL.
    """

    name: ClassVar[str]
    entity: ClassVar[str | None] = None
    description: ClassVar[str] = ""

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """Mask a whole array: dictionary-encode, mask the dictionary once, take it back."""
        if len(values) == 0 or values.null_count == len(values):
            return values
        encoded = pc.dictionary_encode(values)
        masked = self.mask_distinct(encoded.dictionary, ctx)
        return masked.take(encoded.indices)

    @abstractmethod
    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """Mask distinct, non-null values; return an array of the same length and type."""


class StringOperator(Operator):
    """An operator defined by a fake per value: ``fake_many`` (vectorized) or ``fake`` (one value).

    Subclasses implement at least one of the two: the default ``fake_many`` calls ``fake`` per distinct
    value, the default ``fake`` runs ``fake_many`` on one value, so both always agree (a value masked in a
    column and the same value found in free text get the same fake). Blank values are kept.

    ``accepts_integers`` lets digit-shaped operators (phone, postal code, ids) run on INTEGER columns too:
    the value is masked as its decimal string and parsed back.
    """

    accepts_integers: ClassVar[bool] = False

    def fake(self, value: str, key: bytes) -> str:
        """The deterministic fake for one original value."""
        return self.fake_many(pa.array([value], pa.string()), key)[0].as_py()

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        """Fakes for distinct, non-null, non-blank strings (a ``string`` array in, one out)."""
        return pa.array([self.fake(v, key) for v in values.to_pylist()], pa.string())

    def fake_strings(self, values: pa.Array, key: bytes) -> pa.Array:
        """Fakes for any non-null string array; blank (whitespace-only) values are kept."""
        values = vp.as_utf8(values)
        if len(values) == 0:
            return values
        blank = pc.equal(pc.utf8_trim_whitespace(values), "")
        if not pc.any(blank).as_py():
            return self.fake_many(values, key)
        keep = np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)
        idx = np.nonzero(~keep)[0]
        out = values.to_pylist()
        if len(idx):
            faked = self.fake_many(values.take(pa.array(idx)), key).to_pylist()
            for i, v in zip(idx.tolist(), faked, strict=True):
                out[i] = v
        return pa.array(out, pa.string())

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        if is_text_type(t):
            return self.fake_strings(values, ctx.key).cast(t)
        if self.accepts_integers and pa.types.is_integer(t):
            signed = pa.types.is_signed_integer(t)
            top = (1 << (t.bit_width - 1 if signed else t.bit_width)) - 1
            ints = values.to_pylist()
            faked = self.fake_strings(pa.array([str(abs(v)) for v in ints], pa.string()), ctx.key).to_pylist()
            return pa.array([self._wrap_int(v, f, top) for v, f in zip(ints, faked, strict=True)], type=t)
        raise _unsupported(self.name, t)

    @staticmethod
    def _wrap_int(value: int, fake: str, top: int) -> int:
        """Parse masked digits; wrap into the type's range (a 10-digit INT32 may permute past 2^31)."""
        sign = -1 if value < 0 else 1
        masked = int(re.sub(r"\D", "", fake) or "0")
        return sign * (masked if masked <= top else masked % (top + 1))


def _unsupported(operator: str, t: pa.DataType) -> MaskingError:
    return MaskingError(
        f"operator '{operator}' cannot mask a column of Arrow type {t}",
        hint="use a rule with an operator for this type (hash, null, fixed or keep)",
    )


# ------------------------------------------------------------------------------------------ operators


class KeepOperator(Operator):
    name = "keep"
    description = "leave the value unchanged"

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values


class NullOperator(Operator):
    name = "null"
    entity = "SECRET"
    description = "replace every value by NULL"

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return pa.nulls(len(values), type=values.type)

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return pa.nulls(len(values), type=values.type)


class FixedOperator(Operator):
    """Every non-null value becomes one configured constant.

    The constant is looked up in ``fixed_values`` as ``"table.column"``, then ``"column"``, then ``"*"``;
    otherwise strings get ``"REDACTED"``, numbers 0, booleans false and dates the epoch.
    """

    name = "fixed"
    description = "replace every non-null value by one constant (default 'REDACTED')"

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        value = self._lookup(ctx)
        if value is None:
            value = self._type_default(t)
        try:
            return pa.array([value] * len(values)).cast(t) if len(values) else values
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise MaskingError(
                f"the fixed value configured for column '{ctx.column}' does not fit its type {t}",
                hint="set fixed_values to a value of the column's type",
            ) from exc

    @staticmethod
    def _lookup(ctx: MaskContext) -> Any:
        for k in (f"{ctx.table}.{ctx.column}", ctx.column, "*"):
            if k and k in ctx.fixed_values:
                return ctx.fixed_values[k]
        return None

    @staticmethod
    def _type_default(t: pa.DataType) -> Any:
        if is_text_type(t):
            return "REDACTED"
        if pa.types.is_boolean(t):
            return False
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return 0
        if pa.types.is_date(t):
            return dt.date(1970, 1, 1)
        if pa.types.is_timestamp(t):
            return dt.datetime(1970, 1, 1)
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return b"REDACTED"
        raise _unsupported("fixed", t)


class HashOperator(Operator):
    """Keyed hash: 32 hex chars (128 bits) for strings, a non-negative integer of the same width for integers.

    Why integers stay integers: a hashed INTEGER column must still load into its INTEGER DDL (the integer
    is the first 64-bit lane of the hash of its decimal string, masked to the type's width).
    Fitting 32 chars into a shorter VARCHAR is the caller's job.
    """

    name = "hash"
    entity = "SECRET"
    description = "keyed hash, 32 hex chars (integers: same-width integer)"

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
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return pa.array(
                [keyed_digest(ctx.key, self.name, v.hex())[:16] for v in values.to_pylist()], type=t
            )
        raise _unsupported(self.name, t)

    def hex_many(self, values: pa.Array, key: bytes) -> pa.Array:
        """The 32-hex-char hashes of strings (free text uses it for custom entities mapped to ``hash``)."""
        return vp.hex_strings(self.lanes(values, key), 32)


class EmailOperator(StringOperator):
    """``first.last.<12 hex>@example.{com,net,org}``: readable, valid, reserved domain, practically unique."""

    name = "email"
    entity = "EMAIL_ADDRESS"
    description = "valid address on a reserved domain, unique per input"

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        """``first.last.<12 hex>@domain``: first slug by the low half of lane 0, last slug by its high half,
        the hex digits from bits 16-63 of lane 1 and the domain from its low 16 bits; written by one compiled
        loop (the picks, hex and two joins in Arrow took ~8 ms per 32k values, now ~1 ms)."""
        h = vp.prf_strings(key, [f"{self.name}/0", f"{self.name}/1"], values)
        pools = pool_arrays()
        (first, first_at), (last, last_at) = string_buffers(pools["first_slugs"]), string_buffers(pools["last_slugs"])
        domain, domain_at = string_buffers(_email_domains())
        data, offsets = _email_bytes(np.ascontiguousarray(h[:, 0]), np.ascontiguousarray(h[:, 1]), first, first_at,
                                     last, last_at, domain, domain_at, vp.HEX_DIGITS)
        return pa.StringArray.from_buffers(len(h), pa.py_buffer(offsets), pa.py_buffer(data))


@functools.lru_cache(maxsize=1)
def _email_domains() -> pa.Array:
    return pa.array(EMAIL_DOMAINS, pa.string())


@compiled
def _email_bytes(h0: np.ndarray, h1: np.ndarray, first: np.ndarray, first_at: np.ndarray, last: np.ndarray,
                 last_at: np.ndarray, domain: np.ndarray, domain_at: np.ndarray,
                 hex_digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The bytes and offsets of :meth:`EmailOperator.fake_many`'s addresses."""
    n = h0.shape[0]
    nf, nl, nd = np.uint64(first_at.shape[0] - 1), np.uint64(last_at.shape[0] - 1), np.uint64(domain_at.shape[0] - 1)
    picks = np.empty((n, 3), dtype=np.int64)
    offsets = np.empty(n + 1, dtype=np.int32)
    total = 0
    for i in range(n):
        f, la = np.int64(h0[i] % nf), np.int64((h0[i] >> np.uint64(32)) % nl)
        d = np.int64((h1[i] & np.uint64(0xFFFF)) % nd)
        picks[i, 0], picks[i, 1], picks[i, 2] = f, la, d
        offsets[i] = total
        total += (first_at[f + 1] - first_at[f]) + (last_at[la + 1] - last_at[la]) + (domain_at[d + 1] - domain_at[d])
        total += 15  # two dots, 12 hex digits, the @
    offsets[n] = total
    out = np.empty(total, dtype=np.uint8)
    at = 0
    for i in range(n):
        f, la, d = picks[i, 0], picks[i, 1], picks[i, 2]
        for k in range(first_at[f], first_at[f + 1]):
            out[at] = first[k]
            at += 1
        out[at] = 46  # .
        at += 1
        for k in range(last_at[la], last_at[la + 1]):
            out[at] = last[k]
            at += 1
        out[at] = 46
        at += 1
        x = h1[i] >> np.uint64(16)
        for k in range(12):
            out[at + k] = hex_digits[np.int64((x >> np.uint64(4 * (11 - k))) & np.uint64(0xF))]
        at += 12
        out[at] = 64  # @
        at += 1
        for k in range(domain_at[d], domain_at[d + 1]):
            out[at] = domain[k]
            at += 1
    return out, offsets


class PhoneOperator(StringOperator):
    """Every digit replaced (keyed permutation of the digit string); '+', spaces, dashes, parentheses kept."""

    name = "phone"
    entity = "PHONE_NUMBER"
    description = "same format and digit count, digits permuted"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values, letters=False)


class _PoolOperator(StringOperator):
    """A realistic value drawn from a seeded pool by a keyed hash of the original."""

    pool: ClassVar[str]
    follow_case: ClassVar[bool] = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        fake = pick_many(self.pool, vp.prf_strings(key, [self.name], values)[:, 0])
        return follow_case_many(values, fake) if self.follow_case else fake


class PersonNameOperator(StringOperator):
    name = "person_name"
    entity = "PERSON"
    description = "realistic 'First Last' from a seeded pool"

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        h = vp.prf_strings(key, [self.name], values)[:, 0]
        full = pc.binary_join_element_wise(
            pick_many("first_names", h), pick_many("last_names", h >> np.uint64(32)), " "
        )
        return follow_case_many(values, full)


class FirstNameOperator(_PoolOperator):
    name = "first_name"
    entity = "PERSON"
    description = "realistic first name from a seeded pool"
    pool = "first_names"


class LastNameOperator(_PoolOperator):
    name = "last_name"
    entity = "PERSON"
    description = "realistic last name from a seeded pool"
    pool = "last_names"


class StreetAddressOperator(_PoolOperator):
    name = "street_address"
    entity = "STREET_ADDRESS"
    description = "realistic street address from a seeded pool"
    pool = "streets"
    follow_case = False


class CityOperator(_PoolOperator):
    name = "city"
    entity = "LOCATION"
    description = "realistic city name from a seeded pool"
    pool = "cities"


class ShapeOperator(StringOperator):
    """Digits to digits, letters to letters, everything else kept: for ids whose format matters."""

    name = "shape"
    entity = None
    description = "same shape: digits->digits, letters->letters, punctuation kept"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values)


class DigitsOperator(StringOperator):
    """Digits permuted (keyed), everything else kept: ids with a fixed prefix (``CUST-12345678``)."""

    name = "digits"
    entity = None
    description = "digits permuted, letters and punctuation kept (unique in, unique out)"
    accepts_integers = True

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        return vp.shape_fakes(key, self.name, values, letters=False)


class PostalCodeOperator(ShapeOperator):
    name = "postal_code"
    entity = "POSTAL_CODE"
    description = "same shape postal code"


class NationalIdOperator(ShapeOperator):
    name = "national_id"
    entity = "NATIONAL_ID"
    description = "same shape id (SSN, passport, tax id, ...)"


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Luhn check digit (ASCII) for each row of an (n, k) ASCII digit matrix."""
    d = body.astype(np.int64) - 48
    doubled = d[:, ::-1][:, 0::2] * 2
    doubled -= 9 * (doubled > 9)
    total = doubled.sum(axis=1) + d[:, ::-1][:, 1::2].sum(axis=1)
    return ((10 - total % 10) % 10 + 48).astype(np.uint8)


class CreditCardOperator(StringOperator):
    """A Luhn-valid number of the same length on the test BIN 400000; separators kept.

    Values with fewer than 12 digits (e.g. already-truncated ``"**** 1234"``) get permuted digits.
    """

    name = "credit_card"
    entity = "CREDIT_CARD"
    description = "Luhn-valid, same length, test BIN 400000, separators kept"
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


_IBAN_FORM = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$"


def iban_check_digits_many(country: np.ndarray, bban: np.ndarray) -> np.ndarray:
    """ISO 13616 check digits (ASCII, (n, 2)) for (n, 2) country and (n, k) BBAN upper-case matrices."""
    return _iban_check_digits(np.ascontiguousarray(country, dtype=np.uint8), np.ascontiguousarray(bban, dtype=np.uint8))


@compiled
def _iban_check_digits(country: np.ndarray, bban: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """mod 97 of BBAN + country + "00", digits as digits and letters as 10..35 (A=10), per row."""
    n, k = bban.shape
    out = np.empty((n, 2), dtype=np.uint8)
    for i in range(n):
        r = 0
        for j in range(k + 4):
            c = bban[i, j] if j < k else (country[i, j - k] if j < k + 2 else 48)
            r = (r * 10 + (c - 48)) % 97 if c <= 57 else (r * 100 + (c - 55)) % 97
        check = 98 - r
        out[i, 0] = check // 10 + 48
        out[i, 1] = check % 10 + 48
    return out


class IbanOperator(StringOperator):
    """Same country and length, BBAN shape-preserved, valid mod-97 check digits; spaces kept."""

    name = "iban"
    entity = "IBAN_CODE"
    description = "same country and length, valid check digits"

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


class IpAddressOperator(StringOperator):
    """IPv4 into 10.0.0.0/8, IPv6 into the documentation prefix 2001:db8::/32; anything else shape-kept."""

    name = "ip_address"
    entity = "IP_ADDRESS"
    description = "IPv4 -> 10.0.0.0/8, IPv6 -> 2001:db8::/32"

    def fake(self, value: str, key: bytes) -> str:
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            return shape_preserve(key, self.name, value)
        d = keyed_digest(key, self.name, ip.compressed)
        if ip.version == 4:
            return str(ipaddress.IPv4Address((10 << 24) | int.from_bytes(d[:3], "big")))
        return str(ipaddress.IPv6Address((0x20010DB8 << 96) | int.from_bytes(d[:12], "big")))


_UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_ISO_DATE = re.compile(r"^(\d{4})([-/])(\d{2})\2(\d{2})(.*)$", re.S)
_DMY_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})(.*)$", re.S)


class DateOfBirthOperator(Operator):
    """Shift a date by a stable, non-zero offset of up to ±180 days derived from the HMAC of the date.

    Why derived from the date itself: the same birth date shifts the same way in every table and run, and
    ages stay realistic. Works on date32/date64/timestamp arrays and on ISO (``YYYY-MM-DD...``) or
    ``DD.MM.YYYY`` strings; unparseable strings are shape-preserved.
    """

    name = "date_of_birth"
    entity = "DATE_OF_BIRTH"
    description = "date shifted by a stable per-value offset in ±180 days"

    def offset_days(self, day: dt.date, key: bytes) -> int:
        """The stable shift for one calendar day (never 0)."""
        r = _keyed_int(key, self.name, day.isoformat(), 2 * DOB_MAX_SHIFT_DAYS)
        return r - DOB_MAX_SHIFT_DAYS if r < DOB_MAX_SHIFT_DAYS else r - DOB_MAX_SHIFT_DAYS + 1

    def shift(self, day: dt.date, key: bytes) -> dt.date:
        try:
            return day + dt.timedelta(days=self.offset_days(day, key))
        except OverflowError:
            return day - dt.timedelta(days=abs(self.offset_days(day, key)))

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        if pa.types.is_date(t):
            return pa.array([self.shift(v, ctx.key) for v in values.to_pylist()], type=t)
        if pa.types.is_timestamp(t):
            as_int = values.cast(pa.int64())
            days = [self.offset_days(d, ctx.key) for d in values.cast(pa.date32()).to_pylist()]
            shifted = pc.add(as_int, pc.multiply(pa.array(days, pa.int64()), _UNITS_PER_DAY[t.unit]))
            return shifted.cast(t)
        if is_text_type(t):
            return pa.array([self.fake_text(v, ctx.key) for v in values.to_pylist()], type=t)
        raise _unsupported(self.name, t)

    def fake_text(self, value: str, key: bytes) -> str:
        """Shift a date written as text, keeping its format and any time part."""
        m = _ISO_DATE.match(value.strip())
        try:
            if m:
                y, sep, mo, d, rest = m.groups()
                new = self.shift(dt.date(int(y), int(mo), int(d)), key)
                return f"{new.year:04d}{sep}{new.month:02d}{sep}{new.day:02d}{rest}"
            m = _DMY_DATE.match(value.strip())
            if m:
                d, mo, y, rest = m.groups()
                new = self.shift(dt.date(int(y), int(mo), int(d)), key)
                return f"{new.day:02d}.{new.month:02d}.{new.year:04d}{rest}"
        except ValueError:
            pass
        return shape_preserve(key, self.name, value) if value.strip() else value


class RedactTextOperator(Operator):
    """Free text: Presidio finds PII spans and each span is replaced by a deterministic fake of its kind."""

    name = "redact_text"
    entity = None
    description = "Presidio span redaction of free text"

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        if not is_text_type(values.type):
            raise _unsupported(self.name, values.type)
        if ctx.text_redactor is None:
            raise MaskingError(
                f"column '{ctx.column}' uses redact_text but the Masker has no TextRedactor",
                hint="create Masker(key, text_redactor=TextRedactor(TextAnalyzer(nlp_model), key))",
            )
        return pa.array(ctx.text_redactor.redact_many(values.to_pylist()), type=values.type)


class JsonPiiOperator(Operator):
    """JSON documents: only the leaves holding personal data are faked (see :mod:`json_pii`)."""

    name = "json_pii"
    entity = None
    description = "PII leaves in JSON faked (by key name, then Presidio); keys, structure, other values kept"

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        if not is_text_type(values.type):
            raise _unsupported(self.name, values.type)
        if ctx.text_redactor is None:
            raise MaskingError(
                f"column '{ctx.column}' uses json_pii but the Masker has no TextRedactor",
                hint="create Masker(key, text_redactor=TextRedactor(TextAnalyzer(nlp_model), key))",
            )
        from hfit_dagster.masking.json_pii import mask_json_values

        return pa.array(mask_json_values(values.to_pylist(), ctx.key, ctx.text_redactor), type=values.type)


TEXT_OPERATORS = frozenset({"redact_text", "json_pii"})  # run after the row's own values are substituted


def _rows_naming_own_values(texts: pa.Array, values: list[pa.Array]) -> np.ndarray:
    """Per row: does the text contain (case-insensitively) one of the same row's ``values``?

    A superset of what :func:`row_context.find_known_spans` accepts (it also wants whole words and a
    minimum length), computed over the batch's Arrow buffers by a compiled loop: ASCII letters compared
    case-insensitively, byte by byte (numpy's elementwise ``strings.find`` needed every text and value as a
    Python string first: ~0.7 s for the bench's 1M customers).
    """
    present = np.asarray(texts.is_valid())
    if not present.all():  # only rows with a text can name anything (notes are often NULL): look at those only
        rows = np.flatnonzero(present)
        hits = np.zeros(len(texts), dtype=bool)
        if len(rows):
            take = pa.array(rows)
            hits[rows] = _rows_naming_own_values(texts.take(take), [v.take(take) for v in values])
        return hits
    usable = [np.asarray(pc.fill_null(pc.greater_equal(pc.utf8_length(raw), MIN_CONTEXT_LENGTH), False))
              for raw in values]
    any_value = np.logical_or.reduce(usable) if usable else np.zeros(len(texts), dtype=bool)
    hits = np.zeros(len(texts), dtype=bool)
    if any_value.any():
        text_data, text_offsets = string_buffers(texts)
        for value, ok in zip(values, usable, strict=True):
            if ok.any():
                _rows_containing(text_data, text_offsets, *string_buffers(value), ok, hits)
    # Arrow's and Python's Unicode lower-casing differ (final sigma, dotted I, newer tables): non-ASCII text
    # goes to the Python check whenever its row has a value to look for.
    non_ascii = ~np.asarray(pc.fill_null(pc.string_is_ascii(texts), True))
    return hits | (non_ascii & any_value)


@compiled
def _rows_containing(text: np.ndarray, text_offsets: np.ndarray, value: np.ndarray, value_offsets: np.ndarray,
                     usable: np.ndarray, hits: np.ndarray) -> None:  # pragma: no cover - compiled
    """``hits[i] |= text i contains value i``, for usable rows; ASCII letters compared case-insensitively."""
    for i in range(hits.shape[0]):
        if hits[i] or not usable[i]:
            continue
        start, stop = text_offsets[i], text_offsets[i + 1]
        v_start, size = value_offsets[i], value_offsets[i + 1] - value_offsets[i]
        if size == 0 or size > stop - start:
            continue
        first = value[v_start] + 32 if 65 <= value[v_start] <= 90 else value[v_start]
        for at in range(start, stop - size + 1):
            c = text[at] + 32 if 65 <= text[at] <= 90 else text[at]
            if c != first:
                continue
            same = True
            for k in range(1, size):
                a = text[at + k] + 32 if 65 <= text[at + k] <= 90 else text[at + k]
                b = value[v_start + k] + 32 if 65 <= value[v_start + k] <= 90 else value[v_start + k]
                if a != b:
                    same = False
                    break
            if same:
                hits[i] = True
                break


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

# Which operator fakes a span of a Presidio entity found inside free text. Entities not listed here are
# replaced by an ``<ENTITY>`` tag.
ENTITY_OPERATORS: dict[str, str] = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "PERSON": "person_name",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "LOCATION": "city",
    "STREET_ADDRESS": "street_address",
    "US_SSN": "national_id",
    "US_ITIN": "national_id",
    "US_PASSPORT": "national_id",
    "US_DRIVER_LICENSE": "national_id",
    "US_BANK_NUMBER": "national_id",
    "UK_NHS": "national_id",
    "UK_NINO": "national_id",
    "MEDICAL_LICENSE": "national_id",
}


def get_operator(name: str) -> Operator:
    """The operator registered under ``name``; a MaskingError listing the known ones otherwise."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise MaskingError(
            f"unknown masking operator '{name}'",
            hint="known operators: " + ", ".join(sorted(OPERATORS)),
        ) from None


def fake_for_entity(entity: str, text: str, key: bytes, entity_operators: Mapping[str, str] | None = None) -> str:
    """The deterministic replacement of a PII span of ``entity`` found in free text."""
    return fakes_for_spans([(entity, text)], key, entity_operators)[0]


def span_operator(entity: str, entity_operators: Mapping[str, str] | None = None) -> str | None:
    """The operator that fakes a span of ``entity`` in free text (custom entities first), or None (tag)."""
    if entity_operators and entity in entity_operators:
        return entity_operators[entity]
    return ENTITY_OPERATORS.get(entity)


def fakes_for_spans(
    spans: list[tuple[str, str]], key: bytes, entity_operators: Mapping[str, str] | None = None
) -> list[str]:
    """Fakes for many (entity, span text) pairs: one vectorized call per operator over the distinct spans.

    Entities without a string operator (or mapped to ``null``/``fixed``) become an ``<ENTITY>`` tag.
    """
    out: list[str] = [f"<{entity}>" for entity, _ in spans]
    by_operator: dict[str, dict[str, list[int]]] = {}
    for i, (entity, text) in enumerate(spans):
        name = span_operator(entity, entity_operators)
        if name is not None and text.strip():
            by_operator.setdefault(name, {}).setdefault(text, []).append(i)
    for name, positions in by_operator.items():
        op = OPERATORS.get(name)
        distinct = pa.array(list(positions), pa.string())
        if isinstance(op, StringOperator):
            fakes = op.fake_strings(distinct, key).to_pylist()
        elif isinstance(op, HashOperator):
            fakes = op.hex_many(distinct, key).to_pylist()
        elif isinstance(op, DateOfBirthOperator):
            fakes = op.mask_distinct(distinct, MaskContext(key)).to_pylist()
        else:
            continue
        for fake, idxs in zip(fakes, positions.values(), strict=True):
            for i in idxs:
                out[i] = fake
    return out


# --------------------------------------------------------------------------------------------- masker


class Masker:
    """Applies operators (by name) to Arrow arrays and record batches with one secret key.

    ``text_redactor`` is needed only for ``redact_text`` columns; build it with the same key so fakes in
    free text match fakes in structured columns. ``fixed_values`` configures the ``fixed`` operator
    (``"table.column"`` / ``"column"`` / ``"*"`` → value).
    """

    def __init__(
        self,
        key: bytes,
        text_redactor: TextRedactor | None = None,
        fixed_values: dict | None = None,
    ) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) < 16:
            raise MaskingError(
                "the masking key must be at least 16 bytes",
                hint="configure a long random secret, e.g. the output of `openssl rand -hex 32`",
            )
        self.key = bytes(key)
        if text_redactor is not None and text_redactor.key != self.key:
            raise MaskingError(
                "the TextRedactor uses a different masking key than the Masker",
                hint="build both with the same key so fakes in free text match fakes in columns",
            )
        self.text_redactor = text_redactor
        self.fixed_values: dict[str, Any] = dict(fixed_values or {})

    def mask_array(
        self,
        operator: str,
        values: pa.Array | pa.ChunkedArray,
        *,
        table: str | None = None,
        column: str | None = None,
    ) -> pa.Array:
        """Mask one column with a named operator; same length, same Arrow type, NULLs stay NULL."""
        op = get_operator(operator)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
        ctx = MaskContext(self.key, self.text_redactor, self.fixed_values, table, column)
        if pa.types.is_dictionary(values.type):
            return self._mask_dictionary(op, values, ctx)
        out = op.mask(values, ctx)
        return out if out.type == values.type else out.cast(values.type)

    @staticmethod
    def _mask_dictionary(op: Operator, values: pa.DictionaryArray, ctx: MaskContext) -> pa.Array:
        if isinstance(op, KeepOperator):
            return values
        if isinstance(op, NullOperator):
            return pa.nulls(len(values), type=values.type)
        dictionary = values.dictionary
        masked = op.mask(dictionary, ctx) if len(dictionary) else dictionary
        return pa.DictionaryArray.from_arrays(values.indices, masked)

    def mask_batch(self, plan: TableMaskingPlan, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Mask every column of a batch as the plan says; a column missing from the plan is an error.

        Why an error and not "keep": deny by default. A column the planner never saw (schema drift) must
        not slip through unmasked.
        """
        return self.mask_text_columns(plan, batch, self.mask_structured_columns(plan, batch))

    def mask_structured_columns(self, plan: TableMaskingPlan, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """The first half of :meth:`mask_batch`: every column but free text (``redact_text``, ``json_pii``).

        The halves can run on two threads for consecutive batches (staging does): the structured columns
        are mostly compiled work without the GIL, free text mostly Python.
        """
        masked: dict[str, pa.Array] = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            decision = plan.decisions.get(name)
            if decision is None:
                raise MaskingError(
                    f"column '{name}' of table '{plan.table}' has no masking decision",
                    hint="rebuild the masking plan from the current schema",
                )
            if decision.operator not in TEXT_OPERATORS:
                masked[name] = self._mask_column(plan, name, decision.operator, column)
        return masked

    def mask_text_columns(self, plan: TableMaskingPlan, batch: pa.RecordBatch,
                          masked: dict[str, pa.Array]) -> pa.RecordBatch:
        """The second half of :meth:`mask_batch`: free text, knowing the row's own values and their fakes
        (``masked``, from :meth:`mask_structured_columns` of the same batch); the masked batch."""
        text_columns = [n for n in batch.schema.names if plan.decisions[n].operator in TEXT_OPERATORS]
        if text_columns:
            context = [n for n in batch.schema.names
                       if plan.decisions[n].operator in CONTEXT_OPERATORS
                       and pa.types.is_string(batch.schema.field(n).type)]
            for name in text_columns:
                column = batch.column(name)
                operator = plan.decisions[name].operator
                if context and pa.types.is_string(column.type) and column.null_count < len(column):
                    masked[name] = self._mask_text_in_context(plan, name, operator, column,
                                                              [(batch.column(n), masked[n], plan.decisions[n].operator)
                                                               for n in context])
                else:
                    masked[name] = self._mask_column(plan, name, operator, column)
        arrays = [masked[name] for name in batch.schema.names]
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _mask_text_in_context(self, plan: TableMaskingPlan, name: str, operator: str, column: pa.Array,
                              context: list[tuple[pa.Array, pa.Array, str]]) -> pa.Array:
        """A free-text column masked with its row's own values known (see :mod:`row_context`).

        A vectorized pre-filter finds the rows whose text contains one of their own values; the others
        take the column path (distinct texts, cached). Only the rows that name their values are looked at
        one by one, with their context values taken out as Python strings.
        """
        hits = _rows_naming_own_values(column, [original for original, _, _ in context])
        if not hits.any():
            return self._mask_column(plan, name, operator, column)
        mask = pa.array(hits)
        others = self._mask_column(plan, name, operator, pc.if_else(mask, pa.scalar(None, column.type), column))
        rows = pa.array(np.flatnonzero(hits))
        if operator == "redact_text" and self.text_redactor is not None:
            named = pa.array(self.text_redactor.redact_rows_in_context(
                column.take(rows), [(original.take(rows), fake.take(rows), op) for original, fake, op in context]),
                type=column.type)
        else:
            texts = column.take(rows).to_pylist()
            triples = [list(zip(original.take(rows).to_pylist(), fake.take(rows).to_pylist(), [op] * len(rows),
                                strict=True)) for original, fake, op in context]
            per_row = [list(row) for row in zip(*triples, strict=True)]
            substituted = pa.array(substitute_row_values(texts, per_row), type=column.type)
            named = self._mask_column(plan, name, operator, substituted)
        return pc.replace_with_mask(others, mask, named.cast(others.type))

    def _mask_column(self, plan: TableMaskingPlan, name: str, operator: str, column: pa.Array) -> pa.Array:
        try:
            return self.mask_array(operator, column, table=plan.table, column=name)
        except MaskingError as exc:
            if name in exc.message:
                raise
            raise MaskingError(f"{plan.table}.{name}: {exc.message}", hint=exc.hint) from exc
