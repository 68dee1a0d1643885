"""Digits in text for the leak check: how many a value holds, separators between them dropped, digits only.

Each runs once per masked structured value while a build collects originals (on the main thread, which sets the
pace of a table with personal columns) and on every scanned text value, so each has a fast path beside its RE2
reference (``fast=False``, the plain path):

- :func:`digit_counts`: decimal digits per value (RE2's ``\\p{Nd}``: any script's). ASCII values are counted from
  their bytes with numpy; only values with other characters go through RE2 (a regex count costs ~0.85 s of CPU
  per 1M phone numbers, the bytes a few ms).
- :func:`separators_between_digits_dropped`: every run of ``[ \\t\\-()/]`` with an ASCII digit right before and
  after it removed (``(415) 555-0100`` -> ``(4155550100``), by one compiled pass over the UTF-8 bytes; RE2 has no
  look-around, so its reference replaces ``([0-9])[ \\t\\-()/]+([0-9])`` twice (a run's digits are consumed, the
  second pass takes the runs after one-digit groups: ``1-2-3``).
- :func:`only_digits`: the ASCII digits of each value (``[^0-9]+`` removed), one compiled pass.
- :func:`digit_dot_digit`: which values hold an ASCII digit, a dot and an ASCII digit in a row, one compiled pass:
  the values a dotted phone (``415.555.0100``) can be in, so its RE2 pattern reads only those.

Byte-level passes are exact on UTF-8: the separators and ASCII digits are single bytes that never occur inside a
multi-byte character, so a character outside ASCII is neither, as for RE2 on the decoded text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import as_utf8, string_buffers
from hfit_dagster.jit import compiled

SEPARATED_DIGITS = r"([0-9])[ \t\-()/]+([0-9])"  # not dots: IP addresses, decimals and versions keep theirs
_SEPARATOR = np.zeros(256, dtype=np.bool_)  # per byte: one of SEPARATED_DIGITS' separators (space, tab, - ( ) /)
_SEPARATOR[[ord(c) for c in " \t-()/"]] = True


def digit_counts(values: pa.Array, fast: bool = True) -> np.ndarray:
    """Per value of a string array, the number of decimal digits (``\\p{Nd}``) it holds; 0 for a NULL."""
    values = as_utf8(values)
    if not fast:
        return np.asarray(pc.fill_null(pc.count_substring_regex(values, r"\p{Nd}"), 0), dtype=np.int64)
    data, offsets = string_buffers(values)
    lo, hi = int(offsets[0]), int(offsets[-1])
    running = np.zeros(hi - lo + 1, dtype=np.int64)
    window = data[lo:hi]
    np.cumsum((window >= 48) & (window <= 57), out=running[1:])
    counts = running[offsets[1:] - lo] - running[offsets[:-1] - lo]
    if values.null_count:
        counts[~np.asarray(values.is_valid())] = 0
    other = np.flatnonzero(~np.asarray(pc.fill_null(pc.string_is_ascii(values), True)))
    if other.size:  # digits of other scripts (Arabic-Indic, full-width ...) counted by RE2's \p{Nd}
        counts[other] = np.asarray(pc.count_substring_regex(values.take(pa.array(other)), r"\p{Nd}"), dtype=np.int64)
    return counts


def separators_between_digits_dropped(values: pa.Array, fast: bool = True) -> pa.Array:
    """The string array with each run of spaces, tabs, dashes, parentheses and slashes between two ASCII digits
    removed; NULLs stay NULL."""
    values = as_utf8(values)
    if not fast:
        for _ in range(2):
            values = pc.replace_substring_regex(values, SEPARATED_DIGITS, r"\1\2")
        return values
    data, offsets = string_buffers(values)
    out = np.empty(int(offsets[-1] - offsets[0]), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int32)
    written = _drop_separators_between_digits(data, offsets, _SEPARATOR, out, out_offsets)
    return _strings(values, out[:written], out_offsets)


def only_digits(values: pa.Array, fast: bool = True) -> pa.Array:
    """The string array with every character but the ASCII digits removed; NULLs stay NULL."""
    values = as_utf8(values)
    if not fast:
        return pc.replace_substring_regex(values, r"[^0-9]+", "")
    data, offsets = string_buffers(values)
    out = np.empty(int(offsets[-1] - offsets[0]), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int32)
    written = _keep_digits(data, offsets, out, out_offsets)
    return _strings(values, out[:written], out_offsets)


def digit_dot_digit(values: pa.Array) -> np.ndarray:
    """Per value of a string array: does it hold an ASCII digit, ``.`` and an ASCII digit in a row (False for a
    NULL)."""
    values = as_utf8(values)
    data, offsets = string_buffers(values)
    found = np.zeros(len(values), dtype=np.bool_)
    _find_digit_dot_digit(data, offsets, found)
    if values.null_count:
        found &= np.asarray(values.is_valid())
    return found


def _strings(like: pa.Array, data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """A string array of ``like``'s length and NULLs over new bytes and offsets (from 0)."""
    validity = pc.is_valid(like).buffers()[1] if like.null_count else None
    return pa.StringArray.from_buffers(len(like), pa.py_buffer(offsets), pa.py_buffer(data), validity,
                                       like.null_count)


@compiled
def _drop_separators_between_digits(data: np.ndarray, offsets: np.ndarray, separator: np.ndarray, out: np.ndarray,
                                    out_offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    written = 0
    out_offsets[0] = 0
    for i in range(offsets.shape[0] - 1):
        at, stop = offsets[i], offsets[i + 1]
        start = at
        while at < stop:
            byte = data[at]
            if at > start and separator[byte] and 48 <= data[at - 1] <= 57:
                run_end = at
                while run_end < stop and separator[data[run_end]]:
                    run_end += 1
                if run_end < stop and 48 <= data[run_end] <= 57:
                    at = run_end  # a digit on both sides: the run is dropped
                    continue
                while at < run_end:
                    out[written] = data[at]
                    written += 1
                    at += 1
                continue
            out[written] = byte
            written += 1
            at += 1
        out_offsets[i + 1] = written
    return written


@compiled
def _keep_digits(data: np.ndarray, offsets: np.ndarray, out: np.ndarray,
                 out_offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    written = 0
    out_offsets[0] = 0
    for i in range(offsets.shape[0] - 1):
        for at in range(offsets[i], offsets[i + 1]):
            if 48 <= data[at] <= 57:
                out[written] = data[at]
                written += 1
        out_offsets[i + 1] = written
    return written


@compiled
def _find_digit_dot_digit(data: np.ndarray, offsets: np.ndarray, found: np.ndarray) -> None:  # pragma: no cover
    for i in range(offsets.shape[0] - 1):
        for at in range(offsets[i] + 1, offsets[i + 1] - 1):
            if data[at] == 46 and 48 <= data[at - 1] <= 57 and 48 <= data[at + 1] <= 57:
                found[i] = True
                break
