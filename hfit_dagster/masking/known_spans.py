"""Row context for a batch of ASCII notes, by compiled loops: where each row's own values sit in its text,
the text with them replaced by their fakes, and a key of its layout.

:func:`row_context.find_known_spans` in Python costs ~30 µs a note with the rest of the per-note work
(the bench's 48,000 notes that name their customer: ~1.5 s on the main thread). Here the same spans are
found for a whole batch at once, with the same rules (whole words, case-insensitive, at least
``MIN_LENGTH`` characters, longest value first, never overlapping), for rows whose text and own values are
ASCII without NUL; other rows are marked for the Python path.

The *layout key* of a row is its skeleton (the text with each own value replaced) written with markers
instead of stand-ins: NUL, the context column's number, NUL (texts holding NUL take the Python path, so
a key reads back one way). Rows with equal keys have the same skeleton with the same stand-ins at the
same places; what redaction does around them depends on nothing else (the text next to an own value is
never a word character, so a possessive "'s" is judged on kept text), so one row tells whether the
analysis of that skeleton leaves anything but the row's own values to replace (see
``TextRedactor.redact_rows_in_context``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import pack_byte_columns, string_buffers
from hfit_dagster.jit import compiled
from hfit_dagster.masking.row_context import MIN_LENGTH

NONE, KNOWN, PYTHON = 0, 1, 2  # per row: no own value in the text, own values found, left to Python


@dataclass
class RowContext:
    status: np.ndarray  # NONE, KNOWN or PYTHON per row
    keys: pa.Array  # binary layout keys (KNOWN rows; empty elsewhere)
    replaced: pa.Array  # the text with its own values replaced by their fakes (KNOWN rows; empty elsewhere)


def _packed(columns: list[pa.Array], rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several string columns as one byte buffer, a (columns, rows + 1) offset matrix and validity."""
    data, offsets = pack_byte_columns([string_buffers(column) for column in columns], rows)
    valid = np.empty((len(columns), rows), dtype=np.bool_)
    for j, column in enumerate(columns):
        valid[j] = np.asarray(column.is_valid()) if column.null_count else True
    return data, offsets, valid


def row_context(texts: pa.Array, originals: list[pa.Array], fakes: list[pa.Array]) -> RowContext:
    """Own values (``originals[j]``, replaced by ``fakes[j]``) located in each row's text."""
    n = len(texts)
    text_data, text_offsets = string_buffers(texts)
    text_valid = np.asarray(texts.is_valid()) if texts.null_count else np.ones(n, dtype=np.bool_)
    ascii_text = np.asarray(pc.fill_null(pc.string_is_ascii(texts), True))
    orig_data, orig_offsets, orig_valid = _packed(originals, n)
    fake_data, fake_offsets, fake_valid = _packed(fakes, n)
    usable = orig_valid & fake_valid
    ascii_values = np.ones(n, dtype=np.bool_)
    for original in originals:
        ascii_values &= np.asarray(pc.fill_null(pc.string_is_ascii(original), True))
    has_nul = np.asarray(pc.fill_null(pc.match_substring(texts, "\x00"), False))  # NUL marks the keys' stand-ins
    status = np.full(n, NONE, dtype=np.int64)
    status[(~(ascii_text & ascii_values) | has_nul) & text_valid] = PYTHON
    capacity = int(text_offsets[-1] - text_offsets[0]) // MIN_LENGTH + 1
    spans = np.empty((capacity, 3), dtype=np.int64)  # start, end, column
    first_span = np.zeros(n + 1, dtype=np.int64)
    _find_spans(text_data, text_offsets, text_valid, orig_data, orig_offsets, usable, status, spans, first_span)
    count = int(first_span[-1])
    spans = spans[:count]
    removed = np.zeros(n, dtype=np.int64)
    added_fakes = np.zeros(n, dtype=np.int64)
    added_marks = np.zeros(n, dtype=np.int64)
    if count:
        owner = np.repeat(np.arange(n), np.diff(first_span))
        np.add.at(removed, owner, spans[:, 1] - spans[:, 0])
        columns = spans[:, 2]
        np.add.at(added_fakes, owner, fake_offsets[columns, owner + 1] - fake_offsets[columns, owner])
        np.add.at(added_marks, owner, 3)
    lengths = np.diff(text_offsets)
    known = status == KNOWN
    key_sizes = np.where(known, lengths - removed + added_marks, 0)
    replaced_sizes = np.where(known, lengths - removed + added_fakes, 0)
    key_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(key_sizes, out=key_offsets[1:])
    replaced_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(replaced_sizes, out=replaced_offsets[1:])
    key_out = np.empty(int(key_offsets[-1]), dtype=np.uint8)
    replaced_out = np.empty(int(replaced_offsets[-1]), dtype=np.uint8)
    _write(text_data, text_offsets, status, spans, first_span, fake_data, fake_offsets,
           key_out, key_offsets, replaced_out, replaced_offsets)
    return RowContext(
        status=status,
        keys=pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(key_offsets), pa.py_buffer(key_out)]),
        replaced=pa.Array.from_buffers(pa.large_string(), n,
                                       [None, pa.py_buffer(replaced_offsets), pa.py_buffer(replaced_out)]),
    )


