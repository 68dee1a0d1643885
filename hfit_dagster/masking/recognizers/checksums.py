"""Check digits that tell a real card, IBAN or id number from any digit run (python-stdnum where it has one)."""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(text: str) -> bool:
    """A payment card number: 12 to 19 digits passing the Luhn check, not all one digit."""
    digits = digits_of(text)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """An IBAN: country letters, check digits and a BBAN whose ISO 13616 mod-97 remainder is 1."""
    compact = _NON_ALNUM.sub("", text).upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def aadhaar_valid(text: str) -> bool:
    """An Indian Aadhaar number (12 digits, Verhoeff check digit), by python-stdnum."""
    from stdnum.in_ import aadhaar

    return aadhaar.is_valid(digits_of(text))


def pan_valid(text: str) -> bool:
    """An Indian PAN (holder-type letter in 4th place), by python-stdnum."""
    from stdnum.in_ import pan

    return pan.is_valid(text.upper())


def nino_valid(text: str) -> bool:
    """A UK National Insurance number: the prefixes HMRC never issues are refused."""
    compact = _NON_ALNUM.sub("", text).upper()
    if len(compact) != 9 or compact[:2] in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
        return False
    return bool(re.fullmatch(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]", compact))


def eu_vat_valid(text: str) -> bool:
    """A VAT number of an EU member state, by python-stdnum's per-country rules and check digits."""
    from stdnum.eu import vat

    return vat.is_valid(text)


def random_token(text: str) -> bool:
    """A password or key rather than a word with a number: no e-mail or URL, and letters of both cases spread
    over the token (not "iPhone12", "McDonald2", "SKU-123-Xl"), or a symbol among them."""
    if "@" in text or "://" in text:
        return False
    letters = [c for c in text if c.isalpha()]
    changes = sum(1 for a, b in zip(letters, letters[1:], strict=False) if a.isupper() != b.isupper())
    symbols = sum(1 for c in text if not c.isalnum() and c not in "-_.")
    return changes >= 4 or symbols >= 1


VALIDATORS = {
    "luhn": luhn_valid,
    "iban": iban_valid,
    "aadhaar": aadhaar_valid,
    "pan": pan_valid,
    "nino": nino_valid,
    "eu_vat": eu_vat_valid,
    "random_token": random_token,
}
