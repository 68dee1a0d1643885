"""Free-text operators: Presidio span redaction of text, and of the personal leaves of JSON documents.

Both hand the distinct values to the text redactor of the :class:`MaskContext` (built with the same key), so a
value found in text becomes the same fake it gets in a structured column.
"""

from __future__ import annotations

import pyarrow as pa

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.operators.base import MaskContext, Operator, TextMasking, is_text_type, unsupported


def _redactor(name: str, values: pa.Array, ctx: MaskContext) -> TextMasking:
    if not is_text_type(values.type):
        raise unsupported(name, values.type)
    if ctx.text_redactor is None:
        raise MaskingError(
            f"column '{ctx.column}' uses {name} but the Masker has no TextRedactor",
            hint="create Masker(key, text_redactor=TextRedactor(TextAnalyzer(nlp_model), key))",
        )
    return ctx.text_redactor


class RedactTextOperator(Operator):
    """Free text: Presidio finds PII spans and each span is replaced by a deterministic fake of its kind."""

    name = "redact_text"

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        redactor = _redactor(self.name, values, ctx)
        return pa.array(redactor.redact_many(values.to_pylist()), type=values.type)


class JsonPiiOperator(Operator):
    """JSON documents: only the leaves holding personal data are faked (see :mod:`~hfit_dagster.masking.json_pii`).

    A masked document longer than its column (fakes can be longer than the leaves they replace) cannot be cut
    and stay JSON: it becomes the empty document of its kind (``{}``, ``[]``, ``""``)."""

    name = "json_pii"

    def shorten(self, fakes: pa.Array, max_length: int) -> pa.Array:
        empty = {"{": "{}", "[": "[]"}
        return pa.array([empty.get(f.lstrip()[:1], '""') for f in fakes.to_pylist()], pa.string())

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        redactor = _redactor(self.name, values, ctx)
        return pa.array(redactor.mask_json_many(values.to_pylist()), type=values.type)
