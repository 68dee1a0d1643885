"""The email operator: ``first.last.<12 hex>@example.{com,net,org}``, readable, valid, practically unique."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import string_buffers
from hfit_dagster.errors import MaskingError
from hfit_dagster.jit import compiled
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.pools import name_parts, name_picks, pool_arrays

# Reserved for documentation (RFC 2606): a fake address can never reach a real mailbox.
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")
_DOMAIN_LENGTH = len(EMAIL_DOMAINS[0])  # all of the same length: a shortened address has one budget per column
assert all(len(d) == _DOMAIN_LENGTH for d in EMAIL_DOMAINS)


class EmailOperator(StringOperator):
    """``first.last.<12 hex>@domain``: the name pair of the person the address names, the hex digits from bits
    16-63 of the value's keyed lane 1 and the domain from its low 16 bits. A 48-bit suffix: a collision needs
    ~10^10 distinct emails.

    The name pair is the fake of the name the local part is built from: its first word (a run of two letters or
    more, before any ``+tag``) picks the first slug as ``first_name`` picks that name's fake, its last word the
    last slug as ``last_name`` does; so ``jane.doe42@mail.com`` of the row ``Jane Doe`` becomes
    ``<fake first>.<fake last>.<hex>@example.net``, the slugs of the row's fake name, while the fake stays a
    function of the address alone (the same in every table). A local part of one word takes its last slug, and
    one without a word both, from the keyed lane 0 (low half first, high half last).

    ``compiled`` writes the addresses with one compiled loop (:func:`_email_bytes`); ``compiled=False`` builds
    them with Arrow kernels (:meth:`fake_many_arrow`, the reference: picks, hex and two joins). Both give the
    same strings.

    In a column shorter than an address (``email VARCHAR(24)``) :meth:`shorten` keeps the keyed hex suffix and
    the domain and cuts the name pair: still a valid address on a reserved domain, still deterministic.
    """

    name = "email"

    def __init__(self, *, compiled: bool = True) -> None:
        self.compiled = compiled

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        values = vp.as_utf8(values)
        h = vp.prf_strings(key, [f"{self.name}/0", f"{self.name}/1"], values)
        first, last = name_parts(values, local_part=True)
        picks = np.stack([name_picks(key, "first_name", "first_names", first, h[:, 0]),
                          name_picks(key, "last_name", "last_names", last, h[:, 0] >> np.uint64(32))], axis=1)
        return self.fake_many_compiled(picks, h[:, 1]) if self.compiled else self.fake_many_arrow(picks, h[:, 1])

    def shorten(self, fakes: pa.Array, max_length: int) -> pa.Array:
        """Addresses of at most ``max_length`` characters: ``<name prefix>.<12 hex>@domain`` with as much of the
        name pair as fits (none from 24 characters down, ``<12 hex>@example.com``), then fewer hex digits.

        Uniqueness: from 24 characters up the 48-bit suffix is kept (a collision somewhere has even odds among
        ~20 million distinct emails, 0.2% among one million); below, each character less drops 4 bits
        (``VARCHAR(20)``: 8 hex digits, 32 bits, even odds among ~77,000 distinct emails). Fewer than
        13 characters cannot hold an address on a reserved domain: a MaskingError.
        """
        budget = max_length - 1 - _DOMAIN_LENGTH  # characters of the local part
        if budget < 1:
            raise MaskingError(
                f"a column of at most {max_length} characters cannot hold an email address on a reserved domain",
                hint="mask this column with hash or shape in a masking rule",
            )
        parts = pc.extract_regex(fakes, r"^(?P<names>.*)\.(?P<suffix>[0-9a-f]{12})@(?P<domain>[^@]+)$")
        names, suffix, domain = parts.field("names"), parts.field("suffix"), parts.field("domain")
        if budget <= 12:
            local = pc.utf8_slice_codeunits(suffix, 0, budget)
        else:
            prefix = pc.utf8_rtrim(pc.utf8_slice_codeunits(names, 0, budget - 13), characters=".-_")
            local = pc.if_else(pc.equal(prefix, ""), suffix, pc.binary_join_element_wise(prefix, suffix, "."))
        return pc.binary_join_element_wise(local, domain, "@")

    @staticmethod
    def fake_many_compiled(picks: np.ndarray, h1: np.ndarray) -> pa.Array:
        """The addresses for the slug indices ``picks`` (n, 2: first, last) and keyed lane ``h1``, written by one
        compiled loop."""
        pools = pool_arrays()
        (first, first_at), (last, last_at) = string_buffers(pools["first_slugs"]), string_buffers(pools["last_slugs"])
        domain, domain_at = string_buffers(_email_domains())
        data, offsets = _email_bytes(np.ascontiguousarray(picks[:, 0]), np.ascontiguousarray(picks[:, 1]),
                                     np.ascontiguousarray(h1), first, first_at, last, last_at, domain, domain_at,
                                     vp.HEX_DIGITS)
        return pa.StringArray.from_buffers(len(h1), pa.py_buffer(offsets), pa.py_buffer(data))

    @staticmethod
    def fake_many_arrow(picks: np.ndarray, h1: np.ndarray) -> pa.Array:
        """The addresses for the slug indices ``picks`` (n, 2) and keyed lane ``h1``, built with Arrow kernels (the
        reference construction)."""
        suffix = vp.matrix_to_strings(vp.int_to_hex(h1 >> np.uint64(16), 12))
        domains = _email_domains()
        domain = domains.take(pa.array((h1 & np.uint64(0xFFFF)) % np.uint64(len(domains))))
        pools = pool_arrays()
        local = pc.binary_join_element_wise(pools["first_slugs"].take(pa.array(picks[:, 0])),
                                            pools["last_slugs"].take(pa.array(picks[:, 1])), suffix, ".")
        return pc.binary_join_element_wise(local, domain, "@")


@functools.lru_cache(maxsize=1)
def _email_domains() -> pa.Array:
    return pa.array(EMAIL_DOMAINS, pa.string())


@compiled
def _email_bytes(first_pick: np.ndarray, last_pick: np.ndarray, h1: np.ndarray, first: np.ndarray,
                 first_at: np.ndarray, last: np.ndarray, last_at: np.ndarray, domain: np.ndarray, domain_at: np.ndarray,
                 hex_digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The bytes and offsets of :meth:`EmailOperator.fake_many_compiled`'s addresses."""
    n = h1.shape[0]
    nd = np.uint64(domain_at.shape[0] - 1)
    picks = np.empty((n, 3), dtype=np.int64)
    offsets = np.empty(n + 1, dtype=np.int32)
    total = 0
    for i in range(n):
        f, la = first_pick[i], last_pick[i]
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
