"""Phone numbers of many countries, with or without the country code, by libphonenumber (``phonenumbers``).

A run of digits and phone punctuation is a phone number when libphonenumber calls it a valid number: written
with ``+``/``00`` and a country code, or in the national format of one of :data:`REGIONS` (the most common
origins of customers and callers, 50 countries); or when it is written as one, valid or not (``+`` and a country
code, ``(NNN) NNN-NNNN``). After a cue word ("tel", "mobile", "call back on") any run of
7 to 15 digits is one, valid or not: test-range and made-up numbers are what notes in a staging copy hold.
"""

from __future__ import annotations

import functools
import re

from hfit_dagster.masking.recognizers.findings import Finding

REGIONS: tuple[str, ...] = (
    "US", "GB", "IN", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL", "CZ", "HU",
    "RO", "PT", "IE", "GR", "TR", "RU", "UA", "BR", "MX", "AR", "CN", "JP", "KR", "TW", "HK", "SG", "AU", "NZ",
    "ZA", "NG", "KE", "EG", "SA", "AE", "IL", "PK", "BD", "ID", "PH", "VN", "TH", "MY", "CA",
)  # fmt: skip

_CANDIDATE = re.compile(r"(?<![\w+\-/.])(?:\+|00)?\(?\d[\d \-().\/]{5,22}\d(?=x\d|(?![\w\-]|\.\d))")
_CUE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|mob|cell|call(?:ed)?(?: back)?(?: on| from| at)?|dial|fax|whatsapp|sms|text"
    r"|reachable(?: at| on)?|number(?: is)?|contact(?: number)?|msisdn|callback|telefon|handy|t[ée]l[ée]phone)"
    r"\.?\s*(?:is|on|at|:|=|-|#)?\s*(?=[+(\d])",
    re.IGNORECASE,
)
# written as a phone number, valid or not: "+" and a country code with 8-15 digits, or (NNN) NNN-NNNN
_WRITTEN_AS_PHONE = re.compile(r"(?:\+|00)\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){2,6}|\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}")
# dates, decimals and versions
_NOT_A_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,4}(?:\.\d{1,3}){1,3}")
_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}\b", re.IGNORECASE)  # "x77", " ext. 12"
_DIGITS7 = re.compile(r"\d(?:[^\n\d]{0,3}\d){5}")


@functools.lru_cache(maxsize=4096)
def _valid_somewhere(candidate: str) -> bool:
    """Valid with its country code, or in the national format of one of :data:`REGIONS`. A bare run of digits
    (an order or ticket number as often as a phone) needs a trunk prefix 0 or 10+ digits."""
    import phonenumbers

    text = candidate.strip()
    if text.isdigit() and not (text.startswith("0") or len(text) >= 10):
        return False
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("00"):
        text = "+" + text[2:]
    regions = (None,) if text.startswith("+") else [r for r in REGIONS if _fits(digits, r)]
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


@functools.cache
def _lengths(region: str) -> tuple[frozenset[int], str]:
    import phonenumbers

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return frozenset(metadata.general_desc.possible_length), metadata.national_prefix or ""


def _fits(digits: str, region: str) -> bool:
    """Whether a national number of ``region`` can have this many digits (its trunk prefix aside): libphonenumber's
    own possible lengths, checked before the costly parse."""
    lengths, prefix = _lengths(region)
    return len(digits) in lengths or (bool(prefix) and digits.startswith(prefix)
                                      and len(digits) - len(prefix) in lengths)


def find_phones(text: str) -> list[Finding]:
    out: list[Finding] = []
    if not _DIGITS7.search(text):
        return out
    cue_ends = {m.end() for m in _CUE.finditer(text)}
    for m in _CANDIDATE.finditer(text):
        candidate = m.group()
        digits = sum(c.isdigit() for c in candidate)
        cued = m.start() in cue_ends
        if not (6 if cued else 7) <= digits <= 15:
            continue
        if _NOT_A_PHONE.fullmatch(candidate.strip()):
            continue
        end = m.end()
        extension = _EXTENSION.match(text, end)
        if extension:
            end = extension.end()
        if cued or _WRITTEN_AS_PHONE.fullmatch(candidate) or _valid_somewhere(candidate):
            out.append(Finding("PHONE_NUMBER", m.start(), end, 0.85 if cued else 0.7))
    return out
