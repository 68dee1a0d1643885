"""Masking: decide per column what a value becomes, then apply it, deterministically and vectorized.

Modules, each reading only the ones listed before it:

- ``column_kinds`` - what an SQL type can hold; ``catalog`` - operators and entities as data (which entity an
  operator fakes, which column kinds it accepts, which operator fakes a span of an entity, ...);
- ``vector_prf`` - the vectorized keyed PRF; ``row_context``/``known_spans`` - a row's own values in its text;
- ``operators`` - one module per operator family and the ``registry`` (name -> operator);
- ``span_fakes`` - fakes for PII spans found in free text; ``text_analysis`` - Presidio, offline;
  ``classifier`` - name, type and value signals; ``json_document``/``json_pii`` - personal leaves inside JSON;
- ``text_redactor`` - free-text redaction; ``plan`` - one explainable decision per column;
- ``engine`` - the :class:`Masker` that applies a plan; ``factory`` - analyzer and masker from settings.

Importing this package does not load spaCy or Presidio; that happens on first analysis. See docs/masking.md.
"""

from hfit_dagster.masking.catalog import TEXT_OPERATORS
from hfit_dagster.masking.engine import Masker
from hfit_dagster.masking.operators import OPERATORS, Operator, get_operator
from hfit_dagster.masking.plan import ColumnDecision, ColumnInfo, TableMaskingPlan, build_table_plan
from hfit_dagster.masking.text_analysis import DEFAULT_NLP_MODEL, REGEX_MODEL, TextAnalyzer
from hfit_dagster.masking.text_redactor import TextRedactor

__all__ = [
    "DEFAULT_NLP_MODEL",
    "OPERATORS",
    "REGEX_MODEL",
    "TEXT_OPERATORS",
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
