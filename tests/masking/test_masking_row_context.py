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

    from hfit_dagster.masking.engine import MIN_CONTEXT_LENGTH, rows_naming_own_values

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
        got = rows_naming_own_values(text, [name, phone]).tolist()
        for i, (t, *values) in enumerate(zip(text.to_pylist(), name.to_pylist(), phone.to_pylist(), strict=True)):
            usable = [v for v in values if v is not None and len(v) >= MIN_CONTEXT_LENGTH]
            if t is None:
                expected = False
            elif not t.isascii():
                expected = bool(usable)
            else:
                expected = any(v.lower() in t.lower() for v in usable)
            assert got[i] == expected, (t, values)


def test_batch_row_context_redacts_exactly_as_the_python_path(analyzer: TextAnalyzer, key: bytes) -> None:
    """Compiled row context (``redact_rows_in_context``) against ``redact_with_row_values`` row by row: own
    values in any case, repeated, inside other words, overlapping (a name inside an email), ending in an
    apostrophe before "s", NULL or short values, non-ASCII rows, NUL in a text, stand-in text written
    literally, other people NER finds, and rows naming nothing of their own."""
    import random

    rng = random.Random(7)
    firsts = ["Anna", "Quentin", "Lee", "Ola", "Bo", "Marta", "O'Neil", "Zoë"]
    lasts = ["Zabrowski", "Lee", "Kowalczyk-Brown", "Ng", "Smith"]
    templates = [
        "Called {name} on {phone}; wants updates at {email}.",
        "{NAME} wrote from {email} about {name}'s order",
        "{first}'s parcel, ask {first} or Jordan Avery; {first}son is not {first}",
        "Spoke with Maria Garcia and {name} (cc {email}) re: 1 Main Street",
        "nothing of the row here, call +1 202 555 0100",
        "{first}{last} {last}{first} {first}_x {email}{first}",
        "naïve note for {name}",
        "nul\x00 inside {name}",
        "",
    ]
    texts, names, emails, phones = [], [], [], []
    for i in range(300):
        first, last = rng.choice(firsts), rng.choice(lasts)
        name = f"{first} {last}"
        email = f"{first.lower().replace(chr(39), '')}.{last.lower()}{i}@mail.example" if rng.random() > 0.1 else None
        phone = f"+44 20 7946 {i:04d}" if rng.random() > 0.2 else "12"
        template = rng.choice(templates)
        texts.append(template.format(name=name, NAME=name.upper(), first=first, last=last, email=email or "x@y.z",
                                     phone=phone) if rng.random() > 0.05 else None)
        names.append(name if rng.random() > 0.05 else None)
        emails.append(email)
        phones.append(phone)
    fakes = {"name": [None if v is None else f"Fake Person{i}" for i, v in enumerate(names)],
             "email": [None if v is None else f"fake{i}@example.org" for i, v in enumerate(emails)],
             "phone": [f"+1 555 01{i:04d}" for i in range(len(phones))]}
    columns = [("name", names, "person_name"), ("email", emails, "email"), ("phone", phones, "phone")]
    context = [(pa.array(values, pa.string()), pa.array(fakes[column], pa.string()), op)
               for column, values, op in columns]
    rows = [[(values[i], fakes[column][i], op) for column, values, op in columns] for i in range(len(texts))]

    expected = TextRedactor(analyzer, key).redact_with_row_values(texts, rows)
    got = TextRedactor(analyzer, key).redact_rows_in_context(pa.array(texts, pa.string()), context)
    assert got == expected
    assert sum(1 for t, e in zip(texts, expected, strict=True) if t and e != t) > 200  # most rows were redacted


