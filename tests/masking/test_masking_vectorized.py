"""The vectorized keyed PRF behind the operators: correct SipHash, batch-independent, permutations stay unique."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hfit_dagster.masking import Masker
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.emails import EMAIL_DOMAINS, EmailOperator
from hfit_dagster.masking.operators.keyed import shape_preserve
from hfit_dagster.masking.operators.pools import pool_arrays

M64 = (1 << 64) - 1


def _siphash24(k0: int, k1: int, words: list[int]) -> int:
    """Reference SipHash-2-4 over message words (the last one the final block), straight from the paper."""

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & M64

    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & M64
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & M64
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & M64
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & M64
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    for m in words:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _reference_prf(secret: bytes, label: str, value: str) -> int:
    """hash_rows' message: UTF-8 bytes zero-padded to the width class, then one word with the byte length."""
    data = value.encode()
    width = int(vp.width_class(np.array([len(data)]))[0])
    padded = data.ljust(width, b"\0")
    words = [int.from_bytes(padded[i : i + 8], "little") for i in range(0, width, 8)] + [len(data)]
    return _siphash24(*vp.sip_key(secret, label), words)


def test_siphash_matches_the_published_test_vector() -> None:
    """SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e -> a129ca6149be45e5."""
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
    msg = bytes(range(15))
    words = np.array([[int.from_bytes(msg[:8], "little"),
                       (15 << 56) | int.from_bytes(msg[8:], "little")]], dtype=np.uint64)  # fmt: skip
    assert int(vp.siphash_words(key, words)[0]) == 0xA129CA6149BE45E5
    assert _siphash24(*key, [int(w) for w in words[0]]) == 0xA129CA6149BE45E5


def test_string_prf_equals_the_scalar_reference_for_any_text(key: bytes) -> None:
    """Unicode, empty, long and odd-length strings hash as the reference construction says, in one pass."""
    rnd = random.Random(5)
    alphabet = "abcXYZ09 @.-éß€😀\t"
    values = ["", "a", "x" * 8, "y" * 9, "z" * 5000] + [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 90))) for _ in range(400)
    ]
    lanes = vp.prf_strings(key, ["t/0", "t/1"], pa.array(values))
    for i, value in enumerate(values):
        assert int(lanes[i, 0]) == _reference_prf(key, "t/0", value)
        assert int(lanes[i, 1]) == _reference_prf(key, "t/1", value)


@pytest.mark.parametrize(
    "operator", ["email", "phone", "person_name", "first_name", "city", "street_address", "postal_code",
                 "national_id", "shape", "digits", "credit_card", "iban", "hash"]
)  # fmt: skip
def test_a_fake_does_not_depend_on_the_rest_of_the_batch(key: bytes, operator: str) -> None:
    """Determinism across batches and tables: a value gets the same fake alone, in a small batch or in a large
    mixed one (lengths, digit counts, width classes and non-ASCII values all vary)."""
    rnd = random.Random(operator)
    base = ["+1 555 010 2233", "maria.lopez@example.org", "SW1A 1AA", "DE89 3704 0044 0532 0130 00",
            "4111 1111 1111 1111", "Straße 12b", "Maria Lopez", "123-45-6789", "x" * 70 + "1234"]  # fmt: skip
    noise = [f"{rnd.randrange(10**rnd.randrange(1, 30))}-{'ab' * rnd.randrange(5)}" for _ in range(300)]
    masker = Masker(key)
    alone = [masker.mask_array(operator, pa.array([v]))[0].as_py() for v in base]
    mixed = masker.mask_array(operator, pa.array(noise[:150] + base + noise[150:])).to_pylist()[150 : 150 + len(base)]
    assert alone == mixed


def test_digit_permutation_is_a_bijection_for_every_length(key: bytes) -> None:
    """Unique in, unique out: every 1- to 5-digit string maps to a distinct string of the same length."""
    for n in range(1, 6):
        values = pa.array([f"{i:0{n}d}" for i in range(10**n)])
        out = vp.shape_fakes(key, "phone", values, letters=False).to_pylist()
        assert len(set(out)) == 10**n
        assert all(len(v) == n and v.isdigit() for v in out)


