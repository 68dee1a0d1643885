"""Masking: decide per column what a value becomes, then apply it, deterministically and vectorized.

``plan`` decides (template rule > name/type heuristics > JSON walk / Presidio on a sample > keep) and
explains; ``operators`` applies keyed, deterministic fakes to whole Arrow arrays (``vector_prf`` is the
vectorized keyed PRF behind them); ``json_pii`` masks personal leaves inside JSON; ``text_redactor`` wraps
Presidio (offline) for column samples and free-text redaction; ``factory`` builds analyzer and masker from
settings. Importing this package does not load spaCy or Presidio; that happens on first analysis.
See docs/masking.md.
"""

from hfit_dagster.masking.operators import OPERATORS, Masker, Operator, get_operator
from hfit_dagster.masking.plan import ColumnDecision, ColumnInfo, TableMaskingPlan, build_table_plan
from hfit_dagster.masking.text_redactor import DEFAULT_NLP_MODEL, REGEX_MODEL, TextAnalyzer, TextRedactor

__all__ = [
    "DEFAULT_NLP_MODEL",
    "OPERATORS",
    "REGEX_MODEL",
    "ColumnDecision",
    "ColumnInfo",
    "Masker",
    "Operator",
    "TableMaskingPlan",
    "TextAnalyzer",
    "TextRedactor",
    "build_table_plan",
    "get_operator",
]
