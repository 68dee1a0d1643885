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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hfit_dagster.masking.catalog import TEXT_OPERATORS
    from hfit_dagster.masking.engine import Masker
    from hfit_dagster.masking.operators import OPERATORS, Operator, get_operator
    from hfit_dagster.masking.plan import ColumnDecision, ColumnInfo, TableMaskingPlan, build_table_plan
    from hfit_dagster.masking.text_analysis import DEFAULT_NLP_MODEL, REGEX_MODEL, TextAnalyzer
    from hfit_dagster.masking.text_redactor import TextRedactor

# the package's names, each imported from its module at first use: a process that needs one module of the package
# (the text analyzer's process needs text_analysis alone) does not import them all (pyarrow and numpy with them)
_MODULE_OF = {
    "TEXT_OPERATORS": "catalog", "Masker": "engine", "OPERATORS": "operators", "Operator": "operators",
    "get_operator": "operators", "ColumnDecision": "plan", "ColumnInfo": "plan", "TableMaskingPlan": "plan",
    "build_table_plan": "plan", "DEFAULT_NLP_MODEL": "text_analysis", "REGEX_MODEL": "text_analysis",
    "TextAnalyzer": "text_analysis", "TextRedactor": "text_redactor",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
