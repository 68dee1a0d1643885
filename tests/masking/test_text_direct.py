"""The direct analysis path (``TextAnalyzer(direct=True)``, the default: the NER model and Presidio's pattern
recognizers called without the AnalyzerEngine, the model on the words around undecided ones) against the reference
path (``direct=False``: ``engine.analyze`` per text)."""

from __future__ import annotations

from hfit_dagster.masking import TextAnalyzer, TextRedactor

DIRECT_TEXTS = [
    "Customer Nomalanga Dlamini called about order 4411; card 4111 1111 1111 1111 declined.",
    "Ticket 4877872 merged into 5758857; priority P2.",
    "Spoke with Maria Lopez (maria.lopez@example.org) about the refund, from 203.0.113.54.",
    "Audit: social security number 983-92-4727, client ip 2001:db8:85a3::8a2e:370:7334.",
    "The Wireless Mouse box was damaged, 3 of 5 items intact; see request 26948906-dd40-41b8-a419-1357d2ad7457.",
    "Caller Zebulon Quixotic wants the invoice resent to 12 Baker Street, London NW1 6XE.",
    "ship to Hauptstraße 5, 10115 Berlin - tel +49 30 901820, reply to hans.muster@web.de",
    "Per ticket #636931 the NHS number 943 476 5919 was checked; bitcoin 1BoatSLRHtKNngkdXEeobR76b53LETtpyT.",
    "Driver license D1234567 on file, routing via bank account 000123456789; passport 912803456 renewed.",
    "Batch 912803456 finished; D1234567 rows copied to 000123456789.",  # the same numbers without context words
]


def test_direct_analysis_redacts_like_the_engine(key: bytes) -> None:
    """Redaction through the direct path equals the reference on texts with names, emails, IPs, ids, context-scored
    numbers and PII-free sentences: the same spans with the same labels, so the same fakes."""
    reference = TextRedactor(TextAnalyzer(direct=False), key, cache_size=0).redact_many(DIRECT_TEXTS)
    direct = TextRedactor(TextAnalyzer(direct=True), key, cache_size=0).redact_many(DIRECT_TEXTS)
    assert direct == reference
    assert "Nomalanga" not in direct[0] and "maria.lopez" not in direct[2] and "983-92-4727" not in direct[3]
    assert direct[1] == DIRECT_TEXTS[1]


def test_direct_context_scoring_lifts_what_presidio_lifts(key: bytes) -> None:
    """A pattern Presidio scores below the threshold counts when one of its context words stands in the words
    before it, as in the engine: the same entity and score on both paths."""
    text = "Audit: social security number 983-92-4727."
    reference = {(r.entity_type, r.start, r.end, round(r.score, 2))
                 for r in TextAnalyzer(direct=False).analyze(text)}
    direct = {(r.entity_type, r.start, r.end, round(r.score, 2)) for r in TextAnalyzer(direct=True).analyze(text)}
    assert direct == reference
    assert ("US_SSN", 30, 41, 0.85) in direct


def test_direct_is_the_engine_without_rules() -> None:
    """``direct`` applies only with hfit's rules on: Presidio alone stays the stock engine's analysis."""
    assert TextAnalyzer(direct=True, free_text_rules=False).direct is False