def test_compiled_digit_permutation_equals_the_grouped_one(key: bytes) -> None:
    """Phones are permuted by one compiled pass over the string bytes; every fake (any digit count, the
    two-word and the digit-stream lengths, separators, non-ASCII neighbours, a sliced array) is the one the
    grouped Feistel path gives, so existing packages' fakes do not change."""
    rnd = random.Random(5)
    separators = ["-", " ", "(", "+", "é", "日", "x"]
    values = []
    for count in [0, 1, 2, 3, 7, 13, 16, 17, 31, 32, 33, 35, 36, 37, 45] * 40:
        text = ""
        for _ in range(count):
            text += str(rnd.randrange(10)) + (rnd.choice(separators) if rnd.random() < 0.2 else "")
        values.append(text)
    array = pa.array(values, pa.string()).slice(3)
    grouped = vp.map_digits(array, vp.permutation_mapper(key, "phone")).to_pylist()
    assert vp.permute_digits(key, "phone", array).to_pylist() == grouped
    assert vp.permute_digits(key, "phone", array).to_pylist() != array.to_pylist()


def test_compiled_emails_are_the_documented_construction(key: bytes) -> None:
    """An email fake is ``first.last.<12 hex>@domain``: the slugs of the fakes ``first_name`` and ``last_name``
    give the first and last word of the local part (runs of two bytes or more of ASCII letters and non-ASCII
    characters; else picked by the value's keyed lane 0), the suffix and the domain from lane 1; the compiled
    writer gives exactly what the construction in Arrow gives."""
    names = ["jane.doe", "Omar_Haddad", "li-wei", "x", "12", "zoë.ødegård", "j.r.tolkien"]
    values = pa.array([f"{names[i % len(names)]}{i}+tag{i % 3}@corp{i % 7}.example" for i in range(3000)]
                      + ["ü@x.y", "a", "person7@corp.example"])
    h = vp.prf_strings(key, ["email/0", "email/1"], values)
    suffix = vp.matrix_to_strings(vp.int_to_hex(h[:, 1] >> np.uint64(16), 12))
    domain = pa.array(EMAIL_DOMAINS).take(pa.array((h[:, 1] & np.uint64(0xFFFF)) % np.uint64(len(EMAIL_DOMAINS))))
    pools = pool_arrays()
    picks = []
    for i, value in enumerate(values.to_pylist()):
        local = re.split(r"[+@]", value, maxsplit=1)[0].lower()
        words = [w for w in re.findall(r"[a-z\u0080-\U0010ffff]+", local) if len(w.encode()) > 1]
        pair = []
        for label, pool, word, lane in (("first_name", "first_names", words[0] if words else None, h[i, 0]),
                                        ("last_name", "last_names", words[-1] if len(words) > 1 else None,
                                         h[i, 0] >> np.uint64(32))):
            if word is not None:
                lane = vp.prf_strings(key, [label], pa.array([word]))[0, 0]
            at = int(lane % np.uint64(len(pools[pool])))
            if word is not None and pools[pool][at].as_py().lower() == word:  # never the name itself
                at = (at + 1) % len(pools[pool])
            pair.append(at)
        picks.append(pair)
    first_at, last_at = (pa.array([p[j] for p in picks]) for j in (0, 1))
    local = pc.binary_join_element_wise(pools["first_slugs"].take(first_at), pools["last_slugs"].take(last_at),
                                        suffix, ".")
    expected = pc.binary_join_element_wise(local, domain, "@")
    assert EmailOperator().fake_many(values, key).to_pylist() == expected.to_pylist()
    assert EmailOperator(compiled=False).fake_many(values, key).to_pylist() == expected.to_pylist()


def test_unique_phones_stay_unique_at_scale(key: bytes) -> None:
    """100k distinct phone numbers of mixed formats give 100k distinct fakes of the same formats."""
    formats = ["+49 30 {:07d}", "(212) 555-{:04d}", "+1 555 010 {:04d}", "0{:09d}"]
    values = [formats[i % 4].format(i // 4) for i in range(100_000)]
    out = Masker(key).mask_array("phone", pa.array(values)).to_pylist()
    assert len(set(out)) == len(set(values))
    assert all(len(a) == len(b) for a, b in zip(values, out, strict=True))


def test_shape_keeps_case_punctuation_and_non_ascii_positions(key: bytes) -> None:
    """Letters stay letters in the same case, digits stay digits; a non-ASCII letter becomes a letter too."""
    for value in ["SW1A 1AA", "ab-12-CD", "Straße 12b", "ÅÄÖ-9"]:
        fake = shape_preserve(key, "shape", value)
        assert len(fake) == len(value) and fake != value
        for a, b in zip(value, fake, strict=True):
            assert a.isdigit() == b.isdigit()
            assert a.isalpha() == b.isalpha()
            if a.isalpha():
                assert a.isupper() == b.isupper()
            if not a.isalnum():
                assert a == b
