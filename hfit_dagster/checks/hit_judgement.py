"""Leak check, the judging half: what an original found in the output is, a leak or a collision.

The output is searched for every original's token sequence (:mod:`leak`); a hit is then judged by where it
stands and what it is:

* in a **kept column** it is a leak: a kept value is the source's own value, never a fake (a kept number
  column is judged like free text, by row: numbers of ids or amounts meet phone-shaped originals by chance);
* in a **masked column** (email, phone, names, ...) the value is the column operator's fake: a leak only when
  that operator cannot write the value (:mod:`fake_spaces`: an email on a real domain, a name with a word from
  no pool, a card off the test BIN), else a **collision**, a fake that equals or contains somebody's original
  (a customer's "first last" inside a fake email or a fake street);
* in **free text** (``redact_text``, ``json_pii``) it is a leak when it is the original of the row it stands
  in or of an entity that row belongs to (a parent its foreign keys point at), unless the text there is that
  row's own fake (the same row's masked value, or the name part of a fake email); a hit of another entity is
  a leak when no operator of its kind can write it, else a collision.

Collisions are counted per ``original in found`` pair and reported; they never fail a build. Every hit is
named by columns, never by value.

Masked values equal to their own originals (:func:`unchanged_leaks`) are collisions too while their number is
what chance gives (a keyed draw landing on its own input: one in 10**digits for a digit permutation); more
than that, by a Poisson tail below one in a million, is an operator that passed values through: a leak.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.checks.fake_spaces import (
    TEXT_SPACES,
    FakeSpace,
    beyond_chance,
    could_be_fake,
    email_domain_hashes,
    span_could_be_fake,
)
from hfit_dagster.checks.leak import SearchedOriginals, digits_joined
from hfit_dagster.checks.token_hashes import PatternHits, Tokens, tokens_of

_TOKEN = re.compile(r"\w+")


class ColumnRole(Enum):
    KEPT = "kept column"
    MASKED = "masked column"
    TEXT = "free text"


# rows of the batch -> (rows, m) entity digests of those rows (0: none)
RowEntities = Callable[[np.ndarray], np.ndarray]
# rows of the batch -> (rows, c) sequence hashes of the masked values of those rows (their fakes)
RowFakes = Callable[[np.ndarray], np.ndarray]


@dataclass
class Verdict:
    """The judged hits of a scan: leaks (``original in table.column (why)``) and counted collisions."""

    leaks: set[str] = field(default_factory=set)
    collisions: Counter[str] = field(default_factory=Counter)

    def add(self, other: Verdict) -> None:
        self.leaks |= other.leaks
        self.collisions.update(other.collisions)


def _count(counter: Counter[str], names: list[str], origins: np.ndarray) -> None:
    """Count collisions per origin name (one count per hit)."""
    for origin, count in enumerate(np.bincount(origins, minlength=len(names)).tolist()):
        if count:
            counter[names[origin]] += count


def _spans(values: pa.Array, tokens: Tokens, found: PatternHits, select: np.ndarray) -> list[str]:
    """The matched text of the selected hits (the tokens' characters from the first to the last)."""
    firsts = np.concatenate(([0], np.cumsum(tokens.counts(len(values)))[:-1]))
    out = []
    for i in np.flatnonzero(select).tolist():
        value = values[int(found.value[i])].as_py()
        words = list(_TOKEN.finditer(value))
        j = int(found.start[i] - firsts[found.value[i]])
        out.append(value[words[j].start() : words[j + int(found.length[i]) - 1].end()])
    return out


_WORD_SPACES = (FakeSpace.NAME, FakeSpace.STREET, FakeSpace.CITY)


def _could_be_fake(searched: SearchedOriginals, values: pa.Array, tokens: Tokens, found: PatternHits) -> np.ndarray:
    """Per hit in free text: could the redactor have written the matched text? An operator of its original's
    kind, or for words (names, streets, cities) any of the pooled ones: a street fake in a note may hold
    words that are somebody's full name."""
    spaces = np.array([searched.origins[o].space for o in range(len(searched.origins))], dtype=np.int64)
    hit_space = spaces[found.origin] if found.size else np.zeros(0, np.int64)
    out = np.ones(found.size, dtype=bool)
    for space in np.unique(hit_space).tolist():
        select = hit_space == space
        kind = FakeSpace(space)
        if kind in TEXT_SPACES:
            out[select] = [span_could_be_fake(kind, span) for span in _spans(values, tokens, found, select)]
        else:
            kinds = _WORD_SPACES if kind in _WORD_SPACES else (kind,)
            starts, lengths = found.start[select], found.length[select]
            out[select] = np.any([could_be_fake(k, tokens.hashes, starts, lengths) for k in kinds], axis=0)
    return out


def _values_could_be_fakes(space: FakeSpace, values: pa.Array, tokens: Tokens) -> np.ndarray:
    """Per value of a masked column: could its operator (of ``space``) have written the whole value?"""
    counts = tokens.counts(len(values))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    if space in TEXT_SPACES:
        return np.array([span_could_be_fake(space, value) for value in values.to_pylist()], dtype=bool)
    out = np.ones(len(values), dtype=bool)
    has = counts > 0
    out[has] = could_be_fake(space, tokens.hashes, starts[has], counts[has])
    return out


def _inside_fake_email(tokens: Tokens, found: PatternHits) -> np.ndarray:
    """Per hit: is the run the name part of a fake email (followed by its hex token and ``example.<tld>``)?"""
    example, tlds = email_domain_hashes()
    after = found.start + found.length
    n = tokens.hashes.size
    ok = after + 2 < n
    at = np.flatnonzero(ok)
    same_value = tokens.owner[after[at] + 2] == found.value[at]
    fake = (tokens.hashes[after[at] + 1] == example) & np.isin(tokens.hashes[after[at] + 2], tlds)
    ok[at] = same_value & fake
    return ok


def judge_column(searched: SearchedOriginals, where: str, role: ColumnRole, candidates: pa.Array,
                 column: pa.Array | None = None, row_entities: RowEntities | None = None,
                 row_fakes: RowFakes | None = None, space: FakeSpace = FakeSpace.ANY) -> Verdict:
    """Judge the originals found in ``candidates`` (distinct non-null values of the column ``where`` that may
    hold one). A masked column's values are judged whole, by ``space``, its operator's (a name inside a fake
    email or street is part of that fake). Free text also needs the batch's ``column`` (to find the rows of a
    hit), ``row_entities`` and ``row_fakes`` (see the module docstring); a span there is judged by the space of
    the original it matched (the redactor fakes a span with the operator of its kind)."""
    verdict = Verdict()
    if not len(candidates) or not searched.patterns.by_length:
        return verdict
    read = digits_joined(candidates)  # as the originals were digested; rows are still found by ``candidates``
    tokens = tokens_of(read)
    found = searched.patterns.find(tokens)
    if not found.size:
        return verdict
    names = [f"{searched.origins[o].where} in {where}" for o in range(len(searched.origins))]
    if role is ColumnRole.KEPT:
        verdict.leaks |= {f"{names[o]} ({role.value})" for o in np.unique(found.origin).tolist()}
        return verdict
    if role is ColumnRole.MASKED:
        fake_ok = _values_could_be_fakes(space, read, tokens)[found.value]
        verdict.leaks |= {f"{names[o]} (not a possible fake)" for o in np.unique(found.origin[~fake_ok]).tolist()}
        _count(verdict.collisions, names, found.origin[fake_ok])
        return verdict
    fake_ok = _could_be_fake(searched, read, tokens, found)
    if column is None or row_entities is None:
        verdict.leaks |= {f"{names[o]} (not a possible fake)" for o in np.unique(found.origin[~fake_ok]).tolist()}
        _count(verdict.collisions, names, found.origin[fake_ok])
        return verdict
    # free text: each hit once per row that holds its value
    index = pc.index_in(column, value_set=candidates)
    rows = np.flatnonzero(np.asarray(index.is_valid()))
    if not rows.size:
        return verdict
    row_value = np.asarray(pc.take(index, pa.array(rows)).to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(found.value, kind="stable")
    per_value = np.bincount(found.value, minlength=len(candidates))
    first_hit = np.concatenate(([0], np.cumsum(per_value)[:-1]))
    repeat = per_value[row_value]
    row_of = np.repeat(rows, repeat)
    within = np.arange(row_of.size) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    hit_of = order[np.repeat(first_hit[row_value], repeat) + within]
    same = searched.same_entity(found.hash[hit_of], row_entities(row_of))
    if same.any():
        own = np.flatnonzero(same)
        explained = _inside_fake_email(tokens, found.take(hit_of[own]))
        if row_fakes is not None and (~explained).any():
            rest = own[~explained]
            fakes = row_fakes(row_of[rest])
            explained[~explained] = (fakes == found.hash[hit_of[rest]][:, None]).any(axis=1)
        same[own] = ~explained
    leak = same | ~fake_ok[hit_of]
    why = np.where(same, "same row or entity", "not a possible fake")
    verdict.leaks |= {f"{names[o]} ({w})" for o, w in zip(found.origin[hit_of[leak]].tolist(), why[leak].tolist(),
                                                           strict=True)}
    _count(verdict.collisions, names, found.origin[hit_of[~leak]])
    return verdict


def unchanged_leaks(unchanged: Counter[str], expected: dict[str, float]) -> set[str]:
    """Masked columns that kept more of their own originals than chance gives (see the module docstring);
    ``expected``: per column, the number chance gives on average."""
    return {f"{where} in {where} (left unchanged by masking)" for where, count in unchanged.items()
            if beyond_chance(count, expected.get(where, 0.0))}
