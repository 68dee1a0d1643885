"""Classes of values the free-text rules find in more than one locale and layout (cards with a short last group,
keys and tokens in capitals, ids after a cue on its own line, logins, names beside a known name in one casing),
the look-alikes they leave, and how overlapping findings of different kinds are faked."""

from __future__ import annotations

import pytest

from hfit_dagster.masking import TextAnalyzer, TextRedactor
from hfit_dagster.masking.recognizers import find_all
from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.names import _script, find_names, main_script, windows_around
from hfit_dagster.masking.span_fakes import merge_spans


def _found(text: str) -> set[tuple[str, str]]:
    return {(f.entity_type, text[f.start : f.end]) for f in find_all(text)}


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("Caller card 4588 9067 1127 0 was declined", "CREDIT_CARD", "4588 9067 1127 0"),  # Visa 13, 4-4-4-1
        ("charged 3530-1113-3330-0000 twice", "CREDIT_CARD", "3530-1113-3330-0000"),  # JCB
        ("LOGIN WITH EYJHBGCIOIJIUZI1NIJ9.EYJZDWIIOIIXMJM0NTY3ODKWIN0.SFLKXWRJSMEKKF2QT4FWPMEJF36POK6YJV ok", "SECRET",
         "EYJHBGCIOIJIUZI1NIJ9.EYJZDWIIOIIXMJM0NTY3ODKWIN0.SFLKXWRJSMEKKF2QT4FWPMEJF36POK6YJV"),
        ("AGENT NOTE: GHP_VOC2FL3TDSN92OUIRO5H9PJQVS. WAITING", "SECRET", "GHP_VOC2FL3TDSN92OUIRO5H9PJQVS"),
        ("VAT number FRXf 844152423 on the invoice", "TAX_ID", "FRXf 844152423"),
        ("tax number FRBj 585149433. Case closed", "TAX_ID", "FRBj 585149433"),
        ("then login with whvJYDYkgkl8XH about the warranty", "SECRET", "whvJYDYkgkl8XH"),
        ("Sie hat sich angemeldet - login using Xk9#mQ2!z heute", "SECRET", "Xk9#mQ2!z"),
        ("Data from export:\ndate_of_birth\n2 April 1998 Internal", "DATE_OF_BIRTH", "2 April 1998"),
        ("Payload:\nDOB\n05.07.1971 Hi team", "DATE_OF_BIRTH", "05.07.1971"),
        ("the courier. BSN\n270306-1891407 agent", "NATIONAL_ID", "270306-1891407"),
        ("DNI\nTPLTTV35T55I706P", "NATIONAL_ID", "TPLTTV35T55I706P"),
        ("passport_no: C01X00T47", "PASSPORT", "C01X00T47"),
        ("Geburtsdatum: 26.06.1988. charged 3530-1113-3330-0000 twice", "DATE_OF_BIRTH", "26.06.1988"),
    ],
)
def test_values_of_these_classes_are_found(text: str, entity: str, value: str) -> None:
    """Each value is found whole, with its kind, in the layouts and casings notes are written in."""
    assert any(e == entity and value in v for e, v in _found(text)), _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "login with Google today, then sign in with SSO",  # a provider, not a password
        "4588 9067 1127 1 was the reference",  # fails Luhn
        "Meeting on\n2024-05-01 about the release",  # a date after a line that is no cue
        "we met at 0451 882 702 Berlin time",  # "at" before digits is no VAT country code
        "Deployed version v2.14.3 to staging; error rate back to 3%",
    ],
)
def test_look_alikes_are_left(text: str) -> None:
    """Providers after "login with", numbers failing their check digit, dates after a line that is no label,
    prose before digits: nothing secret, no card, no date of birth, no tax id."""
    kinds = {entity for entity, _ in _found(text)}
    assert not kinds & {"SECRET", "CREDIT_CARD", "DATE_OF_BIRTH", "TAX_ID"}


def test_a_date_of_birth_key_holds_the_date_only() -> None:
    """A record's date of birth ends with its date: a card written after it in the same sentence is a card."""
    text = "Geburtsdatum: 26.06.1988. charged 3530-1113-3330-0000 twice"
    assert not any(e == "DATE_OF_BIRTH" and "3530" in v for e, v in _found(text))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("then DIONIGI CRESPI said.", "DIONIGI CRESPI"),  # Italian, an unknown first name in capitals
        ("TRANSFERRED TO NKEMDIRIM OKONKWO YESTERDAY", "NKEMDIRIM OKONKWO"),
        ("Update: kovalčíková, františek is the account owner!", "kovalčíková"),  # Slovak, Last, First
        ("per note: wójcik, krzysztof approved it", "wójcik"),
    ],
)
def test_an_unknown_name_beside_a_known_one_in_the_same_casing(text: str, name: str) -> None:
    """A word no list knows, written in capitals or small letters next to a known name written the same way, is
    part of the name."""
    found = [text[f.start : f.end] for f in find_names(text)]
    assert any(name in f for f in found), found


