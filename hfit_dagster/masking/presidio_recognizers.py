"""Presidio recognizers hfit puts in place of, or beside, the predefined ones of the engine
(:mod:`~hfit_dagster.masking.presidio_engine`): an email recognizer that never goes online, a phone recognizer run
only on digit runs, phones in the formats test data uses whether valid or not, and street addresses.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from presidio_analyzer import EntityRecognizer


@functools.lru_cache(maxsize=1)
def _offline_tld_extractor() -> Any:
    """A tldextract extractor that never fetches: no suffix-list URLs, no disk cache, bundled snapshot."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def offline_email_recognizer(template: EntityRecognizer) -> EntityRecognizer:
    """Presidio's EmailRecognizer with ``validate_result`` on the offline extractor.

    Presidio calls the module-level ``tldextract.extract``, whose first use downloads the public suffix
    list; we override the one method that calls it instead of patching tldextract globally. We also
    accept domains whose TLD is unknown to the suffix list but looks like one (``corp.local``,
    ``mail.test``, ``example.internal``): internal addresses in a staging copy are personal data too.
    """
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            if _offline_tld_extractor()(pattern_text).fqdn:
                return True
            return bool(re.search(r"@[^@\s]+\.[^\W\d_]{2,24}$", pattern_text))

    return OfflineEmailRecognizer(
        patterns=template.patterns,
        context=template.context,
        supported_language=template.supported_language,
        supported_entity=template.supported_entities[0],
    )


def windowed_phone_recognizer(template: EntityRecognizer) -> EntityRecognizer:
    """Presidio's PhoneRecognizer, run only on digit runs that could be phone numbers.

    Why: it runs libphonenumber's matcher once per region (8 by default) over the whole text and tries
    every digit group (order ids, years); on support notes that is most of the analysis time. Windows
    with at least 7 digits are cut out first and shifted back, so results and context scoring are the
    same for the numbers that matter.
    """
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    candidates = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")

    class WindowedPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            import phonenumbers
            from presidio_analyzer import EntityRecognizer

            results = []
            for m in candidates.finditer(text):
                window = m.group()
                if sum(c.isdigit() for c in window) < 7:
                    continue
                # An international number parses the same in every region: one pass is enough.
                regions = (
                    self.supported_regions[:1]
                    if window.lstrip("(").startswith("+")
                    else self.supported_regions
                )
                for region in regions:
                    for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=self.leniency):
                        r = self._get_recognizer_result(match, window, region, None)
                        r.start += m.start()
                        r.end += m.start()
                        results.append(r)
            return EntityRecognizer.remove_duplicates(results)

    return WindowedPhoneRecognizer(
        context=template.context,
        supported_language=template.supported_language,
        supported_entity=template.supported_entities[0],
        supported_regions=template.supported_regions,
        leniency=template.leniency,
    )


def formatted_phone_recognizer(language: str) -> EntityRecognizer:
    """Phone numbers written with a '+' country code or as NNN-NNN-NNNN, valid or not.

    Why: Presidio's PhoneRecognizer only reports numbers libphonenumber calls *valid*, so test-range and
    made-up numbers such as ``+1 555 010 2233`` slip through it, and those are exactly what support notes
    in a staging copy contain. Requires 8 to 15 digits so dates and short codes do not match.
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    class FormattedPhoneRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return 8 <= sum(c.isdigit() for c in pattern_text) <= 15

    return FormattedPhoneRecognizer(
        supported_entity="PHONE_NUMBER",
        name="FormattedPhoneRecognizer",
        supported_language=language,
        patterns=[
            Pattern("phone (+cc)", r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w])", 0.6),
            Pattern("phone (nnn-nnn-nnnn)", r"(?<![\w+-])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w-])", 0.5),
        ],
        context=["phone", "call", "called", "mobile", "tel", "cell"],
    )


def street_address_recognizer(language: str) -> EntityRecognizer:
    """House number + street name + street type ("221B Baker Street", "45 Elm Rd").

    Presidio ships no street-address recognizer; addresses are common in delivery and support notes.
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    street_types = (
        "Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close"
        "|Square|Sq|Parkway|Pkwy|Highway|Hwy|Strasse|Straße|Weg|Gasse|Allee"
    )
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        supported_language=language,
        patterns=[
            Pattern(
                "street address",
                rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]+\s+){{1,3}}(?:{street_types}|{street_types.lower()})\b\.?",
                0.5,
            )
        ],
        context=["address", "ship", "deliver", "street", "lives"],
        # Case-sensitive on purpose: capitalised street names keep "2 items the same way" out.
        global_regex_flags=re.DOTALL | re.MULTILINE,
    )
