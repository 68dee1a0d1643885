"""The leak check's digit passes: each fast path (numpy bytes, compiled loops) gives exactly what its RE2 reference
gives, so an original is digested, and an output value read, the same whichever path ran; the leak check finds
a phone written with other separators either way."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfit_dagster.checks.digit_text import digit_counts, digit_dot_digit, only_digits, separators_between_digits_dropped
from hfit_dagster.checks.leak import digits_joined

# digits of several scripts, every separator the pass drops, dots, letters of other scripts, a 4-byte character
ALPHABET = "0123456789 \t-()/.+x_Zé٣４𝟘ß\n"
PHONES = ["+44 20 7946 0958", "(415) 555-0100", "1-2-3-4-5", "0049/30/123 456", "+1 (212)\t555 0199", "12 - ",
          " -3", "٣٤٥ ٦٧", "０３-１２３４", "7-", "-", "", "é1 2é", "1 \n2", "12ab 34", "1/ 2", "5(6)7",
          "call 415.555.0100.", "+1.415.555.0100", "192.168.10.20 or 415.555.0100", "v1.2.3", "12.50", "1234 5.67.89",
          "0.5.", "1.22.333.4444.55555"]
DOTTED_ALPHABET = "0123456789..  -x+٣"


def _arrays(values: list[str | None]) -> list[pa.Array]:
    """The values as an array, and as a slice of a longer one (an offset into shared buffers)."""
    whole = pa.array(["9 9", *values, "8-8"], pa.string())
    return [pa.array(values, pa.string()), whole.slice(1, len(values))]


def _same_everywhere(values: list[str | None]) -> None:
    for array in _arrays(values):
        assert separators_between_digits_dropped(array).to_pylist() == \
            separators_between_digits_dropped(array, fast=False).to_pylist()
        assert only_digits(array).to_pylist() == only_digits(array, fast=False).to_pylist()
        assert digit_counts(array).tolist() == digit_counts(array, fast=False).tolist()
        assert digits_joined(array).to_pylist() == digits_joined(array, fast=False).to_pylist()
        assert digit_dot_digit(array).tolist() == [
            v is not None and any(a.isascii() and a.isdigit() and b == "." and c.isascii() and c.isdigit()
                                  for a, b, c in zip(v, v[1:], v[2:], strict=False)) for v in array.to_pylist()]


def test_fast_paths_equal_reference_on_phone_writings() -> None:
    """Phones as people write them (separators, scripts, NULLs, a value ending in a separator) read the same."""
    _same_everywhere([*PHONES, None])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=ALPHABET, max_size=24)), max_size=12))
def test_fast_paths_equal_reference_on_any_text(values: list[str | None]) -> None:
    """Whatever the characters and their order, the fast paths and RE2 agree (runs at value boundaries too)."""
    _same_everywhere(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=DOTTED_ALPHABET, max_size=24)), max_size=12))
def test_fast_paths_equal_reference_on_dotted_numbers(values: list[str | None]) -> None:
    """Dotted phones, decimals, versions and IPv4 addresses among other values: joined the same either way (the
    fast path reads only the values with a digit, a dot and a digit in a row)."""
    _same_everywhere(values)


def test_fast_paths_equal_reference_on_a_large_batch() -> None:
    """A batch the size a build hands over: the same values either way."""
    rng = random.Random(7)
    values = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30))) if rng.random() > 0.05 else None
              for _ in range(20_000)]
    _same_everywhere(values)


@pytest.mark.parametrize(("value", "joined"), [
    ("(415) 555-0100", "(4155550100"), ("1-2-3", "123"), ("12 - ", "12 - "), ("a 1 b", "a 1 b"),
    ("٣ ٤", "٣ ٤"), ("1 \n2", "1 \n2")])
def test_separators_dropped_only_between_ascii_digits(value: str, joined: str) -> None:
    """What the leak check compares: separator runs with an ASCII digit on both sides are gone, nothing else."""
    assert separators_between_digits_dropped(pa.array([value])).to_pylist() == [joined]


def test_digit_counts_count_every_script() -> None:
    """A chance of a fake equal to its original needs the digits of any script: Arabic-Indic and full-width too."""
    counts = digit_counts(pa.array(["+44 20", "٣٤٥", "０３-１", None, "x"]))
    assert counts.tolist() == [4, 3, 3, 0, 0]
    assert counts.dtype == np.int64


def test_chunked_and_bufferless_arrays_read_like_plain_ones() -> None:
    """A chunked column (as a table gives it) and an empty array without offset bytes (as outside data may come)
    give what their plain equivalents give, on both paths."""
    chunked = pa.chunked_array([["415.555.0100", "x 1-2"], [None, "(415) 555-0100"]])
    assert digits_joined(chunked).to_pylist() == digits_joined(chunked, fast=False).to_pylist() == [
        "4155550100", "x 12", None, "(4155550100"]
    empty = pa.StringArray.from_buffers(0, pa.py_buffer(b""), pa.py_buffer(b""))
    for fast in (True, False):
        assert digits_joined(empty, fast=fast).to_pylist() == []
        assert separators_between_digits_dropped(empty, fast=fast).to_pylist() == []
        assert only_digits(empty, fast=fast).to_pylist() == []
        assert digit_counts(empty, fast=fast).tolist() == []