@pytest.mark.parametrize(
    "text",
    ["THE PARCEL ARRIVED DAMAGED, CASE CLOSED", "ERROR CODE ERR-5052 APPEARS IN CHECKOUT", "the order shipped late"],
)
def test_capitals_and_small_letters_alone_are_not_names(text: str) -> None:
    """Words in capitals or small letters with no known name beside them stay."""
    assert find_names(text) == []


def test_a_name_run_into_an_id_is_faked_as_a_name(key: bytes) -> None:
    """Overlapping findings of different kinds become one span faked by an operator that replaces it whole: a
    phone's or an id's fake would keep the name's letters."""
    merged = merge_spans([Finding("PERSON", 9, 24, 0.65), Finding("PHONE_NUMBER", 22, 56, 0.8)])
    assert [(m.start, m.end, m.entity) for m in merged] == [(9, 56, "PERSON")]
    street = merge_spans([Finding("STREET_ADDRESS", 0, 40, 0.7), Finding("PHONE_NUMBER", 20, 30, 0.85)])
    assert street[0].entity == "STREET_ADDRESS"
    ids = merge_spans([Finding("NATIONAL_ID", 0, 11, 0.8), Finding("PHONE_NUMBER", 0, 11, 0.85)])
    assert ids[0].entity == "PHONE_NUMBER"  # both change digits only: the strongest
    text = "customer:Ivo Zemanová\nNI number: 440114197302175496"
    out = TextRedactor(TextAnalyzer("regex"), key).redact(text)
    assert "Zemanová" not in out and "440114197302175496" not in out


def test_main_script_counts_letters_as_the_character_loop_does() -> None:
    """The script most letters of a text are in: ASCII texts at once, others by counting."""
    for text in ["Call Maria at 5", "Позвонить Ивану, tel 5", "客户 王伟 called", "", "12 34", "Zoë Ødegård и Ян"]:
        counts: dict[str, int] = {}
        for ch in text:
            if ch.isalpha():
                counts[_script(ch)] = counts.get(_script(ch), 0) + 1
        assert main_script(text) == (max(counts, key=counts.__getitem__) if counts else "LATIN")


def test_windows_around_words_cover_them_with_their_neighbours() -> None:
    """The pieces the NER model reads: whole words around each undecided word, overlapping pieces merged."""
    text = "aaa bbb Zebulon ccc ddd eee fff ggg Quixote hhh"
    pieces = windows_around(text, [(8, 15), (36, 43)], 5)
    assert [text[a:b] for a, b in pieces] == ["bbb Zebulon ccc", "ggg Quixote hhh"]
    assert windows_around(text, [(8, 15), (36, 43)], 30) == [(0, len(text))]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("deliver to 981 Ross Mission\n32589 Thomaschester today", "981 Ross Mission\n32589 Thomaschester"),  # USPS
        ("ship to Studio 19G\nWest Fields, Barlowland", "19G\nWest Fields, Barlowland"),
        ("moved to 719 Medina Locks Apt. 640, Y3E 5E7 Kathryntown", "719 Medina Locks Apt. 640, Y3E 5E7"),
        ("Anschrift: Franco-Meister-Platz 9537, Illertissen 07734", "Franco-Meister-Platz 9537"),  # German, hyphenated
        ("lives at Skotlands Allé 3, 7952 Taastrup", "Skotlands Allé 3, 7952 Taastrup"),  # Danish
        ("address 953\nPall Marg, 425593 Jalna", "953\nPall Marg, 425593 Jalna"),  # Indian
        ("toimitus: Pyörökivenpolku 382\n98677 Veteli", "Pyörökivenpolku 382\n98677 Veteli"),  # Finnish
    ],
)
def test_street_addresses_of_more_formats(text: str, address: str) -> None:
    """A house number with a US postal street suffix, hyphen-joined compound street names, Danish, Indian and
    Finnish street words: the street and what follows it on its line or the next (postcode, town) is found."""
    assert any(e == "STREET_ADDRESS" and address in v for e, v in _found(text)), _found(text)


@pytest.mark.parametrize(
    "text",
    ["3 more tests pass after the fix", "we shipped 2 garden chairs and 3 items", "Deployed version 2 Mission Control",
     "Reset the counter to 42 and re-ran step 3.", "Parcel left the Leeds warehouse on Monday."],
)
def test_prose_with_numbers_is_no_street(text: str) -> None:
    """Lower-case words after a number, or a suffix word not written as a street name after a house number, are
    prose."""
    assert not any(e == "STREET_ADDRESS" for e, _ in _found(text))
