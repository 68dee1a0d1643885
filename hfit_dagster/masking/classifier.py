"""Decide, explainably, whether a column holds personal data and which operator fakes it.

Two signals, cheapest first:

1. **Name and type.** ``email``, ``phone``, ``first_name``, ``card_number``, ``date_of_birth`` ... are
   decided from the column name, but only when the SQL type can hold such a value (``email_verified``
   BOOLEAN is not an email). Free-text names (``notes``, ``comment``, ``description``, ``message``) are
   only *flagged*: Presidio decides whether their values really contain PII.
   ``name`` alone is ambiguous: it is a person's name on a person-like table (the table name says
   customers/users/employees/..., or another column is named like personal data: email, phone,
   first/last name, birth date, address) and left to Presidio elsewhere (``products.name``).
2. **Values.** Presidio runs over up to ``sample_size`` distinct sampled values of the remaining text
   columns. If at least ``STRUCTURED_SHARE`` of them *are* one entity (the span covers most of the value),
   the column gets that entity's operator (the catalog's ``COLUMN_OPERATORS``; custom recognizers from
   configuration bring their own). If the
   values are free text (long or wordy) and any of them contains a PII span, the column gets
   ``redact_text``; short text needs ``STRUCTURED_SHARE`` of values containing PII for ``redact_text``.
   Values that are JSON objects/arrays are walked instead (:mod:`json_pii`, decided in the planner).

Whatever is left (keys, numbers, flags, dates, text without PII) is kept. This module returns
:class:`Classification` values; :mod:`hfit_dagster.masking.plan` applies precedence (rules first).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hfit_dagster.masking.catalog import COLUMN_OPERATORS, NOISY_IN_SHORT_VALUES
from hfit_dagster.masking.column_kinds import ColumnKind, column_kind

if TYPE_CHECKING:
    from hfit_dagster.masking.text_analysis import TextAnalyzer

PERSON_ALONE_SHARE = 0.8  # PERSON share that masks a column even without a known first/last name
PERSON_CONFIRMED_SHARE = 0.25  # ... or this share of values with a known first/last name token
STRUCTURED_SHARE = 0.5  # share of sampled values that must be one entity (or contain PII, short text)
WHOLE_VALUE_COVERAGE = 0.6  # a span covering this share of a value means the value *is* that entity
FREE_TEXT_MIN_CHARS = 40  # mean length above which a column is free text
FREE_TEXT_MIN_WORDS = 6  # ... or mean word count
DEFAULT_SAMPLE_SIZE = 50

PERSON_TABLE_WORDS = frozenset(
    {
        "customer", "customers", "user", "users", "person", "persons", "people", "employee", "employees",
        "contact", "contacts", "member", "members", "patient", "patients", "staff", "client", "clients",
        "author", "authors", "student", "students", "subscriber", "subscribers", "guest", "guests",
        "passenger", "passengers", "driver", "drivers", "recipient", "recipients", "applicant",
        "applicants", "candidate", "candidates", "owner", "owners", "profile", "profiles", "lead", "leads",
        "account", "accounts", "buyer", "buyers", "seller", "sellers", "tenant", "tenants",
    }
)  # fmt: skip


def name_tokens(name: str) -> str:
    """``"customerEmailAddress"`` -> ``"customer_email_address"``: one normal form for name rules."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return "_".join(t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t)


@dataclass(frozen=True)
class Classification:
    """One decision with its reason; ``source`` is "name" | "presidio" | "type" | "key" | "default"."""

    operator: str
    entity: str | None
    confidence: float
    evidence: str
    source: str


@dataclass(frozen=True)
class NameRule:
    """A column-name pattern (over :func:`name_tokens`) and the kinds of column it applies to."""

    pattern: re.Pattern[str]
    suffix_pattern: re.Pattern[str]
    operator: str
    entity: str | None
    kinds: frozenset[ColumnKind]
    confidence: float = 0.9
    personal: bool = True  # counts as a "this table is about people" signal for a bare `name`


FREE_TEXT = "free_text"  # pseudo-operator: Presidio on the values decides
SECRET = "secret"  # pseudo-operator: null when nullable, else hash

_T = frozenset({ColumnKind.TEXT})
_TI = frozenset({ColumnKind.TEXT, ColumnKind.INTEGER})


def _rule(
    words: str,
    operator: str,
    entity: str | None,
    kinds: frozenset[ColumnKind] = _T,
    confidence: float = 0.9,
    personal: bool = True,
) -> NameRule:
    return NameRule(
        re.compile(rf"(?:^|_)(?:{words})(?:_|$)"),
        re.compile(rf"(?:^|_)(?:{words})$"),
        operator,
        entity,
        kinds,
        confidence,
        personal,
    )


