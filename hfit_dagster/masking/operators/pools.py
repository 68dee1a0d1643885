"""Seeded pools of realistic first names, last names, cities and streets, picked by keyed hashes.

Why pools: calling Faker per value is ~50x slower than indexing a tuple. Why a file (``fake_pools.json`` in
the masking package): it keeps every fake stable even when Faker changes, and nothing is drawn at run time
(``generate_fake_pools`` made the file; a test checks the two still agree).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import string_buffers
from hfit_dagster.jit import compiled
from hfit_dagster.masking import vector_prf as vp

POOL_FILE = "fake_pools.json"
POOL_PACKAGE = "hfit_dagster.masking"
_POOL_SEED = 20_240_917


@dataclass(frozen=True)
class FakePools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    first_slugs: tuple[str, ...]  # ASCII lower-case, for email local parts
    last_slugs: tuple[str, ...]


def _dedupe(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _ascii_slug(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower()) or "user"


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


@functools.lru_cache(maxsize=1)
def fake_pools() -> FakePools:
    """The pools, read from ``fake_pools.json`` in the masking package."""
    from importlib.resources import files

    data = json.loads(files(POOL_PACKAGE).joinpath(POOL_FILE).read_text(encoding="utf-8"))
    return FakePools(**{name: tuple(data[name]) for name in FakePools.__dataclass_fields__})


def generate_fake_pools() -> FakePools:
    """The pools drawn from a seeded Faker (how ``fake_pools.json`` was made; see ``write_fake_pools``)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(_POOL_SEED)
    first = _dedupe([fake.first_name() for _ in range(2500)])
    last = _dedupe([fake.last_name() for _ in range(2500)])
    return FakePools(
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
            **{name: list(getattr(pools, name)) for name in FakePools.__dataclass_fields__}}
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


def name_parts(values: pa.Array, *, local_part: bool = False) -> tuple[pa.Array, pa.Array]:
    """The name words of each string, lower-cased: its first word and, when it has another, its last one ("" for
    none). A word is a run of two bytes or more of ASCII letters and non-ASCII characters; ``local_part``
    reads an email address up to its ``+tag`` or ``@`` only. "Jane Doe" and "jane.doe42" give jane, doe;
    "Mary-Ann O'Neil" mary, neil; "jdoe" jdoe and "". A person's first and last name and the local part of an
    address built from them give the same words, so their fakes can agree (one compiled pass over the bytes)."""
    data, offsets = string_buffers(vp.as_utf8(pc.utf8_lower(values)))
    first = _word_array(*_name_words(data, offsets, local_part, True))
    last = _word_array(*_name_words(data, offsets, local_part, False))
    return first, last


def _word_array(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


@compiled
def _name_words(data: np.ndarray, offsets: np.ndarray, local_part: bool,
                first: bool) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The first (or the last, when a value has two or more) word of each value: bytes and offsets."""
    n = offsets.shape[0] - 1
    starts = np.zeros(n, dtype=np.int64)
    sizes = np.zeros(n, dtype=np.int64)
    for i in range(n):
        count = 0
        at = offsets[i]
        stop = offsets[i + 1]
        if local_part:
            for j in range(offsets[i], offsets[i + 1]):
                if data[j] == 43 or data[j] == 64:  # + @
                    stop = j
                    break
        while at < stop:
            if (97 <= data[at] <= 122) or data[at] >= 128:
                begin = at
                while at < stop and ((97 <= data[at] <= 122) or data[at] >= 128):
                    at += 1
                if at - begin >= 2:  # bytes: one non-ASCII letter is a word
                    count += 1
                    if (first and count == 1) or not first:
                        starts[i], sizes[i] = begin, at - begin
                    if first:
                        break
            else:
                at += 1
        if not first and count < 2:
            sizes[i] = 0
    out_offsets = np.zeros(n + 1, dtype=np.int32)
    for i in range(n):
        out_offsets[i + 1] = out_offsets[i] + sizes[i]
    out = np.empty(out_offsets[n], dtype=np.uint8)
    for i in range(n):
        out[out_offsets[i]:out_offsets[i + 1]] = data[starts[i]:starts[i] + sizes[i]]
    return out, out_offsets


def name_picks(key: bytes, label: str, pool: str, words: pa.Array, fallback: np.ndarray) -> np.ndarray:
    """The pool entry (index into ``pool``: ``first_names`` or ``last_names``, the same index in their slugs) of
    each name word: picked by the word's keyed lane under ``label`` (``first_name``, ``last_name``), by the lane
    ``fallback`` where there is no word (""); a pick equal to its own word (ignoring case) takes the next entry,
    so a name's fake is never the name itself."""
    names = pool_arrays()[pool]
    n = np.uint64(len(names))
    lanes = np.array(fallback, dtype=np.uint64, copy=True)
    present = np.asarray(pc.greater(pc.binary_length(words), 0).to_numpy(zero_copy_only=False), dtype=bool)
    if present.any():
        lanes[present] = vp.prf_strings(key, [label], words.filter(pa.array(present)))[:, 0]
    picks = (lanes % n).astype(np.int64)
    if present.any():
        own = np.asarray(pc.equal(_lower_pool(pool).take(pa.array(picks)), words).fill_null(False)
                         .to_numpy(zero_copy_only=False), dtype=bool) & present
        picks[own] = (picks[own] + 1) % len(names)
    return picks


@functools.lru_cache(maxsize=4)
def _lower_pool(pool: str) -> pa.Array:
    return pc.utf8_lower(pool_arrays()[pool])
