"""Free text that names its own row: the row's values become exactly the row's fakes, the rest is analyzed
as a skeleton, once per distinct skeleton."""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.masking import Masker, TextAnalyzer, TextRedactor
from hfit_dagster.masking.plan import ColumnDecision, TableMaskingPlan
from hfit_dagster.masking.row_context import find_known_spans, skeleton


def test_known_spans_are_whole_words_case_insensitive_longest_first() -> None:
    """'Ann' inside 'Anna' is not the row's first name; 'ANNA LEE' is its full name in capitals."""
    row = [("Anna Lee", "Mia Roe", "person_name"), ("Ann", "Zoe", "first_name"), ("lee", "Poe", "last_name")]
    text = "ANNA LEE and Anna met Ann; Leeds is a city"
    spans = find_known_spans(text, row)
    assert [(text[s.start:s.end], s.fake) for s in spans] == [("ANNA LEE", "Mia Roe"), ("Ann", "Zoe")]


def test_skeleton_maps_spans_back_around_stand_ins() -> None:
    """Offsets found in the skeleton land on the same characters of the original text; a span that runs
    into a stand-in keeps only its part outside it."""
    text = "Called Anna Lee-Brown about 12 Elm Road"
    sk = skeleton(text, find_known_spans(text, [("Anna Lee", "Mia Roe", "person_name")]))
    assert sk.text == "Called Jordan Avery-Brown about 12 Elm Road"
    start = sk.text.index("12 Elm Road")
    assert [text[a:b] for a, b in sk.to_original(start, start + len("12 Elm Road"))] == ["12 Elm Road"]
    person = sk.text.index("Jordan")
    assert [text[a:b] for a, b in sk.to_original(person, person + len("Jordan Avery-Brown"))] == ["-Brown"]


def _plan() -> TableMaskingPlan:
    ops = {"id": "keep", "name": "person_name", "email": "email", "phone": "phone", "note": "redact_text"}
    return TableMaskingPlan("customers", {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in ops.items()})


def test_note_names_its_row_with_the_columns_fakes(analyzer: TextAnalyzer, key: bytes) -> None:
    """A note about its own customer reads with exactly the fakes the name, email and phone columns got,
    and a third person the row does not know about is still found by NER and faked."""
    batch = pa.RecordBatch.from_pydict({
        "id": [1, 2, 3],
        "name": ["Lilly Preiß", "Marek Nowak", "Sam Lee"],
        "email": ["lprei2@web.de", "marek@nowak.pl", "sam@lee.io"],
        "phone": ["+49 151 2345 6789", "+48 601 234 567", None],
        "note": ["Called Lilly Preiß on +49 151 2345 6789; confirm by mail: lprei2@web.de. "
                 "Colleague John Smith agreed.", None, "   "],
    })
    redactor = TextRedactor(analyzer, key)
    out = Masker(key, text_redactor=redactor).mask_batch(_plan(), batch)
    note = out.column("note")[0].as_py()
    for original in ("Lilly", "Preiß", "lprei2", "2345 6789", "John Smith"):
        assert original not in note
    for column in ("name", "email", "phone"):
        assert out.column(column)[0].as_py() in note
    assert note.startswith("Called ") and note.endswith(" agreed.")
    assert out.column("note")[1].as_py() is None and out.column("note")[2].as_py() == "   "


def test_system_written_notes_are_analyzed_once(analyzer: TextAnalyzer, key: bytes) -> None:
    """Notes that differ only in their own customer's values share one analysis, however many rows."""
    names = [f"Customer{i} Surname{i}" for i in range(200)]
    emails = [f"c{i}@shop{i}.example" for i in range(200)]
    batch = pa.RecordBatch.from_pydict({
        "id": list(range(200)),
        "name": names,
        "email": emails,
        "phone": [None] * 200,
        "note": [f"Called {n}; wants updates at {e}." for n, e in zip(names, emails, strict=True)],
    })
    redactor = TextRedactor(analyzer, key)
    out = Masker(key, text_redactor=redactor).mask_batch(_plan(), batch).to_pydict()
    assert redactor.stats.analyzed == 1
    for i in (0, 199):
        assert out["note"][i] == f"Called {out['name'][i]}; wants updates at {out['email'][i]}."


