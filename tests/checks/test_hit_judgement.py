"""What a hit of the leak check is: a leak (kept column, the row's or entity's own original in free text, a value
no operator can write) or a collision (a fake that equals somebody else's original), judged from digests."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from hfit_dagster.checks.fake_spaces import operator_space
from hfit_dagster.checks.hit_judgement import ColumnRole, judge_column, unchanged_leaks
from hfit_dagster.checks.leak import LeakCollector, digits_joined
from hfit_dagster.checks.token_hashes import pattern_filter_bits
from hfit_dagster.masking.operators.pools import fake_pools


def _searched(operator: str, originals: list[str], entities: list[int] | None = None):
    leaks = LeakCollector()
    rows = None if entities is None else np.array(entities, dtype=np.uint64)[:, None]
    leaks.add_column("customers", "contact", operator, pa.array(originals, pa.string()), rows)
    return leaks.searched()


def _judge(searched, role: ColumnRole, values: list[str], entities: list[int] | None = None,
           fakes: list[list[str]] | None = None, operator: str = "phone"):
    column = pa.array(values, pa.string())
    rows = np.array(entities or [0] * len(values), dtype=np.uint64)[:, None]

    def row_fakes(at: np.ndarray) -> np.ndarray:
        from hfit_dagster.checks.token_hashes import sequence_hashes, tokens_of

        out = np.zeros((at.size, 1), dtype=np.uint64)
        for i, row in enumerate(at.tolist()):
            texts = (fakes or [[]] * len(values))[row]
            if texts:
                out[i, 0] = sequence_hashes(tokens_of(digits_joined(pa.array(texts[:1]))), 1)[0]  # as the scan reads
        return out

    return judge_column(searched, "t.c", role, pa.array(sorted(set(values))), column, lambda at: rows[at],
                        row_fakes, operator_space(operator))


def test_an_original_in_a_kept_column_is_a_leak_named_by_columns() -> None:
    searched = _searched("phone", ["555-0123"])
    verdict = _judge(searched, ColumnRole.KEPT, ["call 555-0123"])
    assert verdict.leaks == {"customers.contact in t.c (kept column)"} and not verdict.collisions


def test_a_masked_value_equal_to_an_original_is_a_collision_unless_no_fake_can_be_it() -> None:
    """Permuted phone digits may equal somebody's phone; an email on a real domain is never an email fake."""
    phones = _judge(_searched("phone", ["555-0123"]), ColumnRole.MASKED, ["555-0123"])
    assert not phones.leaks and phones.collisions == Counter({"customers.contact in t.c": 1})
    fake_domain = _judge(_searched("email", ["jo.ann.0a1b2c3d4e5f@example.org"]), ColumnRole.MASKED,
                         ["jo.ann.0a1b2c3d4e5f@example.org"], operator="email")
    assert not fake_domain.leaks and sum(fake_domain.collisions.values()) == 1
    real_domain = _judge(_searched("email", ["jo.ann@gmail.com"]), ColumnRole.MASKED, ["jo.ann@gmail.com"],
                         operator="email")
    assert real_domain.leaks == {"customers.contact in t.c (not a possible fake)"}


def test_a_masked_value_is_judged_whole_by_its_own_columns_operator() -> None:
    """A customer's "first last" inside a fake street or a fake email is part of that fake, whatever the name."""
    street = fake_pools().streets[4]  # "421 Thomas Center Apt. 771": "Thomas Center" may be somebody's name
    name = " ".join(street.split()[1:3])
    assert not _judge(_searched("person_name", [name]), ColumnRole.MASKED, [street], operator="street_address").leaks
    email = "ann.lee.0a1b2c3d4e5f@example.net"
    assert not _judge(_searched("person_name", ["Ann Lee"]), ColumnRole.MASKED, [email], operator="email").leaks
    assert _judge(_searched("person_name", ["Ann Lee"]), ColumnRole.MASKED, ["ann.lee@gmail.com"],
                  operator="email").leaks
    in_text = _judge(_searched("person_name", [name], entities=[1]), ColumnRole.TEXT, [f"ship to {street}"],
                     entities=[2])
    assert not in_text.leaks and sum(in_text.collisions.values()) == 1


