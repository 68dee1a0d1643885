"""Arrow string building blocks shared by every dialect's literals: the text type, scalars, escaping.

Literals are built as Arrow ``string`` (32-bit offsets: about twice as fast to join as ``large_string``); a
batch whose SQL would pass 2 GiB is written in halves by the script writer.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.string()


def text_scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, TEXT)


NULL = text_scalar("NULL")
EMPTY = text_scalar("")
QUOTE = text_scalar("'")
NO_TEXT = pa.scalar(None, TEXT)


class JsonNumeral(str):
    """A JSON number's text as written (``1.50``), for literals that keep its digits."""


def as_text(arr: pa.Array) -> pa.Array:
    return arr if arr.type == TEXT else pc.cast(arr, TEXT)


def has_any(arr: pa.Array, needles: tuple[str, ...]) -> bool:
    """Whether any value of a string array contains one of the (single-byte) needles: a scan of its bytes."""
    buffers = arr.buffers()
    if buffers[2] is None or len(arr) == 0:
        return False
    offsets = np.frombuffer(buffers[1], dtype=np.int32 if arr.type == TEXT else np.int64)
    first, last = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    data = bytes(memoryview(buffers[2])[first:last])  # type: ignore[arg-type]
    return any(needle.encode() in data for needle in needles)


def replace_all(arr: pa.Array, pairs: tuple[tuple[str, str], ...]) -> pa.Array:
    """Replace in order (backslash first); one byte scan skips columns with nothing to escape (the usual case)."""
    if (arr.type == TEXT or arr.type == pa.large_string()) and all(len(n.encode()) == 1 for n, _ in pairs) and \
            not has_any(arr, tuple(n for n, _ in pairs)):
        return arr
    pattern = "[" + "".join(re.escape(needle) for needle, _ in pairs) + "]"
    mask = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    dirty_count = pc.sum(mask).as_py() or 0
    if not dirty_count:
        return arr
    sparse = dirty_count * 4 < len(arr)
    dirty = pc.filter(arr, mask) if sparse else arr  # usually few values need escaping: work on those only
    for needle, replacement in pairs:
        if pc.any(pc.match_substring(dirty, needle)).as_py():
            dirty = pc.replace_substring(dirty, needle, replacement)
    return pc.replace_with_mask(arr, mask, dirty) if sparse else dirty


def enclose(arr: pa.Array, opening: str = "'", closing: str = "'") -> pa.Array:
    """Every value between ``opening`` and ``closing`` (NULL stays NULL)."""
    return pc.binary_join_element_wise(text_scalar(opening), arr, text_scalar(closing), EMPTY)
