"""The catalog of masking operators and personal-data entities: what each one is and how they relate.

Configuration as data, read by every other masking module: which Presidio entities are looked for, which
operator fakes an entity found as a span of free text or as a whole column value, which column kinds an
operator accepts, which operators are free-text operators, which ones give a row's own values to its free
text (and the stand-in that replaces such a value while the rest of the text is analyzed). The operator
implementations live in :mod:`hfit_dagster.masking.operators`; this module imports no other masking module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hfit_dagster.masking.column_kinds import ColumnKind

_STRINGS = frozenset({ColumnKind.TEXT, ColumnKind.ENUM, ColumnKind.UUID})
_DIGITS = _STRINGS | {ColumnKind.INTEGER}


@dataclass(frozen=True)
class OperatorSpec:
    """One masking operator as data.

    ``accepts``: the column kinds a template rule may apply it to (None: any kind). ``free_text``: it masks
    free text (runs after the row's own values are known). ``stand_in``: set for operators whose column values
    are looked for in the same row's free text; the realistic value of the same kind that replaces such a
    value while the rest of the text is analyzed (fixed, so equal skeletons dedupe). ``digits``: a numeric JSON
    leaf it masks stays a number. ``custom_entities``: a configured custom recognizer may name it (it fakes a
    span of free text and a whole column value alike).
    """

    name: str
    entity: str | None
    description: str
    accepts: frozenset[ColumnKind] | None = None
    free_text: bool = False
    stand_in: str | None = None
    digits: bool = False
    custom_entities: bool = False


@dataclass(frozen=True)
class EntitySpec:
    """One Presidio entity as data.

    ``span_operator`` fakes a span of it found in free text (None: the span becomes an ``<ENTITY>`` tag);
    ``column_operator`` masks a column whose sampled values *are* this entity (None: such a column is not
    masked for it). ``looked_for``: the analyzer asks Presidio for it. ``noisy_in_short_values``: too noisy in
    short values to count on its own (Presidio's low-confidence ids, places); ``noisy_in_short_leaves``: ignored
    in short JSON leaves. ``ner``: found by the NER model, never looked for in JSON object keys.
    ``row_value_operators``: a row's own value of these operators may lie inside a detected span of this entity
    and still keep its column's fake ("Jordan Avery-Brown" around the first name); inside any other entity (an
    email "anna.lee@web.de" around the first name "Anna") the span is redacted whole, as that entity.
    """

    name: str
    span_operator: str | None = None
    column_operator: str | None = None
    looked_for: bool = True
    noisy_in_short_values: bool = False
    noisy_in_short_leaves: bool = False
    ner: bool = False
    row_value_operators: frozenset[str] = frozenset()


OPERATOR_TABLE: tuple[OperatorSpec, ...] = (
    OperatorSpec("keep", None, "leave the value unchanged"),
    OperatorSpec("null", "SECRET", "replace every value by NULL", custom_entities=True),
    OperatorSpec("fixed", None, "replace every non-null value by one constant (default 'REDACTED')",
                 custom_entities=True),
    OperatorSpec("hash", "SECRET", "keyed hash, 32 hex chars (integers: same-width integer)",
                 _DIGITS | {ColumnKind.BINARY}, custom_entities=True),
    OperatorSpec("email", "EMAIL_ADDRESS", "valid address on a reserved domain, unique per input", _STRINGS,
                 stand_in="jordan.avery@example.org", custom_entities=True),
    OperatorSpec("phone", "PHONE_NUMBER", "same format and digit count, digits permuted", _DIGITS,
                 stand_in="+1 202 555 0100", digits=True, custom_entities=True),
    OperatorSpec("person_name", "PERSON", "realistic 'First Last' from a seeded pool", _STRINGS,
                 stand_in="Jordan Avery", custom_entities=True),
    OperatorSpec("first_name", "PERSON", "realistic first name from a seeded pool", _STRINGS, stand_in="Jordan"),
    OperatorSpec("last_name", "PERSON", "realistic last name from a seeded pool", _STRINGS, stand_in="Avery"),
    OperatorSpec("street_address", "STREET_ADDRESS", "realistic street address from a seeded pool", _STRINGS,
                 stand_in="1 Main Street", custom_entities=True),
    OperatorSpec("city", "LOCATION", "realistic city name from a seeded pool", _STRINGS, custom_entities=True),
    OperatorSpec("postal_code", "POSTAL_CODE", "same shape postal code", _DIGITS, stand_in="10001", digits=True,
                 custom_entities=True),
    OperatorSpec("credit_card", "CREDIT_CARD", "Luhn-valid, same length, test BIN 400000, separators kept",
                 _DIGITS, stand_in="4111 1111 1111 1111", digits=True, custom_entities=True),
    OperatorSpec("iban", "IBAN_CODE", "same country and length, valid check digits", _STRINGS,
                 stand_in="GB82 WEST 1234 5698 7654 32", custom_entities=True),
    OperatorSpec("ip_address", "IP_ADDRESS", "IPv4 -> 10.0.0.0/8, IPv6 -> 2001:db8::/32", _STRINGS,
                 stand_in="192.0.2.1", custom_entities=True),
    OperatorSpec("national_id", "NATIONAL_ID", "same shape id (SSN, passport, tax id, ...)", _DIGITS,
                 stand_in="078-05-1120", digits=True, custom_entities=True),
    OperatorSpec("shape", None, "same shape: digits->digits, letters->letters, punctuation kept", _DIGITS,
                 digits=True, custom_entities=True),
    OperatorSpec("digits", None, "digits permuted, letters and punctuation kept (unique in, unique out)", _DIGITS,
                 digits=True, custom_entities=True),
    OperatorSpec("date_of_birth", "DATE_OF_BIRTH", "date shifted by a stable per-value offset in ±180 days",
                 _STRINGS | {ColumnKind.TEMPORAL}),
    OperatorSpec("redact_text", None, "Presidio span redaction of free text", _STRINGS, free_text=True),
    OperatorSpec("json_pii", None,
                 "PII leaves in JSON faked (by key name, then Presidio); keys, structure, other values kept",
                 _STRINGS, free_text=True),
)  # fmt: skip

_NATIONAL_ID = {"span_operator": "national_id", "column_operator": "national_id"}

# LOCATION has no column operator on purpose: a column of countries or regions is not identifying; columns
# *named* city are masked by name. Entities Presidio also reports (DATE_TIME, URL, ORGANIZATION, NRP, ...) are
# not identifying on their own and would shred ordinary text, so they are not looked for.
ENTITY_TABLE: tuple[EntitySpec, ...] = (
    EntitySpec("PERSON", "person_name", "person_name", ner=True,
               row_value_operators=frozenset({"person_name", "first_name", "last_name"})),
    EntitySpec("EMAIL_ADDRESS", "email", "email", row_value_operators=frozenset({"email"})),
    EntitySpec("PHONE_NUMBER", "phone", "phone", row_value_operators=frozenset({"phone"})),
    EntitySpec("CREDIT_CARD", "credit_card", "credit_card", row_value_operators=frozenset({"credit_card"})),
    EntitySpec("IBAN_CODE", "iban", "iban", row_value_operators=frozenset({"iban"})),
    EntitySpec("IP_ADDRESS", "ip_address", "ip_address", row_value_operators=frozenset({"ip_address"})),
    EntitySpec("LOCATION", "city", None, noisy_in_short_values=True, noisy_in_short_leaves=True, ner=True),
    EntitySpec("STREET_ADDRESS", "street_address", "street_address",
               row_value_operators=frozenset({"street_address", "postal_code"})),
    EntitySpec("US_SSN", **_NATIONAL_ID),
    EntitySpec("US_ITIN", **_NATIONAL_ID),
    EntitySpec("US_PASSPORT", **_NATIONAL_ID),
    EntitySpec("US_DRIVER_LICENSE", "national_id", None, noisy_in_short_values=True, noisy_in_short_leaves=True),
    EntitySpec("US_BANK_NUMBER", "national_id", None, noisy_in_short_values=True, noisy_in_short_leaves=True),
    EntitySpec("UK_NHS", **_NATIONAL_ID),
    EntitySpec("UK_NINO", **_NATIONAL_ID),
    EntitySpec("MEDICAL_LICENSE", **_NATIONAL_ID),
    EntitySpec("CRYPTO", None, "hash"),
    # found by hfit's own free-text rules (masking/recognizers/), in text only: no column is classified by them
    EntitySpec("NATIONAL_ID", "national_id", noisy_in_short_leaves=True),
    EntitySpec("PASSPORT", "national_id", noisy_in_short_leaves=True),
    EntitySpec("TAX_ID", "national_id", noisy_in_short_leaves=True),
    EntitySpec("BANK_ACCOUNT", "national_id", noisy_in_short_leaves=True),
    EntitySpec("DATE_OF_BIRTH", "date_of_birth", noisy_in_short_leaves=True),
    EntitySpec("SECRET", None, noisy_in_short_leaves=True),
    EntitySpec("NRP", looked_for=False, noisy_in_short_leaves=True, ner=True),
    EntitySpec("ORGANIZATION", looked_for=False, ner=True),
)  # fmt: skip

OPERATOR_SPECS: dict[str, OperatorSpec] = {spec.name: spec for spec in OPERATOR_TABLE}

# Derived views, each read by one kind of caller.
TEXT_OPERATORS = frozenset(s.name for s in OPERATOR_TABLE if s.free_text)


def masks_free_text(rules: Mapping[str, str]) -> bool:
    """Whether masking ``rules`` (a template's ``masking:``, column -> operator) mask free text by rule: a build of
    theirs needs the text analyzer whatever its tables hold."""
    return bool(TEXT_OPERATORS & set(rules.values()))

CONTEXT_OPERATORS = frozenset(s.name for s in OPERATOR_TABLE if s.stand_in is not None)
STAND_INS: dict[str, str] = {s.name: s.stand_in for s in OPERATOR_TABLE if s.stand_in is not None}
DIGIT_OPERATORS = frozenset(s.name for s in OPERATOR_TABLE if s.digits)
CUSTOM_ENTITY_OPERATORS: tuple[str, ...] = tuple(s.name for s in OPERATOR_TABLE if s.custom_entities)
OPERATOR_KINDS: dict[str, frozenset[ColumnKind]] = {s.name: s.accepts for s in OPERATOR_TABLE
                                                    if s.accepts is not None}
SPAN_OPERATORS: dict[str, str] = {e.name: e.span_operator for e in ENTITY_TABLE if e.span_operator}
COLUMN_OPERATORS: dict[str, str] = {e.name: e.column_operator for e in ENTITY_TABLE if e.column_operator}
PII_ENTITIES = frozenset(e.name for e in ENTITY_TABLE if e.looked_for)
NOISY_IN_SHORT_VALUES = frozenset(e.name for e in ENTITY_TABLE if e.noisy_in_short_values)
NOISY_IN_SHORT_LEAVES = frozenset(e.name for e in ENTITY_TABLE if e.noisy_in_short_leaves)
NER_ENTITIES = frozenset(e.name for e in ENTITY_TABLE if e.ner)
SAME_KIND: dict[str, frozenset[str]] = {e.name: e.row_value_operators for e in ENTITY_TABLE
                                        if e.row_value_operators}
# Column-name entities masked whole (nulled or hashed), never walked as JSON documents.
WHOLE_VALUE_ENTITIES = frozenset({"SECRET", "USERNAME"})


def operator_entity(name: str) -> str | None:
    """The entity an operator's fakes stand for (None: not one entity, or not in the catalog)."""
    spec = OPERATOR_SPECS.get(name)
    return spec.entity if spec is not None else None