def test_names_collide_only_inside_the_pools() -> None:
    pools = fake_pools()
    pooled = f"{pools.first_names[0]} {pools.last_names[0]}"
    assert not _judge(_searched("person_name", [pooled]), ColumnRole.MASKED, [pooled], operator="person_name").leaks
    outside = "Zyxwa Qorbentrop"
    assert _judge(_searched("person_name", [outside]), ColumnRole.MASKED, [outside], operator="person_name").leaks


def test_cards_and_addresses_off_the_fake_ranges_are_leaks() -> None:
    card, test_card = "5500 0000 0000 0004", "4000 0012 3456 7899"
    assert _judge(_searched("credit_card", [card]), ColumnRole.MASKED, [card], operator="credit_card").leaks
    assert not _judge(_searched("credit_card", [test_card]), ColumnRole.MASKED, [test_card],
                      operator="credit_card").leaks
    assert _judge(_searched("ip_address", ["192.168.1.20"]), ColumnRole.MASKED, ["192.168.1.20"],
                  operator="ip_address").leaks
    assert not _judge(_searched("ip_address", ["10.1.2.3"]), ColumnRole.MASKED, ["10.1.2.3"],
                      operator="ip_address").leaks


def test_free_text_holding_its_own_entitys_original_is_a_leak_another_entitys_a_collision() -> None:
    """Row entity 7 wrote its own phone into a note: a leak. Entity 8's note holds the same digits: a fake
    phone of the redactor (the same space), counted. A note that repeats its row's own fake is no leak."""
    searched = _searched("phone", ["555-0123"], entities=[7])
    own = _judge(searched, ColumnRole.TEXT, ["call me on 555-0123"], entities=[7])
    assert own.leaks == {"customers.contact in t.c (same row or entity)"}
    other = _judge(searched, ColumnRole.TEXT, ["call me on 555-0123"], entities=[8])
    assert not other.leaks and sum(other.collisions.values()) == 1
    repeated = _judge(searched, ColumnRole.TEXT, ["call me on 555-0123"], entities=[7], fakes=[["555-0123"]])
    assert not repeated.leaks


def test_a_name_inside_a_fake_email_of_the_same_row_is_no_leak() -> None:
    searched = _searched("person_name", ["Ann Lee"], entities=[3])
    inside = _judge(searched, ColumnRole.TEXT, ["write to ann.lee.0a1b2c3d4e5f@example.net"], entities=[3])
    assert not inside.leaks
    plain = _judge(searched, ColumnRole.TEXT, ["ann lee called"], entities=[3])
    assert plain.leaks == {"customers.contact in t.c (same row or entity)"}


def test_values_left_unchanged_beyond_chance_leak() -> None:
    """One 10-digit phone in a million rows may be its own fake by chance (1e-4 such rows expected), two may not,
    nor one in a thousand rows; pooled names meet their own original as often as the pools allow."""
    leak = {"c.phone in c.phone (left unchanged by masking)"}
    assert unchanged_leaks(Counter({"c.phone": 1}), {"c.phone": 1_000_000 * 1e-10}) == set()
    assert unchanged_leaks(Counter({"c.phone": 2}), {"c.phone": 1_000_000 * 1e-10}) == leak
    assert unchanged_leaks(Counter({"c.phone": 1}), {"c.phone": 1_000 * 1e-10}) == leak
    names = {"c.name": 1_000_000 / 388_620}
    assert unchanged_leaks(Counter({"c.name": 6}), names) == set()
    assert unchanged_leaks(Counter({"c.name": 40}), names) == {"c.name in c.name (left unchanged by masking)"}


def test_originals_are_held_as_digests() -> None:
    """200k phones with one entity each, each searched in three writings (digits joined, the national number
    bare and after a trunk 0): 20 bytes per searched writing (hash, origin, one pair digest) beside the 2 MB
    first-token filter and the sequences' filter (4 bytes a sequence, a power of two from 2 MB), no string kept."""
    leaks = LeakCollector()
    values = pa.array([f"+33 6 {i // 10_000:02d} {i % 10_000:04d} {i % 97:02d}" for i in range(200_000)])
    leaks.add_column("customers", "phone", "phone", values, np.arange(1, 200_001, dtype=np.uint64)[:, None])
    summary = leaks.summary()
    assert summary["originals_searched"] == 3 * 200_000
    assert summary["digest_bytes"] <= 3 * 200_000 * 20 + (2 << 20) + pattern_filter_bits(3 * 200_000) // 8
