"""Structured personal data recognized by the shape of values, over whole Arrow arrays.

What a column's name or type does not say, its values may: an email used as a primary key, an SSN or a
phone number stored as BIGINT, a BLOB holding UTF-8 text, dates of birth or postcodes under neutral names.
These recognizers look for the entities that have a strict shape - emails, phone numbers, US SSNs, payment
cards (Luhn and issuer prefix), IBANs (mod-97) - with RE2 expressions run by Arrow over a whole array and
numpy validators over the candidates, never a Python loop per value and never NER. They serve two callers:

* the planner (:mod:`plan`): a column whose sampled values mostly *are* one entity is masked by it;
* staging's watch over kept columns (``pipeline/kept_column_watch.py``): every batch of a kept column is
  searched, and a value that *contains* one of these entities fails the build.

Nothing here returns or formats a value: results are counts per entity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Each pattern finds the entity inside a longer text; the ones with a validator are checked after a match.
EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
SSN = r"(?:^|[^0-9A-Za-z\-])(?P<area>[0-8][0-9]{2})-(?P<group>[0-9]{2})-(?P<serial>[0-9]{4})(?:$|[^0-9A-Za-z\-])"
PHONE = (r"(?:^|[^0-9A-Za-z\-+])(?:\+[1-9][0-9]{0,2}[ .\-]?\(?[0-9]{1,4}\)?(?:[ .\-]?[0-9]{2,4}){2,4}"
         r"|\(?[2-9][0-9]{2}\)?[ .\-][2-9][0-9]{2}[ .\-][0-9]{4})(?:$|[^0-9A-Za-z\-])")
CARD = r"(?:^|[^0-9])(?P<card>(?:[0-9][ \-]?){12,18}[0-9])(?:$|[^0-9])"
IBAN = r"(?:^|[^A-Za-z0-9])(?P<iban>[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?:$|[^A-Za-z0-9])"
# digits of a card number whose issuer prefix and length belong to a card brand
CARD_BRANDS = (r"^(?:4[0-9]{12}(?:[0-9]{3}){0,2}|5[1-5][0-9]{14}|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9]{2}|7[01][0-9]"
               r"|720)[0-9]{12}|3[47][0-9]{13}|6(?:011|5[0-9]{2}|4[4-9][0-9])[0-9]{12,15}"
               r"|35(?:2[89]|[3-8][0-9])[0-9]{12,15}|3(?:0[0-5]|[68][0-9])[0-9]{11,16})$")
# any value that may hold one of the entities above, in one RE2 pass (Arrow calls RE2 once per value per
# expression, so one pass over the batch drops nearly every value and the others are looked at entity by entity)
CANDIDATE = "|".join(f"(?:{re.sub(r'[(][?]P<[a-z]+>', '(?:', p)})" for p in (EMAIL, PHONE, SSN, CARD, IBAN))

POSTCODE_SHAPES = (
    r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$",  # UK
    r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$",  # Canada
    r"^[0-9]{5}-[0-9]{4}$",  # US ZIP+4
    r"^[1-9][0-9]{3} ?[A-Z]{2}$",  # Netherlands
    r"^[0-9]{2}-[0-9]{3}$",  # Poland
)
PLAIN_POSTCODE = r"^[0-9]{4,5}$"  # a postcode only on a table about people

# the entity each recognizer stands for, as the catalog names it
ENTITY_OPERATORS = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "US_SSN": "national_id",
                    "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban"}

WHOLE_SHARE = 0.8  # share of non-empty sampled values that must *be* one entity for the column to be it
MIN_SHAPED_VALUES = 5  # fewer distinct non-empty values say too little about a shape
MIN_BIRTH_AGE, MAX_BIRTH_AGE = 14, 110  # years: the ages a date of birth in a table about people has


@dataclass(frozen=True)
class ShapeFinding:
    """A column's values recognized as one entity: its operator, and the counts that say so."""

    entity: str
    operator: str
    matched: int
    total: int

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0

    def evidence(self, what: str = "sampled values") -> str:
        return f"value shapes: {self.matched}/{self.total} {what} {self.entity}"


