"""The rules' fast paths (words looked up in sets, literal pieces checked before a pattern runs: recognizers/
prefilter.py) find exactly what their plain paths find, which scan every text with every pattern."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hfit_dagster.masking.recognizers import contacts, names, patterns
from hfit_dagster.masking.recognizers.names import undecided_words
from hfit_dagster.masking.recognizers.prefilter import FOLD_ODD, first_segments

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

PREFILTERED: dict[str, Callable[..., Any]] = {
    "shapes": patterns.find_shapes,
    "cues": patterns.find_cued,
    "obfuscated_emails": contacts.find_obfuscated_emails,
    "street_addresses": contacts.find_street_addresses,
    "names": names.find_names,
    "name_cues": names.cue_positions,
}

# texts the generator rarely writes: case folds str.lower does not share with the patterns, cues in keys
EDGE_TEXTS = [
    "Adres: Atatürk BULVARI 12, 06420 Ankara",
    "Adres: Atatürk bulvari 12, Çankaya",
    "Adres: Atatürk Bulvarı 12, Çankaya; İletişim: ılık sokak 4",
    "Διεύθυνση: ΟΔΟΣ Ερμού 25, 10563 Αθήνα, οδόσ Σταδίου 7",
    "ſhip to 12 Elm Road, London SW1A 1AA",
    "SHIP TO 12 ELM ROAD\n10115 Berlin",
    "deliver to Ängsgatan 78, 11622 Stockholm; Franco-Meister-Platz 9537 too",
    "Mlle Mare called; Mlle Dupont too; full name: Anna Kowalski; spoke with Olga; thank you Grace Rose",
    "pwd=Secr3t!x; password=hunter22X; user id=admin9 Bearer abcdefgh12345",
    "key sk_live_abcdef1234567890 and ghp_abcdefghijklmnopqrstu12345 and AKIAABCDEFGHIJKLMNOP",
    "mail john dot smith at gmail dot com or amy75 [at] yahoo(dot)com or a@b.co",
    "ſk_live_abcdef1234567890 eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4",
    "customer_name: Jan; Customer2 bob; Dear\nAnna; herr müller; señora garcía",
    "date_of_birth: 1990-01-02, D.O.B.: 02/03/1990, née le 12/03/1990, Steuer-ID: 12 345 678 901",
    "api_key=abcD1234xyz; Passport No.\nC01X00T47\n  PASSPORT\n  X1234567 and logged in with Xk9#mQ2!z",
    "PAſSPORT no. X1234567; Fødselsnummer 010190 12345; ACCT # 12345678",
]


def _corpus() -> list[str]:
    from masking_throughput import unique_tickets

    texts, _ = unique_tickets(1500, seed=21)
    return texts + EDGE_TEXTS


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _corpus()


@pytest.mark.parametrize("family", sorted(PREFILTERED))
def test_fast_path_finds_what_the_plain_path_finds(family: str, corpus: list[str]) -> None:
    """Over the privacy benchmark's generated tickets and texts with odd case folds, a rule's fast path reports
    the same findings, spans and scores as scanning every text with every pattern: the prefilters lose nothing."""
    find = PREFILTERED[family]
    differ = [text for text in corpus if find(text) != find(text, plain=True)]
    assert differ == []


def _cue_firsts() -> set[str]:
    return {w for firsts in patterns._CUE_FIRSTS for w in firsts}


def test_cue_phrases_are_written_out_whole() -> None:
    """The first words a cue rule is tried at come from every phrase its cues match (optional letters, groups,
    classes, a key's underscore), and a cue written with a pattern they cannot read stops the import loudly."""
    assert first_segments(r"d\.?o\.?b\.?|api[_ \-]?key|(?:bank )?account|n[ée]e? le") == {
        "d", "do", "dob", "api", "apikey", "bank", "account", "ne", "née", "nee", "né"}
    with pytest.raises(ValueError, match="only literals"):
        first_segments(r"id\d+")


def _literal_letters() -> set[str]:
    """Every letter the fast paths compare in small letters (street words and endings, address cue pieces, the
    shape rules' needed pieces, the name cues' first words)."""
    pieces = [*contacts._STREET_TYPE_WORDS, *contacts._COMPOUND_ENDINGS, *contacts._ADDRESS_CUE_FRAGMENTS,
              *names._ANY_FIRST, *(n for rule in patterns.SHAPES for n in rule.needs), *_cue_firsts()]
    return {c for piece in pieces for c in piece if c.isalpha()}


def test_every_case_fold_str_lower_misses_sends_the_text_down_the_plain_path() -> None:
    """A character a case-blind pattern matches to one of the fast paths' letters, though its ``str.lower`` is
    not that letter, is in FOLD_ODD (a text holding it takes the plain path), or is the "i" of a word listed with
    an "i" for its dotless "ı" too: so no writing of a street word or cue escapes the fast path."""
    letters = _literal_letters()
    any_letter = re.compile(f"[{re.escape(''.join(sorted(letters)))}]", re.IGNORECASE)
    escaped = []
    for cp in range(0x110000):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF or any_letter.fullmatch(ch) is None:
            continue
        for letter in letters:
            if ch.lower() != letter and re.fullmatch(re.escape(letter), ch, re.IGNORECASE) and ch not in FOLD_ODD:
                escaped.append((ch, letter))
    assert {letter for _, letter in escaped} <= {"ı"} and {ch for ch, _ in escaped} <= {"i", "I"}
    dotless = {w for w in contacts._STREET_TYPE_WORDS if "ı" in w}
    assert dotless and all(w.replace("ı", "i") in contacts._STREET_TYPE_WORDS for w in dotless)
    others = [*contacts._COMPOUND_ENDINGS, *contacts._ADDRESS_CUE_FRAGMENTS, *names._ANY_FIRST,
              *(n for rule in patterns.SHAPES for n in rule.needs), *_cue_firsts()]
    assert not any("ı" in piece for piece in others)


def test_the_word_data_opening_a_label_is_no_name_for_the_model_to_decide() -> None:
    """"Data" (a rare first name, a word of nearly every ticket) is kept and not left for the NER model, while a
    name beside it is still found."""
    text = "Data from export:\nname: Olga Kowalski\nData is missing for Kowalski."
    assert "Data" not in undecided_words(text, [])
    found = {text[f.start : f.end] for f in names.find_names(text)}
    assert "Olga Kowalski" in found and not any("Data" in f for f in found)
