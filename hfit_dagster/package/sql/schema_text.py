"""Schema text: what of a source's DDL text reaches package.sql.

Comments, DEFAULT values, generated-column expressions, index and constraint names and ENUM/SET labels are text
someone wrote into the source's schema, and may be personal data (a comment naming the owner, an index named
after a customer, a DEFAULT holding an email, an ENUM of account managers). None of it is copied as it is:

- comments are not written, unless the template keeps them (``masking.comments: keep``, verbatim:
  ``table_plan.KEEP_COMMENTS``);
- a masked column gets no DEFAULT (every row has its value); a text DEFAULT holding personal data gets none
  either;
- a generated column keeps its expression only when the expression holds no literal (a quoted string or a
  number of 3 digits or more); otherwise it is a plain column holding the exported values;
- indexes and constraints are named by their table and columns: ``<table>_<columns>_idx`` (``_key`` unique,
  ``_fkey`` foreign key, ``_pkey`` primary key);
- an ENUM/SET label holding personal data of a column masking masks becomes the label's fake (masking fakes the
  values and the labels alike, ``table_plan.LABEL_FAKES``); of a kept or nulled column, ``<column>_<position>``
  (1-based; ``<type>_<position>`` for a PostgreSQL enum type more columns use, so all of them agree), in the DDL and
  in every value of the column, so the labels and the values stay consistent; the other labels stay.

Personal data is what masking's recognizers find: the structured shapes (emails, phones, SSNs, cards, IBANs)
and the free-text rules (person names, cued ids, addresses).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pyarrow as pa

from hfit_dagster.masking.value_patterns import entity_hits

_LITERAL = re.compile(r"'(?:[^'\\]|''|\\.)*'|\"(?:[^\"\\]|\"\"|\\.)*\"|(?<![\w.])\d{3,}")


@lru_cache(maxsize=4096)
def holds_personal_data(text: str) -> bool:
    """Whether `text` holds a value masking's recognizers take for personal data."""
    if not text.strip():
        return False
    if any(hits.any() for hits in entity_hits(pa.array([text], pa.string())).values()):
        return True
    from hfit_dagster.masking.recognizers import find_all  # the recognizers load when schema text is judged

    return bool(find_all(text))


def expression_has_literal(expression: str) -> bool:
    """Whether a generated column's expression holds a literal copied from the source's schema."""
    return bool(_LITERAL.search(expression))


def structural_name(table: str, columns: Sequence[str], suffix: str) -> str:
    """The name of an index or constraint by what it covers: ``<table>_<columns>_<suffix>``."""
    return "_".join([table, *columns, suffix])


def masked_labels(prefix: str, labels: Sequence[str]) -> dict[str, str] | None:
    """``{label: replacement}`` for the labels that hold personal data (``<prefix>_<position>``); None when every
    label is kept."""
    replaced = {label: f"{prefix}_{position}" for position, label in enumerate(labels, start=1)
                if label != "" and holds_personal_data(label)}
    return replaced or None
