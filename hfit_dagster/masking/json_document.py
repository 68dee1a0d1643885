"""JSON documents as masking reads and writes them: parsed keeping number text, key order and duplicate keys,
walked leaf by leaf, and written back so that a document whose leaves did not change keeps its bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hfit_dagster.masking.classifier import known_name_tokens, match_name_rule
from hfit_dagster.masking.column_kinds import ColumnKind


class RawNumber(str):
    """A JSON number kept as its original text (``1.10`` stays ``1.10``, ``1e5`` stays ``1e5``)."""


class JsonObject(list):
    """A JSON object as a list of ``[key, value]`` pairs: order and duplicate keys survive a rewrite."""


def parse_container(text: str) -> Any | None:
    """The parsed document when ``text`` is a JSON object or array, else None."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        return json.loads(
            text,
            object_pairs_hook=lambda pairs: JsonObject([list(p) for p in pairs]),
            parse_float=RawNumber,
            parse_int=RawNumber,
            parse_constant=RawNumber,
        )
    except (ValueError, RecursionError):
        return None


def dump(node: Any, compact: bool) -> str:
    """Serialize a parsed document; numbers keep their original text, strings are written unescaped."""
    item_sep, key_sep = (",", ":") if compact else (", ", ": ")
    if isinstance(node, JsonObject):
        inner = item_sep.join(json.dumps(k, ensure_ascii=False) + key_sep + dump(v, compact) for k, v in node)
        return "{" + inner + "}"
    if isinstance(node, list):
        return "[" + item_sep.join(dump(v, compact) for v in node) + "]"
    if isinstance(node, RawNumber):
        return str.__str__(node)
    if isinstance(node, str):
        return json.dumps(node, ensure_ascii=False)
    if node is True:
        return "true"
    if node is False:
        return "false"
    if node is None:
        return "null"
    return json.dumps(node, ensure_ascii=False)


def is_compact(text: str) -> bool:
    """Whether a document was written without spaces after its separators."""
    return not re.search(r'"\s*:\s|,\s', text)


@dataclass
class Leaf:
    """One scalar or object key inside document ``doc``: it lives at ``container[slot]`` (a list index, or
    ``(pair index, 0 | 1)`` for an object's key / value)."""

    doc: int
    container: list
    slot: int | tuple[int, int]
    path: str
    key: str | None  # the key a value sits under (None for object keys themselves)
    value: Any

    @property
    def is_key(self) -> bool:
        return isinstance(self.slot, tuple) and self.slot[1] == 0

    def set(self, value: Any) -> None:
        if isinstance(self.slot, tuple):
            self.container[self.slot[0]][self.slot[1]] = value
        else:
            self.container[self.slot] = value


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_DIGIT_RUN = re.compile(r"[0-9]{4}")


def path_segment(key: str) -> str:
    """An object key as a path shows it: a field name as it is; ``*`` for a key that may be a value - anything
    not shaped like a field name (an email, a phone number), a run of four digits, or a capitalized known first
    or last name ("Maria" as the key of a map of people; ``price`` stays). Paths go into plans and manifests,
    never values."""
    if not _FIELD_NAME.match(key) or _DIGIT_RUN.search(key):
        return "*"
    if key[0].isupper() and match_name_rule(key, ColumnKind.TEXT) is None and key.lower() in known_name_tokens():
        return "*"
    return key


def walk(doc: Any, index: int = 0) -> Iterator[tuple[Leaf, str | None, list[str]]]:
    """Every scalar leaf and every object key of a document, with its parent key and sibling keys; a leaf's
    ``path`` is JSONPath-like (``$.contacts[*].who``, keys that may be values shown as ``*``)."""

    def visit(node: Any, path: str, parent_key: str | None) -> Iterator[tuple[Leaf, str | None, list[str]]]:
        if isinstance(node, JsonObject):
            keys = [str(k) for k, _ in node]
            for i, (k, v) in enumerate(node):
                sub = f"{path}.{path_segment(str(k))}"
                yield Leaf(index, node, (i, 0), sub, None, k), parent_key, keys
                if isinstance(v, list):
                    yield from visit(v, sub, str(k))
                else:
                    yield Leaf(index, node, (i, 1), sub, str(k), v), parent_key, keys
        elif isinstance(node, list):
            for i, v in enumerate(node):
                sub = f"{path}[*]"
                if isinstance(v, list):
                    yield from visit(v, sub, parent_key)
                else:
                    # an array of scalars under a key inherits that key ("phones": ["+1 555 ...", ...])
                    yield Leaf(index, node, i, sub, parent_key, v), None, []

    yield from visit(doc, "$", None)
