"""Signature blocks: the short lines after a sign-off ("Regards,", "--", "Sent by") name their writer - a name,
a phone, an id, a date of birth - without any key. A line of common words only (a job title) is left alone; lines
with a key are :mod:`.records`'.
"""

from __future__ import annotations

import re

from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.names import AMBIGUOUS, COMMON, main_script, word_class
from hfit_dagster.masking.recognizers.patterns import DATE_VALUE

_SIGN_OFF = re.compile(
    r"(?im)^[ \t]*(?:--|—|regards|kind regards|best regards|warm regards|best|thanks|many thanks|thank you|cheers"
    r"|sincerely|yours(?: sincerely| truly)?|sent by|signed|br|mfg|mit freundlichen grüßen|viele grüße|cordialement"
    r"|bien à vous|saludos|un saludo|cordiali saluti|met vriendelijke groet)[ \t]*[,.!]?[ \t]*$"
)
_DATE = re.compile(rf"(?i)^(?:{DATE_VALUE})\b")
_WORD = re.compile(r"[^\W\d_]+")
_MAX_LINES = 6
_POSTCODE = re.compile(r"(?<![\d\-])\d{4,6}(?![\d\-])|\b[A-Z]{1,2}\d[\dA-Z]? ?\d[A-Z]{2}\b")


def find_signature_values(text: str) -> list[Finding]:
    out: list[Finding] = []
    for sign_off in _SIGN_OFF.finditer(text):
        at = sign_off.end() + 1
        script = main_script(text)
        for line in text[at:].split("\n")[:_MAX_LINES]:
            stripped = line.strip()
            if not stripped or len(stripped) > 80:
                break
            start = at + line.find(stripped)
            at += len(line) + 1
            if ":" in stripped or "=" in stripped:
                continue
            found = _line_value(stripped, script)
            if found is not None:
                entity, length = found
                out.append(Finding(entity, start, start + length, 0.6))
    return out


def _line_value(line: str, script: str) -> tuple[str, int] | None:
    """(entity, length) of what a signature line holds from its start, or None (a title, a company)."""
    date = _DATE.match(line)
    if date:
        return "DATE_OF_BIRTH", date.end()
    first = line.split()[0]
    if re.search(r"[^\W\d_]{3,}", line) and _POSTCODE.search(line):
        return "STREET_ADDRESS", len(line)  # a street or town with its postcode
    if sum(c.isdigit() for c in line[:24]) >= 6:
        if line.lstrip("(").startswith("+") or re.match(r"[\d ()+.\-/]{7,}$", line):
            return "PHONE_NUMBER", len(re.match(r"[\d ()+.\-/x]+", line).group().rstrip())  # type: ignore[union-attr]
        return "NATIONAL_ID", len(first)
    if sum(c.isdigit() for c in first) >= 1 and len(first) >= 6:
        return "SECRET", len(first)
    words = _WORD.findall(" ".join(line.split()[:4]))
    classes = [word_class(w, script) for w in words]
    if classes and not line.endswith(".") and (
        any(c not in (COMMON, AMBIGUOUS) for c in classes) or classes.count(AMBIGUOUS) >= 2
    ):
        length = len(" ".join(line.split()[:4])) if len(line.split()) > 4 else len(line)
        return "PERSON", length
    return None