@compiled
def _lower(c: int) -> int:  # pragma: no cover - compiled
    return c + 32 if 65 <= c <= 90 else c


@compiled
def _is_word(c: int) -> bool:  # pragma: no cover - compiled
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95


@compiled
def _matches_at(text: np.ndarray, at: int, needle: np.ndarray, a: int, b: int) -> bool:  # pragma: no cover
    for p in range(b - a):
        if _lower(text[at + p]) != _lower(needle[a + p]):
            return False
    return True


@compiled
def _find_spans(text: np.ndarray, text_offsets: np.ndarray, text_valid: np.ndarray, orig: np.ndarray,
                orig_offsets: np.ndarray, usable: np.ndarray, status: np.ndarray, spans: np.ndarray,
                first_span: np.ndarray) -> None:  # pragma: no cover - compiled
    """``row_context.find_known_spans`` for the rows whose status is still NONE; found spans in text order."""
    k, n = orig_offsets.shape[0], text_offsets.shape[0] - 1
    order = np.empty(k, dtype=np.int64)
    count = 0
    for i in range(n):
        first_span[i] = count
        if status[i] != 0 or not text_valid[i]:
            continue
        t0, t1 = text_offsets[i], text_offsets[i + 1]
        # candidate values, longest first; equal lengths keep column order (Python's stable sort)
        m = 0
        for j in range(k):
            if usable[j, i] and orig_offsets[j, i + 1] - orig_offsets[j, i] >= MIN_LENGTH:
                length = orig_offsets[j, i + 1] - orig_offsets[j, i]
                pos = m
                while pos > 0 and orig_offsets[order[pos - 1], i + 1] - orig_offsets[order[pos - 1], i] < length:
                    order[pos] = order[pos - 1]
                    pos -= 1
                order[pos] = j
                m += 1
        row_first = count
        for c in range(m):
            j = order[c]
            a, b = orig_offsets[j, i], orig_offsets[j, i + 1]
            width = b - a
            start = t0
            while start + width <= t1:
                if not _matches_at(text, start, orig, a, b):
                    start += 1
                    continue
                end = start + width
                if (start > t0 and _is_word(text[start - 1])) or (end < t1 and _is_word(text[end])):
                    start += 1
                    continue
                overlaps = False
                for s in range(row_first, count):
                    if start - t0 < spans[s, 1] and spans[s, 0] < end - t0:
                        overlaps = True
                        break
                if not overlaps:
                    spans[count, 0] = start - t0
                    spans[count, 1] = end - t0
                    spans[count, 2] = j
                    count += 1
                start = end
        # text order (insertion sort: a row has few spans)
        for s in range(row_first + 1, count):
            s0, s1, s2 = spans[s, 0], spans[s, 1], spans[s, 2]
            pos = s
            while pos > row_first and spans[pos - 1, 0] > s0:
                spans[pos, 0], spans[pos, 1], spans[pos, 2] = spans[pos - 1, 0], spans[pos - 1, 1], spans[pos - 1, 2]
                pos -= 1
            spans[pos, 0], spans[pos, 1], spans[pos, 2] = s0, s1, s2
        if count > row_first:
            status[i] = 1
    first_span[n] = count


@compiled
def _copy(out: np.ndarray, at: int, data: np.ndarray, a: int, b: int) -> int:  # pragma: no cover - compiled
    for p in range(a, b):
        out[at] = data[p]
        at += 1
    return at


@compiled
def _write(text: np.ndarray, text_offsets: np.ndarray, status: np.ndarray, spans: np.ndarray,
           first_span: np.ndarray, fake: np.ndarray,
           fake_offsets: np.ndarray, key_out: np.ndarray, key_offsets: np.ndarray, replaced_out: np.ndarray,
           replaced_offsets: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(text_offsets.shape[0] - 1):
        if status[i] != 1:
            continue
        t0, t1 = text_offsets[i], text_offsets[i + 1]
        at_key, at_out = key_offsets[i], replaced_offsets[i]
        pos = t0
        for s in range(first_span[i], first_span[i + 1]):
            start, end, j = t0 + spans[s, 0], t0 + spans[s, 1], spans[s, 2]
            at_key = _copy(key_out, at_key, text, pos, start)
            at_out = _copy(replaced_out, at_out, text, pos, start)
            key_out[at_key] = 0
            key_out[at_key + 1] = j + 1
            key_out[at_key + 2] = 0
            at_key += 3
            at_out = _copy(replaced_out, at_out, fake, fake_offsets[j, i], fake_offsets[j, i + 1])
            pos = end
        _copy(key_out, at_key, text, pos, t1)
        _copy(replaced_out, at_out, text, pos, t1)