def as_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """The non-empty values of a column as strings (binary read as UTF-8, invalid bytes dropped), distinct;
    None when the column cannot hold text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary
    t = values.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        values = binary_as_text(values)
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        values = values.cast(pa.string())
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    values = pc.unique(values.drop_null())
    return values.filter(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0))


def binary_as_text(values: pa.Array) -> pa.Array:
    """Binary values as strings: those that are valid UTF-8 text (no NUL bytes), the rest NULL."""
    values = values.cast(pa.large_binary()) if pa.types.is_binary(values.type) else values
    try:
        return values.cast(pa.large_string())
    except pa.ArrowInvalid:
        pass
    # some values are not UTF-8: keep the ones that are, one pass in C per value group
    text = pa.array([None] * len(values), type=pa.large_string())
    valid = []
    for chunk_start in range(0, len(values), 4096):
        part = values.slice(chunk_start, 4096)
        try:
            valid.append(part.cast(pa.large_string()))
        except pa.ArrowInvalid:
            valid.append(pa.array([_utf8_or_none(v) for v in part.to_pylist()], type=pa.large_string()))
    text = pa.concat_arrays(valid) if valid else text
    return pc.if_else(pc.match_substring(text, "\x00"), pa.scalar(None, pa.large_string()), text)


def _utf8_or_none(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def luhn_valid(digits: pa.Array) -> np.ndarray:
    """Per value of a string array of ASCII digits: does it pass the Luhn check (numpy, grouped by length)."""
    lengths = np.asarray(pc.binary_length(digits).fill_null(0))
    ok = np.zeros(len(digits), dtype=bool)
    for size in np.unique(lengths):
        if size == 0:
            continue
        rows = np.flatnonzero(lengths == size)
        group = digits.take(pa.array(rows)).cast(pa.binary())
        data = np.frombuffer(group.buffers()[2], dtype=np.uint8)
        start = int(np.frombuffer(group.buffers()[1], dtype=np.int32)[group.offset])
        matrix = (data[start : start + len(rows) * size].reshape(len(rows), size) - 48).astype(np.int64)
        doubled = matrix[:, ::-1].copy()
        doubled[:, 1::2] *= 2
        doubled[:, 1::2] -= 9 * (doubled[:, 1::2] > 9)
        ok[rows] = doubled.sum(axis=1) % 10 == 0
    return ok


def _iban_valid(candidate: str | bytes) -> bool:
    text = candidate.decode("ascii") if isinstance(candidate, bytes) else candidate  # matched: ASCII only
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def entity_hits(values: pa.Array) -> dict[str, np.ndarray]:
    """Per entity, a boolean per value of a string or binary array: does the value contain that entity
    (validated). Binary values are searched as bytes: text inside a BLOB is found whatever surrounds it.

    Pass distinct values where a column repeats: the cost is one RE2 call per value for the whole batch, and
    more only for the few values that match the combined expression."""
    n = len(values)
    hits: dict[str, np.ndarray] = {}
    candidate = np.asarray(pc.match_substring_regex(values, CANDIDATE).fill_null(False))
    if not candidate.any():
        return hits
    rows = np.flatnonzero(candidate)
    subset = values.take(pa.array(rows))

    def found(mask: np.ndarray) -> np.ndarray:
        full = np.zeros(n, dtype=bool)
        full[rows[mask]] = True
        return full

    email = np.asarray(pc.match_substring_regex(subset, EMAIL).fill_null(False))
    if email.any():
        hits["EMAIL_ADDRESS"] = found(email)
    phone = np.asarray(pc.match_substring_regex(subset, PHONE).fill_null(False))
    if phone.any():
        hits["PHONE_NUMBER"] = found(phone)
    ssn = pc.extract_regex(subset, SSN)
    area = pc.struct_field(ssn, [0])
    valid = pc.and_(pc.and_(pc.not_equal(area, "000"), pc.not_equal(area, "666")),
                    pc.and_(pc.not_equal(pc.struct_field(ssn, [1]), "00"), pc.not_equal(pc.struct_field(ssn, [2]),
                                                                                         "0000")))
    ssn_ok = np.asarray(valid.fill_null(False))
    if ssn_ok.any():
        hits["US_SSN"] = found(ssn_ok)
    card = pc.struct_field(pc.extract_regex(subset, CARD), [0])
    digits = pc.replace_substring_regex(card, r"[^0-9]", "")
    branded = np.asarray(pc.match_substring_regex(digits, CARD_BRANDS).fill_null(False))
    if branded.any():
        card_ok = np.zeros(len(subset), dtype=bool)
        branded_rows = np.flatnonzero(branded)
        card_ok[branded_rows] = luhn_valid(digits.take(pa.array(branded_rows)))
        if card_ok.any():
            hits["CREDIT_CARD"] = found(card_ok)
    iban = pc.struct_field(pc.extract_regex(subset, IBAN), [0])
    iban_rows = np.flatnonzero(np.asarray(iban.is_valid()))
    if len(iban_rows):  # few values have an IBAN's shape: their check digits are verified one by one
        iban_ok = np.zeros(len(subset), dtype=bool)
        for row, text in zip(iban_rows, iban.take(pa.array(iban_rows)).to_pylist(), strict=True):
            iban_ok[row] = _iban_valid(text)
        if iban_ok.any():
            hits["IBAN_CODE"] = found(iban_ok)
    return hits


def whole_value_entity(values: pa.Array) -> ShapeFinding | None:
    """The entity that at least ``WHOLE_SHARE`` of the (distinct, non-empty) string ``values`` *are*: a value
    must match the entity's recognizer (validated) and consist of it; bare runs of 7-15 digits are SSNs or
    phone numbers only when the digits say so (``integer_entity``)."""
    total = len(values)
    if total < MIN_SHAPED_VALUES:
        return None
    trimmed = pc.utf8_trim_whitespace(values)
    whole = {
        "EMAIL_ADDRESS": f"^{EMAIL}$",
        "US_SSN": r"^[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}$",
        "PHONE_NUMBER": r"^(?:\+[1-9][0-9]{0,2}[ .\-]?)?\(?[0-9]{2,4}\)?(?:[ .\-]?[0-9]{2,4}){2,4}$",
        "CREDIT_CARD": r"^[0-9][0-9 \-]{11,22}[0-9]$",
        "IBAN_CODE": r"^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{11,38}$",
    }
    hits = entity_hits(trimmed)
    best: ShapeFinding | None = None
    for entity, pattern in whole.items():
        if entity not in hits:
            continue
        shaped = np.asarray(pc.match_substring_regex(trimmed, pattern).fill_null(False)) & hits[entity]
        matched = int(shaped.sum())
        if matched / total >= WHOLE_SHARE and (best is None or matched > best.matched):
            best = ShapeFinding(entity, ENTITY_OPERATORS[entity], matched, total)
    if best is None:
        plain = trimmed.filter(pc.match_substring_regex(trimmed, r"^[0-9]{7,15}$"))
        if len(plain) / total >= WHOLE_SHARE:
            found = integer_entity(plain.cast(pa.int64()), min_values=MIN_SHAPED_VALUES)
            if found is not None:
                best = ShapeFinding(found.entity, found.operator, found.matched, total)
    return best


def integer_entity(values: pa.Array, *, min_values: int = 20) -> ShapeFinding | None:
    """SSNs or phone numbers stored as integers: at least ``WHOLE_SHARE`` of the distinct values have the
    shape (US SSN: area 001-899 but 666, group and serial not zero; NANP phone: 10 digits, or 11 with a
    leading 1, area and exchange not starting with 0 or 1), and the values are not a sequence (auto-increment
    ids and counters are; random identifiers are not)."""
    v = np.asarray(pc.unique(values.drop_null()).cast(pa.int64(), safe=False), dtype=np.int64)
    v = v[v > 0]
    if len(v) < min_values:
        return None
    ssn = (v >= 1_000_000) & (v <= 899_999_999)
    area, group, serial = v // 1_000_000, (v // 10_000) % 100, v % 10_000
    ssn &= (area != 666) & (area > 0) & (group > 0) & (serial > 0)
    national = v % 10_000_000_000
    nanp = ((v >= 2_000_000_000) & (v < 10_000_000_000)) | ((v >= 12_000_000_000) & (v < 20_000_000_000))
    nanp &= ((national // 10_000) % 1000) >= 200
    sorted_v = np.sort(v)
    gaps = np.diff(sorted_v)
    if len(gaps) and np.median(gaps) <= 1:  # consecutive values: ids or counters, not random identifiers
        return None
    for entity, mask in (("US_SSN", ssn), ("PHONE_NUMBER", nanp)):
        matched = int(mask.sum())
        if matched / len(v) >= WHOLE_SHARE:
            return ShapeFinding(entity, ENTITY_OPERATORS[entity], matched, len(v))
    return None


def birth_dates(values: pa.Array, today: date | None = None) -> ShapeFinding | None:
    """Dates that look like dates of birth: nearly all of them ``MIN_BIRTH_AGE``..``MAX_BIRTH_AGE`` years
    ago, spread over decades (an order or event date is recent and clustered)."""
    if not (pa.types.is_date(values.type)):
        return None
    years = np.asarray(pc.year(values.drop_null()), dtype=np.int64)
    if len(np.unique(years)) < MIN_SHAPED_VALUES or len(years) < 20:
        return None
    this_year = (today or date.today()).year
    ages = this_year - years
    adult = (ages >= MIN_BIRTH_AGE) & (ages <= MAX_BIRTH_AGE)
    low, high = np.percentile(years, [25, 75])
    if adult.mean() >= 0.95 and high - low >= 8:
        return ShapeFinding("DATE_OF_BIRTH", "date_of_birth", int(adult.sum()), len(years))
    return None


def iso_dates(values: pa.Array) -> pa.Array:
    """Text values written as ISO dates (``1985-03-12``), as dates; the others left out."""
    dated = values.filter(pc.match_substring_regex(values, r"^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$"))
    try:
        return dated.cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # an impossible date (2023-02-30): not dates
        return pa.array([], pa.date32())


def postcodes(values: pa.Array, *, personal_table: bool) -> ShapeFinding | None:
    """Postcodes by their national shapes (UK, Canada, ZIP+4, NL, PL); plain 4-5 digit codes only on a table
    about people."""
    total = len(values)
    if total < MIN_SHAPED_VALUES:
        return None
    upper = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    shaped = np.zeros(total, dtype=bool)
    for pattern in POSTCODE_SHAPES + ((PLAIN_POSTCODE,) if personal_table else ()):
        shaped |= np.asarray(pc.match_substring_regex(upper, pattern).fill_null(False))
    matched = int(shaped.sum())
    if matched / total >= WHOLE_SHARE:
        return ShapeFinding("POSTAL_CODE", "postal_code", matched, total)
    return None


NOT_AN_IDENTIFIER = re.compile(
    r"(?:^|_)(?:id|count|qty|quantity|amount|price|total|cents|balance|cost|fee|sum|size|bytes|version|year"
    r"|seq|sequence|rank|score|level|stock|weight|height|width|length|duration|seconds|ms|millis|timestamp"
    r"|epoch|ts|number_of|num)(?:_|$)")


def may_be_identifier(column_tokens: str) -> bool:
    """Whether an integer column's name (in ``name_tokens`` form) leaves room for a personal identifier:
    counts, amounts, sizes, ids and timestamps are named so and are not looked at by value."""
    return NOT_AN_IDENTIFIER.search(column_tokens) is None