def test_non_ascii_notes_name_their_row_whatever_the_lower_casing(analyzer: TextAnalyzer, key: bytes) -> None:
    """Arrow and Python lower-case Greek final sigma differently; the row's own name is replaced anyway."""
    batch = pa.RecordBatch.from_pydict({
        "id": [1], "name": ["Κωστας"], "email": [None], "phone": [None], "note": ["ΚΩΣΤΑΣ called twice."],
    })
    plan = _plan()
    plan.decisions["name"] = ColumnDecision("name", "first_name", None, 1.0, "test", "rule")
    out = Masker(key, text_redactor=TextRedactor(analyzer, key)).mask_batch(plan, batch)
    assert out.column("note")[0].as_py() == f"{out.column('name')[0].as_py()} called twice."


def test_a_detected_name_next_to_a_stand_in_keeps_no_initial() -> None:
    """'Anna K.': the initial outside the row's own first name is redacted too; a possessive 's is not."""
    from hfit_dagster.masking.text_redactor import _word_part

    text = "Anna K. called; Anna's order"
    assert text[slice(*_word_part(text, 4, 7))] == "K"
    assert _word_part(text, 20, 22) is None
    assert _word_part(text, 4, 5) is None


def test_an_email_built_from_the_row_names_is_faked_whole(analyzer: TextAnalyzer, key: bytes) -> None:
    """'Julie.Horn@corp-mail.com' in a note whose row has first name Julie and last name Horn is one email,
    not two name fakes around a leftover domain."""
    batch = pa.RecordBatch.from_pydict({
        "id": [1], "first": ["Julie"], "last": ["Horn"], "email": ["jh@other.org"],
        "note": ["Julie Horn asked for the invoice at Julie.Horn@corp-mail.com today."],
    })
    ops = {"id": "keep", "first": "first_name", "last": "last_name", "email": "email", "note": "redact_text"}
    plan = TableMaskingPlan("customers", {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in ops.items()})
    out = Masker(key, text_redactor=TextRedactor(analyzer, key)).mask_batch(plan, batch)
    note = out.column("note")[0].as_py()
    assert "corp-mail" not in note and "Julie" not in note and "Horn" not in note
    fake_email = Masker(key).mask_array("email", pa.array(["Julie.Horn@corp-mail.com"]))[0].as_py()
    assert fake_email in note
    assert note.startswith(f"{out.column('first')[0].as_py()} {out.column('last')[0].as_py()} asked")


def test_the_row_prefilter_finds_exactly_the_rows_whose_text_contains_their_value() -> None:
    """The compiled pre-filter agrees with Python's case-insensitive ``in`` on ASCII rows (NULLs, short values,
    sliced arrays included); non-ASCII texts always go to the exact check."""
    import random

    from hfit_dagster.masking.operators import MIN_CONTEXT_LENGTH, _rows_naming_own_values

    rng = random.Random(3)
    words = ["Ana", "maria", "LOPEZ", "x", "555-0100", "ana.lopez@example.org", "Zoë", "und", "Straße"]
    texts, names, phones = [], [], []
    for _ in range(3000):
        texts.append(None if rng.random() < 0.2 else " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))))
        names.append(None if rng.random() < 0.1 else rng.choice(words).swapcase() if rng.random() < 0.5
                     else rng.choice(words))
        phones.append(rng.choice(words))
    arrays = [pa.array(v, pa.string()) for v in (texts, names, phones)]
    sliced = [a.slice(7, 2900) for a in arrays]
    for text, name, phone in (arrays, sliced):
        got = _rows_naming_own_values(text, [name, phone]).tolist()
        for i, (t, *values) in enumerate(zip(text.to_pylist(), name.to_pylist(), phone.to_pylist(), strict=True)):
            usable = [v for v in values if v is not None and len(v) >= MIN_CONTEXT_LENGTH]
            if t is None:
                expected = False
            elif not t.isascii():
                expected = bool(usable)
            else:
                expected = any(v.lower() in t.lower() for v in usable)
            assert got[i] == expected, (t, values)
