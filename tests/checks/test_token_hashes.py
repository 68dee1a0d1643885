"""The vectorized tokenizer finds exactly the tokens Python's ``\\w+`` and ``str.lower`` find in ASCII text,
with the same hashes, so the leak check's fast and exact paths agree."""

from __future__ import annotations

import random
import string

import pyarrow as pa

from hfit_dagster.checks.token_hashes import MAX_HASHED_TOKEN, ascii_tokens, python_tokens


def _random_ascii(rng: random.Random) -> str | None:
    if rng.random() < 0.05:
        return None
    alphabet = string.ascii_letters + string.digits + "_ .,-@+()'\n\t"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    if rng.random() < 0.01:
        text += " " + "Q" * (MAX_HASHED_TOKEN + rng.randint(1, 50)) + " end"
    return text


def test_ascii_tokens_equal_python_tokens_on_random_text() -> None:
    rng = random.Random(11)
    values = [_random_ascii(rng) for _ in range(3_000)]
    array = pa.array(["padding", *values], pa.string()).slice(1)  # an array with an offset, as batches are
    fast = ascii_tokens(array)
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    slow = python_tokens([v for _, v in present])
    assert fast.owner.tolist() == [present[i][0] for i in slow.owner.tolist()]
    assert fast.hashes.tolist() == slow.hashes.tolist()


def test_no_token_runs_across_two_values() -> None:
    tokens = ascii_tokens(pa.array(["ab", "cd", "", "e f"]))
    assert tokens.owner.tolist() == [0, 1, 3, 3]
