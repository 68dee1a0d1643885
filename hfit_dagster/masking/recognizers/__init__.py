"""hfit's own free-text recognizers, run beside Presidio and the NER model on every text redacted.

Families, each a module with its rules as data:

- :mod:`.patterns` - values with a shape (cards passing Luhn, IBANs passing mod 97, UK NINO, Indian PAN and
  Aadhaar, US SSN/ITIN, vendor API keys, JWTs, bearer tokens, credentials in connection strings) and values
  announced by a cue (passport, tax id, national id, bank account, password, date of birth);
- :mod:`.phones` - phone numbers valid in one of 50 countries' national formats or with a country code, and any
  digit run after a phone cue (``phonenumbers``);
- :mod:`.contacts` - obfuscated email addresses and street addresses with their postcode and town;
- :mod:`.records` - values under personal keys in ``key: value`` lines, ``key=value`` pairs, JSON, XML and CSV;
- :mod:`.signatures` - the lines of a signature block after a sign-off;
- :mod:`.names` - person names by gazetteers (``names-dataset``, ``wordfreq``; shipped as data), cues and scripts.

Most families look words up in sets and skip texts a pattern could find nothing in (:mod:`.prefilter`); each of
those keeps its plain path (``plain=True``: every pattern over the whole text) as the reference.
"""

from __future__ import annotations

from collections.abc import Callable

from hfit_dagster.masking.recognizers.contacts import find_obfuscated_emails, find_street_addresses
from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.names import find_names
from hfit_dagster.masking.recognizers.patterns import find_cued, find_shapes
from hfit_dagster.masking.recognizers.phones import find_phones
from hfit_dagster.masking.recognizers.records import find_record_values
from hfit_dagster.masking.recognizers.signatures import find_signature_values

FAMILIES: dict[str, Callable[[str], list[Finding]]] = {
    "shapes": find_shapes,
    "cues": find_cued,
    "phones": find_phones,
    "obfuscated_emails": find_obfuscated_emails,
    "street_addresses": find_street_addresses,
    "records": find_record_values,
    "signatures": find_signature_values,
    "names": find_names,
}


def find_all(text: str, families: tuple[str, ...] | None = None) -> list[Finding]:
    """Every finding of the given rule families (all by default) in ``text``."""
    out: list[Finding] = []
    for name, find in FAMILIES.items():
        if families is None or name in families:
            out += find(text)
    return out


__all__ = ["FAMILIES", "Finding", "find_all"]