# Order matters: the first matching rule wins (email_address is an email, not a street address).
NAME_RULES: tuple[NameRule, ...] = (
    _rule(r"password|passwd|pwd|pass_?hash|secret|token|api_?key|access_?key|private_?key|salt|otp|totp"
          r"|session_?id|auth_?code", SECRET, "SECRET",
          frozenset({ColumnKind.TEXT, ColumnKind.BINARY}), 0.9, personal=False),
    _rule(r"e_?mail|mail|email_?address", "email", "EMAIL_ADDRESS", confidence=0.95),
    _rule(r"ip|ip_?addr(?:ess)?|ipv4|ipv6|remote_?addr|client_?ip", "ip_address", "IP_ADDRESS",
          confidence=0.9, personal=False),
    _rule(r"mac|mac_?addr(?:ess)?", "shape", "MAC_ADDRESS", confidence=0.8, personal=False),
    _rule(r"phone|mobile|tel|telephone|fax|cell|cellphone|msisdn|phone_?number", "phone", "PHONE_NUMBER",
          _TI, 0.95),
    _rule(r"card_?number|card_?no|cc_?number|cc_?num|credit_?card|pan", "credit_card", "CREDIT_CARD",
          _TI, 0.95),
    _rule(r"iban", "iban", "IBAN_CODE", confidence=0.95),
    _rule(r"bank_?account|account_?number|account_?no", "national_id", "BANK_ACCOUNT", _TI, 0.85),
    _rule(r"ssn|social_?security(?:_?number)?|national_?id|national_?insurance(?:_?number)?|nin|tax_?id"
          r"|taxpayer_?id|tin|vat_?id|vat_?number|passport(?:_?number|_?no)?|drivers?_?licen[cs]e(?:_?number)?"
          r"|id_?card(?:_?number)?", "national_id", "NATIONAL_ID", _TI, 0.9),
    _rule(r"date_of_birth|dob|birth_?date|birthdate|birthday|born_on", "date_of_birth", "DATE_OF_BIRTH",
          frozenset({ColumnKind.TEMPORAL, ColumnKind.TEXT}), 0.95),
    _rule(r"first_?name|given_?name|forename|fname|middle_?name", "first_name", "PERSON", confidence=0.95),
    _rule(r"last_?name|surname|family_?name|lname|maiden_?name", "last_name", "PERSON", confidence=0.95),
    _rule(r"full_?name|person_?name|contact_?name|customer_?name|display_?name|recipient(?:_?name)?"
          r"|card_?holder(?:_?name)?|holder_?name|billing_?name|shipping_?name|employee_?name|patient_?name",
          "person_name", "PERSON", confidence=0.9),
    _rule(r"user_?name|username|login|nickname|screen_?name", "hash", "USERNAME", confidence=0.7),
    _rule(r"street(?:_?address)?|address(?:_?line)?(?:_?\d)?|addr(?:_?\d)?|address\d|house_?number"
          r"|billing_?address|shipping_?address|home_?address", "street_address", "STREET_ADDRESS",
          confidence=0.85),
    _rule(r"city|town|municipality|locality", "city", "LOCATION", confidence=0.8),
    _rule(r"postal_?code|post_?code|postcode|zip|zip_?code|zipcode", "postal_code", "POSTAL_CODE", _TI, 0.85),
    _rule(r"notes?|comments?|description|desc|message|msg|remarks?|body|feedback|memo|details|text|content"
          r"|bio|about", FREE_TEXT, None, confidence=0.5, personal=False),
)  # fmt: skip

_BARE_NAME = re.compile(r"^(?:name|names)$")


def match_name_rule(column: str, kind: ColumnKind) -> NameRule | None:
    """The first name rule that matches this column name and can apply to its kind.

    On INTEGER columns the rule must match the *end* of the name (``customer_phone``, ``zip``), so
    counters such as ``mobile_sessions`` or ``cell_count`` are not taken for phone numbers.
    """
    tokens = name_tokens(column)
    for rule in NAME_RULES:
        if kind not in rule.kinds:
            continue
        pattern = rule.suffix_pattern if kind == ColumnKind.INTEGER else rule.pattern
        if pattern.search(tokens):
            return rule
    return None


def looks_personal(table: str, columns: Iterable[tuple[str, str]]) -> tuple[bool, str]:
    """Whether a bare ``name`` column on this table is a person's name, and why.

    ``columns`` are (name, sql_type) of the table's columns.
    """
    table_words = set(name_tokens(table).split("_"))
    hit = table_words & PERSON_TABLE_WORDS
    if hit:
        return True, f"table '{table}' holds people"
    for name, sql_type in columns:
        rule = match_name_rule(name, column_kind(sql_type))
        if rule is not None and rule.personal:
            return True, f"table also has personal column '{name}'"
    return False, ""


def classify_by_name(
    table: str, column: str, sql_type: str, siblings: Sequence[tuple[str, str]], nullable: bool = True
) -> Classification | None:
    """A decision from the column name alone, or None (FREE_TEXT means "let Presidio look")."""
    kind = column_kind(sql_type)
    rule = match_name_rule(column, kind)
    if rule is not None:
        operator = rule.operator
        if operator == SECRET:
            operator = "null" if nullable else "hash"
        return Classification(operator, rule.entity, rule.confidence, f"column name '{column}'", "name")
    if kind == ColumnKind.TEXT and _BARE_NAME.match(name_tokens(column)):
        personal, why = looks_personal(table, [s for s in siblings if s[0] != column])
        if personal:
            return Classification("person_name", "PERSON", 0.8, f"column name '{column}'; {why}", "name")
    return None


