"""hfit's own free-text recognizers (masking/recognizers/): each family on cases no one here tuned it to, and the
analyzer with and without them."""

from __future__ import annotations

import pytest

from hfit_dagster.masking import TextAnalyzer, TextRedactor
from hfit_dagster.masking.recognizers import FAMILIES, find_all
from hfit_dagster.masking.recognizers.checksums import iban_valid, luhn_valid
from hfit_dagster.masking.recognizers.records import key_entity


def _found(text: str, family: str | None = None) -> set[tuple[str, str]]:
    findings = FAMILIES[family](text) if family else find_all(text)
    return {(f.entity_type, text[f.start : f.end]) for f in findings}


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("paid with 3782 822463 10005 yesterday", "CREDIT_CARD", "3782 822463 10005"),  # Amex, 15 digits
        ("card 6011000990139424 declined", "CREDIT_CARD", "6011000990139424"),
        ("maestro 6759649826438453 ok", "CREDIT_CARD", "6759649826438453"),
        ("refund to es91 2100 0418 4502 0005 1332 today", "IBAN_CODE", "es91 2100 0418 4502 0005 1332"),
        ("NI number JG 10 37 59 A on file", "UK_NINO", "JG 10 37 59 A"),
        ("PAN ABCPE1234F verified", "TAX_ID", "ABCPE1234F"),
        ("Aadhaar 2341 2341 2346 checked", "NATIONAL_ID", "2341 2341 2346"),
        ("VAT DE136695976 on the invoice", "TAX_ID", "DE136695976"),
        ("passport no. x1234567 expired", "PASSPORT", "x1234567"),
        ("date of birth: 3 March 1971.", "DATE_OF_BIRTH", "3 March 1971"),
        ("her password is Tr0ub4dor&3 now", "SECRET", "Tr0ub4dor&3"),
        ("use postgres://app:s3cr3t@db.internal:5432/shop", "SECRET", "postgres://app:s3cr3t@db.internal:5432"),
        ("Authorization: Bearer abcdef123456ghijkl", "SECRET", "abcdef123456ghijkl"),
    ],
)
def test_shapes_and_cues(text: str, entity: str, value: str) -> None:
    assert (entity, value) in _found(text)


def test_check_digits_refuse_lookalikes() -> None:
    """A digit run of card length that fails Luhn, an IBAN with a wrong check, a version or an order number are
    not personal data."""
    assert not luhn_valid("4111 1111 1111 1112") and luhn_valid("4111 1111 1111 1111")
    assert not iban_valid("DE89 3704 0044 0532 0130 01") and iban_valid("DE89 3704 0044 0532 0130 00")
    assert not _found("order ORD-4111111111111112 shipped in v2.14.3, ticket 4877872 merged", "shapes")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("call me on 020 7946 0958 tomorrow", "020 7946 0958"),  # UK national format
        ("mobile 138 0013 8000", "138 0013 8000"),  # China, after a cue
        ("WhatsApp +49 30 901820 please", "+49 30 901820"),
        ("at 06 12 34 56 78 after six", "06 12 34 56 78"),  # France, national
        ("reach me at (212) 555-0143 x12", "(212) 555-0143 x12"),
    ],
)
def test_phones_in_national_formats(text: str, value: str) -> None:
    assert ("PHONE_NUMBER", value) in _found(text, "phones")


def test_bare_numbers_are_not_phones() -> None:
    assert not _found("Ticket 6466438 merged into 6267948; build 2024.10.3; total 1299.00", "phones")


@pytest.mark.parametrize(
    "text",
    ["john dot smith at gmail dot com", "amy75 [at] yahoo(dot)com", "j.doe(at)web.de", "ANNA AT GMX DOT DE"],
)
def test_obfuscated_emails(text: str) -> None:
    assert ("EMAIL_ADDRESS", text) in _found(f"write to {text} please", "obfuscated_emails")


def test_prose_with_at_is_not_an_email() -> None:
    assert not _found("arrived at 10.30 and left at home.com later; meet at the office dot", "obfuscated_emails")


def test_street_addresses_with_postcodes() -> None:
    found = _found("ship to Hauptstraße 5, 10115 Berlin. Or 8, boulevard Bailly, 75012 Paris; thanks")
    assert ("STREET_ADDRESS", "Hauptstraße 5, 10115 Berlin") in found
    assert any(e == "STREET_ADDRESS" and v.startswith("8, boulevard Bailly") and "75012" in v for e, v in found)


