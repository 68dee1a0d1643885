"""PII inside JSON columns: walk objects and arrays, mask only the leaves that hold personal data.

A ``preferences`` or ``payload`` column often holds ``{"contact": {"email": "a@b.com"}, "qty": 3}``. Faking
the whole value would break the JSON (and an app that reads it); keeping it would leak the email. The
``json_pii`` operator parses each distinct value, decides per leaf, and writes the document back with the
same keys, the same structure, the same numbers (their original text) and only the personal leaves
replaced:

* **by key name** - the column-name rules of :mod:`classifier` applied to the leaf's key (``email``,
  ``phone``, ``first_name``, ``iban``, ``password`` ...; a bare ``name`` when the object also holds
  personal keys or its parent key names people): the leaf gets that operator's fake, so an email in JSON
  becomes the same fake as the same email in an ``email`` column. Secrets become ``null``.
* **by Presidio** - every other string leaf is analyzed (batched, deduplicated): a leaf that *is* a name or a
  phone number is replaced by its fake, a note inside the JSON gets its PII spans replaced. In short leaves
  (not free text) NER guesses need support: LOCATION is ignored and PERSON needs a known first or last
  name, so status codes and product names stay. Numbers, booleans and nulls without a key rule are kept.
* **keys** are kept; only a key that looks like an email, phone number or id (an ``@`` or seven digits)
  is analyzed, by the pattern recognizers only, and faked when it is one (a map keyed by email address).

Values that are not JSON objects/arrays (in a column that mostly holds JSON) are redacted as free text.
A document whose leaves hold no PII is returned byte for byte unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hfit_dagster.masking.catalog import (
    DIGIT_OPERATORS,
    NER_ENTITIES,
    NOISY_IN_SHORT_LEAVES,
    OPERATOR_SPECS,
    operator_entity,
)
from hfit_dagster.masking.classifier import (
    FREE_TEXT,
    FREE_TEXT_MIN_CHARS,
    FREE_TEXT_MIN_WORDS,
    SECRET,
    has_known_name,
    looks_personal,
    match_name_rule,
    name_tokens,
)
from hfit_dagster.masking.column_kinds import ColumnKind
from hfit_dagster.masking.json_document import Leaf, RawNumber, dump, is_compact, parse_container, walk
from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.masking.span_fakes import redact_texts

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult

    from hfit_dagster.masking.text_analysis import TextAnalyzer

JSON_SHARE = 0.5  # share of sampled values that must be JSON objects/arrays for a column to be JSON
MAX_SAMPLED_LEAVES = 1000  # distinct leaf strings Presidio looks at when classifying (first seen first)
_KEY_CANDIDATE = re.compile(r"@|\d(?:\D?\d){6}")  # object keys that could be an email, phone or id
_BARE_NAME = re.compile(r"^(?:name|names)$")


def key_operator(key: str | None, parent_key: str | None, siblings: list[str], value: Any) -> str | None:
    """The operator the column-name rules give a leaf by its key, or None (Presidio decides)."""
    if key is None or isinstance(value, bool) or value is None:
        return None
    kind = ColumnKind.INTEGER if isinstance(value, RawNumber) else ColumnKind.TEXT
    if kind == ColumnKind.INTEGER and not re.fullmatch(r"-?\d+", value):
        return None
    rule = match_name_rule(key, kind)
    if rule is not None:
        if rule.operator == FREE_TEXT:
            return None
        return "null" if rule.operator == SECRET else rule.operator
    if kind == ColumnKind.TEXT and _BARE_NAME.match(name_tokens(key)):
        personal, _ = looks_personal(parent_key or "", [(s, "TEXT") for s in siblings if s != key])
        if personal:
            return "person_name"
    return None


def _is_free_text(text: str) -> bool:
    return len(text) >= FREE_TEXT_MIN_CHARS or len(text.split()) >= FREE_TEXT_MIN_WORDS


def leaf_results(
    texts: Sequence[str], analyzer: TextAnalyzer, *, keys: bool = False
) -> list[list[RecognizerResult]]:
    """Presidio results per leaf text (or object key), with the short-value rules applied."""
    found = analyzer.analyze_many(list(texts))
    out: list[list[RecognizerResult]] = []
    for text, results in zip(texts, found, strict=True):
        if keys:
            out.append([r for r in results if r.entity_type not in NER_ENTITIES])
        elif _is_free_text(text):
            out.append(list(results))
        else:
            out.append([
                r for r in results
                if r.entity_type not in NOISY_IN_SHORT_LEAVES
                and (r.entity_type != "PERSON" or has_known_name(text[r.start : r.end]))
            ])  # fmt: skip
    return out


# ------------------------------------------------------------------------------------ classification


@dataclass
class JsonFindings:
    """What a walk over sampled documents found (paths and entities, never values)."""

    documents: int = 0
    values: int = 0
    leaves: int = 0
    by_key: dict[str, str] = field(default_factory=dict)  # path -> operator
    by_presidio: dict[str, set[str]] = field(default_factory=dict)  # path -> entities

    @property
    def entities(self) -> list[str]:
        found = {operator_entity(op) or op.upper() for op in self.by_key.values() if op in OPERATOR_SPECS}
        for entities in self.by_presidio.values():
            found |= entities
        return sorted(found)

    @property
    def has_pii(self) -> bool:
        return bool(self.by_key or self.by_presidio)

    def evidence(self) -> str:
        parts = [f"JSON in {self.documents}/{self.values} sampled values ({self.leaves} leaves)"]
        if self.by_key:
            listed = ", ".join(f"{p}->{op}" for p, op in sorted(self.by_key.items())[:6])
            more = f" (+{len(self.by_key) - 6} more)" if len(self.by_key) > 6 else ""
            parts.append(f"keys: {listed}{more}")
        if self.by_presidio:
            listed = ", ".join(f"{p}: {'/'.join(sorted(e))}" for p, e in sorted(self.by_presidio.items())[:6])
            more = f" (+{len(self.by_presidio) - 6} more)" if len(self.by_presidio) > 6 else ""
            parts.append(f"presidio: {listed}{more}")
        if not self.has_pii:
            parts.append("no PII found in keys or leaves")
        return "; ".join(parts)


def classify_json(values: Sequence[str], analyzer: TextAnalyzer | None) -> JsonFindings | None:
    """Walk sampled values; None when fewer than ``JSON_SHARE`` of them are JSON objects/arrays."""
    non_empty = [v for v in values if v and v.strip()]
    docs = [d for d in (parse_container(v) for v in non_empty) if d is not None]
    if not non_empty or len(docs) / len(non_empty) < JSON_SHARE:
        return None
    findings = JsonFindings(documents=len(docs), values=len(non_empty))
    unruled: dict[str, set[str]] = {}  # leaf text -> generic paths
    keys: dict[str, set[str]] = {}
    for doc in docs:
        for leaf, parent_key, siblings in walk(doc):
            if leaf.is_key:
                if _KEY_CANDIDATE.search(str(leaf.value)):
                    keys.setdefault(str(leaf.value), set()).add(f"{_generic(leaf.path)} (key)")
                continue
            findings.leaves += 1
            op = key_operator(leaf.key, parent_key, siblings, leaf.value)
            if op is not None:
                findings.by_key[_generic(leaf.path)] = op
            elif isinstance(leaf.value, str) and not isinstance(leaf.value, RawNumber) and leaf.value.strip():
                unruled.setdefault(leaf.value, set()).add(_generic(leaf.path))
    if analyzer is not None:
        for group, as_keys in ((unruled, False), (keys, True)):
            texts = list(group)[:MAX_SAMPLED_LEAVES]
            for text, found in zip(texts, leaf_results(texts, analyzer, keys=as_keys) if texts else [], strict=True):
                for r in found:
                    for path in group[text]:
                        findings.by_presidio.setdefault(path, set()).add(r.entity_type)
    return findings


def _generic(path: str) -> str:
    return path or "$"


# --------------------------------------------------------------------------------------------- masking


def mask_json_values(values: list[str], key: bytes, analyzer: TextAnalyzer,
                     redact_plain: Callable[[list[str]], list[str]]) -> list[str]:
    """Mask distinct JSON texts: key-ruled leaves by their operator, every other string leaf and object key
    through Presidio (``analyzer``) and span faking; non-JSON values by ``redact_plain`` (free-text redaction).
    Batched over all values: one vectorized call per operator, one analysis of all Presidio leaves."""
    docs = [parse_container(v) for v in values]
    ruled: dict[str, list[Leaf]] = {}
    analyzed: list[Leaf] = []
    key_leaves: list[Leaf] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        for leaf, parent_key, siblings in walk(doc, i):
            if leaf.is_key:
                if _KEY_CANDIDATE.search(str(leaf.value)):
                    key_leaves.append(leaf)
                continue
            op = key_operator(leaf.key, parent_key, siblings, leaf.value)
            if op is not None:
                ruled.setdefault(op, []).append(leaf)
            elif isinstance(leaf.value, str) and not isinstance(leaf.value, RawNumber) and leaf.value.strip():
                analyzed.append(leaf)

    changed = [False] * len(values)
    for op_name, leaves in ruled.items():
        texts = sorted({str.__str__(leaf.value) for leaf in leaves})
        faked = None if op_name == "null" else OPERATORS[op_name].fake_texts(pa.array(texts, pa.string()), key)
        fakes: dict[str, Any] = dict.fromkeys(texts) if faked is None else dict(zip(texts, faked.to_pylist(),
                                                                                    strict=True))
        for leaf in leaves:
            fake = fakes[str.__str__(leaf.value)]
            if isinstance(leaf.value, RawNumber):
                fake = _number_fake(op_name, fake)
            leaf.set(fake)
            changed[leaf.doc] = True

    for leaves, as_keys in ((analyzed, False), (key_leaves, True)):
        if not leaves:
            continue
        texts = list(dict.fromkeys(str(leaf.value) for leaf in leaves))
        found = leaf_results(texts, analyzer, keys=as_keys)
        new = dict(zip(texts, redact_texts(texts, found, key, analyzer.entity_operators), strict=True))
        for leaf in leaves:
            replacement = new[str(leaf.value)]
            if replacement != leaf.value:
                leaf.set(replacement)
                changed[leaf.doc] = True

    plain = [i for i, d in enumerate(docs) if d is None]
    redacted_plain = dict(zip(plain, redact_plain([values[i] for i in plain]), strict=True))
    return [
        redacted_plain[i] if doc is None else dump(doc, is_compact(value)) if changed[i] else value
        for i, (value, doc) in enumerate(zip(values, docs, strict=True))
    ]


def _number_fake(operator: str, fake: Any) -> Any:
    """A masked numeric leaf stays a JSON number where the operator produces digits, else null."""
    if fake is None:
        return None
    if operator in DIGIT_OPERATORS:
        digits = re.sub(r"\D", "", str(fake))
        return RawNumber(str(int(digits))) if digits else None
    if operator == "hash":
        return RawNumber(str(int(str(fake)[:15], 16)))
    return None


def searchable_leaves(values: Sequence[str | None]) -> list[str]:
    """Original string leaves of JSON values that the key rules mask (for the leak check), never keys.

    The whole document is no evidence of a leak (a document without PII is rightly kept unchanged); the
    leaves that sat under ``email``, ``phone``, ``name`` ... keys are what must not reappear.
    """
    out: set[str] = set()
    for value in values:
        doc = parse_container(value) if value else None
        if doc is None:
            continue
        for leaf, parent_key, siblings in walk(doc):
            if leaf.is_key or isinstance(leaf.value, bool) or leaf.value is None:
                continue
            op = key_operator(leaf.key, parent_key, siblings, leaf.value)
            if op is not None and op not in ("keep", "null"):
                out.add(str.__str__(leaf.value))
    return sorted(out)
