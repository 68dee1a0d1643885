"""The leak check's collector: which originals are searched, and that they are found however they are
written in the output (case, punctuation, inside free text, non-ASCII, very long words)."""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.checks.leak import LeakCollector


def _collector(operator: str, originals: list[str | None], **kwargs: int) -> LeakCollector:
    leaks = LeakCollector(**kwargs)
    leaks.add_column("customers", "contact", operator, pa.array(originals, pa.string()))
    return leaks


def test_an_original_is_found_inside_other_text_whatever_its_case() -> None:
    """An email pasted into a note, upper-cased and followed by punctuation, still fails the build."""
    leaks = _collector("email", ["maria.lopez@example.org", "+49 151 2345 6789"])
    assert leaks.scan(["Mail MARIA.LOPEZ@EXAMPLE.ORG!"]) == {"customers.contact"}
    assert leaks.scan(["call 49-151-2345-6789 now"]) == {"customers.contact"}
    assert leaks.scan(["maria lopez at example dot org", None, ""]) == set()


def test_short_and_single_name_originals_are_not_searched() -> None:
    """A lone first name could be somebody else's fake; a lone long word or a number is searched."""
    leaks = _collector("email", ["Maria", "Gonzalez", "1234567", "abc"])
    assert leaks.scan(["Maria"]) == set()
    assert leaks.scan(["gonzalez"]) == {"customers.contact"}
    assert leaks.scan(["id 1234567"]) == {"customers.contact"}
    names = _collector("person_name", ["Gonzalez", "Ana Gonzalez"])
    assert names.scan(["Gonzalez"]) == set()
    assert names.scan(["dear ana gonzalez,"]) == {"customers.contact"}


def test_non_ascii_and_very_long_words_are_found() -> None:
    """Unicode word rules and words longer than the vectorized hash takes go through Python, same result."""
    long_word = "x" * 5_000
    leaks = _collector("street_address", ["Zoë Ångström-Straße 5", f"{long_word} tail"])
    assert leaks.scan(["lives at zoë ångström straße 5."]) == {"customers.contact"}
    assert leaks.scan([f"{long_word.upper()} TAIL"]) == {"customers.contact"}
    assert leaks.scan([f"{long_word} other"]) == set()


def test_the_number_of_originals_is_capped_and_reported() -> None:
    """Past max_originals nothing more is kept, and the manifest says the search was sampled."""
    leaks = _collector("email", [f"user{i}@example.org" for i in range(10)], max_originals=4)
    leaks.add_column("orders", "email", "email", pa.array(["late@example.org"]))
    summary = leaks.summary()
    assert summary["sampled"] is True and summary["originals_searched"] == 4
    assert leaks.scan(["late@example.org"]) == set()
    assert len(leaks.scan([f"user{i}@example.org" for i in range(10)])) == 1


def test_values_repeated_across_batches_do_not_use_up_the_cap() -> None:
    """Postcodes repeat in every batch; the email collected after them is still searched."""
    leaks = LeakCollector(max_originals=10)
    for _ in range(5):
        leaks.add_column("customers", "postcode", "postal_code", pa.array(["SW1A 1AA", "EC1A 1BB", "W1A 0AX"]))
    leaks.add_column("customers", "email", "email", pa.array(["anna.secret@web.de"]))
    assert leaks.scan(["contact anna.secret@web.de"]) == {"customers.email"}
    assert leaks.truncated is False


def test_digits_of_any_script_make_a_short_single_token_searched() -> None:
    """A 7-digit phone written in Arabic-Indic digits is searched like one written in ASCII digits."""
    leaks = _collector("phone", ["١٢٣٤٥٦٧"])
    assert leaks.scan(["call ١٢٣٤٥٦٧ now"]) == {"customers.contact"}


def test_patterns_prepared_early_are_rebuilt_when_originals_come_after() -> None:
    """Staging prepares the patterns when a table ends; a later table's originals are still searched."""
    text = ["call +44 20 7946 0000 or first.person@corp.example"]
    prepared_only = LeakCollector()
    prepared_only.add_column("a", "email", "email", pa.array(["first.person@corp.example"]))
    prepared_only.prepare_patterns()
    assert prepared_only.scan(text) == {"a.email"}

    later = LeakCollector()
    later.add_column("a", "email", "email", pa.array(["first.person@corp.example"]))
    later.prepare_patterns()
    later.add_column("b", "phone", "phone", pa.array(["+44 20 7946 0000"]))
    assert later.scan(text) == {"a.email", "b.phone"}


def test_patterns_are_prepared_once_for_the_same_originals(monkeypatch) -> None:
    """Every export's end asks for the patterns; without new originals they are merged once."""
    from hfit_dagster.checks import leak

    merges: list[int] = []
    merge = leak._merge
    monkeypatch.setattr(leak, "_merge", lambda *args: merges.append(1) or merge(*args))
    collector = LeakCollector()
    collector.add_column("a", "email", "email", pa.array(["first.person@corp.example"]))
    for _ in range(3):  # three exports end, none adds originals
        collector.prepare_patterns()
    assert collector.scan(["first.person@corp.example"]) == {"a.email"} and len(merges) == 1


def test_a_phone_written_with_dots_is_found_and_dotted_numbers_that_are_no_phone_are_not() -> None:
    """A phone (masked as written with dashes or parentheses) found written with dots fails the build; an IP
    address, a version number and decimals whose digits run together equal it are no leak, and a phone
    written with dots as the original is found written with dashes."""
    leaks = _collector("phone", ["+1 415-555-0100", "(192) 168-1020", "06.12.34.56.78"])
    for written in ["call 415.555.0100.", "+1.415.555.0100", "1.415.555.0100 (cell)", "tel 0612345678",
                    "06-12-34-56-78", "ask 192.168.1020 or"]:
        assert leaks.scan([written]) == {"customers.contact"}, written
    for written in ["host 192.168.10.20", "v4.15.5.550100", "total 415555.0100", "ratio 4155.550100",
                    "4155.55.0100.5", "release 1.9.2.16.81020"]:
        assert leaks.scan([written]) == set(), written


def test_distinct_pair_digests_are_kept_in_place_across_chunks() -> None:
    """The (original, entity) pairs are de-duplicated over their own array (peak memory of the merge): the kept
    values are those a boolean selection keeps, for selections that keep all, none, or runs across chunks."""
    import numpy as np

    from hfit_dagster.checks.leak import _keep_in_place

    rng = np.random.default_rng(9)
    for size, chunk in ((0, 4), (1, 4), (10, 4), (1_000, 7), (50_000, 1 << 10)):
        values = rng.integers(0, 2**63, size, dtype=np.int64).astype(np.uint64)
        for keep in (np.ones(size, bool), np.zeros(size, bool), rng.random(size) < 0.3,
                     np.arange(size) % 97 > 40):
            expected = values[keep]
            work = values.copy()
            _keep_in_place(work, keep, chunk=chunk)
            assert work.tolist() == expected.tolist()