def test_records_pasted_into_text() -> None:
    """Keys say what a value is, whatever its shape: key: value lines, pairs, JSON, XML, CSV rows."""
    text = ('name,email,phone\nwuraola adeyemi,w.a@mail.ng,0803 123 4567\n'
            '{"contact_person": "kim jae", "pwd": "hunter2!"}\n<Kunde>Zoë Ødegård</Kunde>\nDOB: 1980-02-29')
    found = _found(text, "records")
    assert ("PERSON", "wuraola adeyemi") in found
    assert ("PERSON", "kim jae") in found
    assert ("SECRET", "hunter2!") in found
    assert ("PERSON", "Zoë Ødegård") in found
    assert ("DATE_OF_BIRTH", "1980-02-29") in found
    assert key_entity("order_id") is None and key_entity("status") is None and key_entity("product_name") is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Spoke with ZOË ØDEGÅRD today", "ZOË ØDEGÅRD"),
        ("escalated by kowalski", "kowalski"),
        ("Regards,\nMaria\nLopez", "Maria\nLopez"),
        ("customer 王秀英 called", "王秀英"),
        ("per Ольга Иванова, resolved", "Ольга Иванова"),
        ("Dear Mr. Okonkwo,", "Okonkwo"),
        ("signed by Nowak, Anna", "Nowak, Anna"),
    ],
)
def test_names_in_any_script_case_and_layout(text: str, name: str) -> None:
    """Every letter of the name lies inside a PERSON span (one span, or one per part)."""
    at = text.index(name)
    spans = [(f.start, f.end) for f in FAMILIES["names"](text) if f.entity_type == "PERSON"]
    assert all(any(a <= i < b for a, b in spans) for i in range(at, at + len(name)) if text[i].isalpha())


def test_ordinary_words_and_places_are_not_names() -> None:
    for text in ("The Wireless Mouse box was damaged", "Parcel left the Leeds warehouse on Friday",
                 "Will you check the Stainless Steel Bottle?", "Dear team, the order ORD-1234 shipped"):
        assert not _found(text, "names"), text


def test_signature_lines_name_their_writer() -> None:
    found = _found("Thanks,\nIngrid Halvorsen\nHead of Sales\n+47 912 34 567\n14.02.1979", "signatures")
    assert ("PERSON", "Ingrid Halvorsen") in found
    assert ("PHONE_NUMBER", "+47 912 34 567") in found
    assert ("DATE_OF_BIRTH", "14.02.1979") in found
    assert not any(v == "Head of Sales" for _, v in found)


def test_the_analyzer_runs_the_rules_beside_presidio(key: bytes) -> None:
    """On by default; ``free_text_rules=False`` is Presidio alone (the reference the privacy bench compares)."""
    text = "pwd: Zx9!qLm2 and tel 020 7946 0958, contact john dot smith at gmail dot com"
    with_rules = TextRedactor(TextAnalyzer("regex"), key).redact(text)
    without = TextRedactor(TextAnalyzer("regex", free_text_rules=False), key).redact(text)
    for value in ("Zx9!qLm2", "7946 0958", "john dot smith"):
        assert value not in with_rules
    assert "Zx9!qLm2" in without and "john dot smith" in without


def test_ner_guesses_that_name_no_one_are_dropped(analyzer: TextAnalyzer) -> None:
    """With the rules on, a place alone and a 'person' of common words or with a digit are not redacted."""
    found = {(r.entity_type, "x") for r in analyzer.analyze("The Wireless Mouse shipped from Berlin in box 85x84")}
    assert ("LOCATION", "x") not in found and ("PERSON", "x") not in found


GATE_TEXTS = [
    "Customer Nomalanga Dlamini called about order 4411; card 4111 1111 1111 1111 declined.",
    "Ticket 4877872 merged into 5758857; priority P2.",
    "Spoke with Maria Lopez (maria.lopez@example.org) about the refund.",
    "The Wireless Mouse box was damaged, 3 of 5 items intact.",
    "Caller Zebulon Quixotic wants the invoice resent to 12 Baker Street, London NW1 6XE.",
    "ship to Hauptstraße 5, 10115 Berlin - tel +49 30 901820",
]


def test_ner_only_where_words_are_undecided_redacts_like_ner_everywhere(key: bytes) -> None:
    """The NER model runs only on texts with a capitalised word neither known nor found by the rules; on the
    others it could add nothing, so redaction equals the reference path (NER on every text)."""
    gated = TextRedactor(TextAnalyzer(), key, cache_size=0).redact_many(GATE_TEXTS)
    everywhere = TextRedactor(TextAnalyzer(ner_where_undecided=False), key, cache_size=0).redact_many(GATE_TEXTS)
    assert gated == everywhere
    assert "Nomalanga" not in gated[0] and "Zebulon" not in gated[4]
