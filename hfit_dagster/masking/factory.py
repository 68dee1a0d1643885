"""The masking objects a build needs, from settings: one place that knows which settings they read.

Builds (``pipeline/staging.py``), the plan preview and the Dagster assets create their analyzer and masker here,
so the configured spaCy model (``HFIT_SPACY_MODEL`` / ``spacy_model``), custom recognizers
(``recognizers:`` in ``.hfit/config.yaml``), text workers (``HFIT_TEXT_WORKERS`` / ``text_workers``) and the
analyzer's own process (``HFIT_ANALYZER_PROCESS`` / ``analyzer_process``) reach every one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hfit_dagster.masking.text_analysis import TextAnalyzer

if TYPE_CHECKING:
    from hfit_dagster.masking.engine import Masker
    from hfit_dagster.settings import HfitSettings


def text_analyzer(settings: HfitSettings) -> TextAnalyzer:
    """The Presidio analyzer for classification and redaction (model and custom recognizers configured)."""
    return TextAnalyzer(nlp_model=settings.spacy_model, extra_recognizers=settings.recognizers,
                        process=settings.analyzer_process)


def masker(settings: HfitSettings, analyzer: TextAnalyzer | None = None) -> Masker:
    """A Masker with the configured key and a TextRedactor on ``analyzer`` (built from settings if None)."""
    from hfit_dagster.masking.engine import Masker  # pyarrow, numpy: not for a process that only starts an analyzer
    from hfit_dagster.masking.text_redactor import TextRedactor

    key = settings.masking_key_bytes()
    analyzer = analyzer if analyzer is not None else text_analyzer(settings)
    return Masker(key, text_redactor=TextRedactor(analyzer, key, workers=settings.text_workers))