def classify_by_type(sql_type: str) -> Classification | None:
    """Keep columns whose type cannot carry free-form personal data (numbers, flags, dates, uuids)."""
    kind = column_kind(sql_type)
    if kind in (ColumnKind.TEXT,):
        return None
    return Classification("keep", None, 0.9, f"type {sql_type} ({kind.value})", "type")


_NAME_LOCALES = ("en_US", "en_GB", "es_ES", "de_DE", "fr_FR", "it_IT", "pt_BR", "nl_NL", "pl_PL")


@functools.lru_cache(maxsize=1)
def known_name_tokens() -> frozenset[str]:
    """Lower-cased first and last names of Faker's person providers for a few common locales.

    Why: spaCy's small English model calls many Title Case pairs ("Wireless Mouse") a PERSON. A column
    is masked as person names when most values are PERSON *and* some contain a real first/last name, or
    when nearly all values are PERSON.
    """
    names: set[str] = set()
    for locale in _NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female", "last_names"):
            names.update(n.lower() for n in getattr(provider, attr, ()))
    return frozenset(names)


def has_known_name(text: str) -> bool:
    """Whether ``text`` contains a first or last name of Faker's person providers (a few locales)."""
    return any(token in known_name_tokens() for token in re.findall(r"[^\W\d_]+", text.lower()))


def _covers_whole(value: str, start: int, end: int) -> bool:
    stripped = value.strip()
    return bool(stripped) and (end - start) / len(stripped) >= WHOLE_VALUE_COVERAGE


def _is_free_text(values: Sequence[str]) -> bool:
    mean_chars = sum(len(v) for v in values) / len(values)
    mean_words = sum(len(v.split()) for v in values) / len(values)
    return mean_chars >= FREE_TEXT_MIN_CHARS or mean_words >= FREE_TEXT_MIN_WORDS


def classify_by_values(
    values: Sequence[str], analyzer: TextAnalyzer, *, free_text_hint: bool = False
) -> Classification:
    """Presidio over sampled distinct values; always returns a decision (``keep`` when nothing found)."""
    values = [v for v in values if v and v.strip()]
    n = len(values)
    if n == 0:
        return Classification("keep", None, 0.5, "no non-empty sampled values", "presidio")
    found = analyzer.analyze_many(values)
    whole: Counter[str] = Counter()
    contains: Counter[str] = Counter()
    confirmed_person = 0
    any_pii = 0
    short_pii = 0
    for value, results in zip(values, found, strict=True):
        entities = {r.entity_type for r in results}
        contains.update(entities)
        any_pii += bool(entities)
        short_pii += bool(entities - NOISY_IN_SHORT_VALUES)
        whole.update({r.entity_type for r in results if _covers_whole(value, r.start, r.end)})
        confirmed_person += any(
            r.entity_type == "PERSON" and has_known_name(value[r.start : r.end]) for r in results
        )
    free_text = free_text_hint or _is_free_text(values)

    if not free_text:
        for entity, count in whole.most_common():
            operator = COLUMN_OPERATORS.get(entity) or analyzer.column_operator(entity)
            if operator is None or count / n < STRUCTURED_SHARE:
                continue
            evidence = f"presidio: {count}/{n} sampled values {entity}"
            if entity == "PERSON":
                evidence += f" ({confirmed_person} with a known first/last name)"
                if count / n < PERSON_ALONE_SHARE and confirmed_person / n < PERSON_CONFIRMED_SHARE:
                    continue
            return Classification(operator, entity, round(count / n, 2), evidence, "presidio")
    listed = ", ".join(e for e, _ in contains.most_common(4))
    if free_text and any_pii:
        return Classification(
            "redact_text", None, round(0.6 + 0.4 * any_pii / n, 2),
            f"presidio: {any_pii}/{n} sampled texts contain {listed}", "presidio",
        )  # fmt: skip
    person_only = set(contains) <= {"PERSON"} | NOISY_IN_SHORT_VALUES
    person_unconfirmed = person_only and confirmed_person / n < PERSON_CONFIRMED_SHARE
    if not free_text and short_pii / n >= STRUCTURED_SHARE and not person_unconfirmed:
        return Classification(
            "redact_text", None, round(short_pii / n, 2),
            f"presidio: {short_pii}/{n} sampled values contain {listed}", "presidio",
        )  # fmt: skip
    what = "texts" if free_text else "values"
    if any_pii:
        evidence = f"presidio: {any_pii}/{n} sampled {what} contain {listed}, below the masking threshold"
    else:
        evidence = f"presidio: no PII in {n} sampled {what}"
    return Classification("keep", None, 0.7, evidence, "presidio")