def test_masker_row_context_compiled_equals_the_reference_path(analyzer: TextAnalyzer, key: bytes) -> None:
    """``Masker(compiled_row_context=True)`` (compiled pre-filter and span location) against the reference path
    (every row with a text through ``redact_with_row_values`` / ``substitute_row_values``): the same batch, free
    text and JSON alike, masks to the same values."""
    import random

    rng = random.Random(11)
    firsts, lasts = ["Anna", "Quentin", "Zoë", "Marek", "Lee"], ["Zabrowski", "Nowak", "Smith", "Preiß"]
    rows = []
    for i in range(200):
        first, last = rng.choice(firsts), rng.choice(lasts)
        email = f"{first.lower()}.{last.lower()}{i}@mail.example"
        note = rng.choice([f"Called {first} {last} at {email}", f"{first.upper()} asked twice", "no one here",
                           f"ask Maria Garcia, not {first}", "   "])
        rows.append((f"{first} {last}", email, note if rng.random() > 0.1 else None,
                     f'{{"by": "{first} {last}", "note": "{note}"}}' if rng.random() > 0.2 else None))
    batch = pa.RecordBatch.from_pydict({
        "name": [r[0] for r in rows], "email": [r[1] for r in rows],
        "note": [r[2] for r in rows], "doc": [r[3] for r in rows],
    })
    plan = TableMaskingPlan("people", {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in
                                       (("name", "person_name"), ("email", "email"), ("note", "redact_text"),
                                        ("doc", "json_pii"))})
    compiled = Masker(key, text_redactor=TextRedactor(analyzer, key)).mask_batch(plan, batch)
    reference = Masker(key, text_redactor=TextRedactor(analyzer, key), compiled_row_context=False).mask_batch(
        plan, batch)
    assert compiled.to_pydict() == reference.to_pydict()
    assert compiled.column("note").to_pylist() != batch.column("note").to_pylist()


def test_compiled_row_context_finds_the_spans_python_finds() -> None:
    """``known_spans.row_context`` against ``find_known_spans`` on random ASCII texts made of the row's own
    values, their case variants, parts and extensions ("Annason", "x_Anna", "Anna'"), punctuation and other
    words: the same rows name their values, the replaced text is the Python splice, and two rows share a
    layout key only when their skeletons, stand-in places and operators agree."""
    import random

    from hfit_dagster.masking.known_spans import KNOWN, NONE, PYTHON, row_context
    from hfit_dagster.masking.row_context import splice

    rng = random.Random(3)
    ops = ["person_name", "first_name", "email"]
    words = ["and", "son", "_x", "'", "'s", ",", " ", "  ", "-", ".", "9", "Jordan", "ann", "ANNA", "é"]
    texts, rows = [], []
    for _ in range(3000):
        values = [rng.choice(["Anna Lee", "Lee", None, "Al", "anna.lee@mail.example", "O'Neil'", "Anna"])
                  for _ in ops]
        pieces = []
        for _ in range(rng.randint(0, 8)):
            value = rng.choice([v for v in values if v] or ["x"])
            pieces.append(rng.choice([value, value.upper(), value.lower(), value[:-1], rng.choice(words)]))
            pieces.append(rng.choice([" ", "", ", ", "s ", "'s "]))
        texts.append("".join(pieces) if rng.random() > 0.03 else None)
        rows.append([(v, None if v is None or rng.random() < 0.05 else f"F{j}{v[:2]}", op)
                     for j, (v, op) in enumerate(zip(values, ops, strict=True))])
    context = [(pa.array([r[j][0] for r in rows], pa.string()), pa.array([r[j][1] for r in rows], pa.string()))
               for j in range(len(ops))]
    found = row_context(pa.array(texts, pa.string()), [c[0] for c in context], [c[1] for c in context])
    replaced, keys = found.replaced.to_pylist(), found.keys.to_pylist()
    layouts: dict[bytes, tuple] = {}
    for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
        if text is None or not text.isascii() or "\x00" in text:
            assert found.status[i] == (PYTHON if text is not None and not text.isascii() else found.status[i])
            continue
        spans = find_known_spans(text, row)
        if not spans:
            assert found.status[i] == NONE, text
            continue
        assert found.status[i] == KNOWN, text
        assert replaced[i] == splice(text, ((k.start, k.end, k.fake) for k in spans)), text
        sk = skeleton(text, spans)
        layout = (sk.text, sk.stand_ins, tuple(k.operator for k in spans))
        assert layouts.setdefault(keys[i], layout) == layout, text
    assert len(layouts) > 50 and sum(found.status == KNOWN) > 1000
