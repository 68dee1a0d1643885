"""The masking engine: applies a :class:`~hfit_dagster.masking.plan.TableMaskingPlan` to Arrow record batches.

Like presidio-structured, the plan (what each column becomes, printable) is separate from the engine that
applies it. Each column goes through its operator from the registry with one secret key; free-text columns
(the catalog's ``TEXT_OPERATORS``) are masked after the others, knowing each row's own values and their fakes
(:mod:`~hfit_dagster.masking.row_context`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import string_buffers
from hfit_dagster.errors import MaskingError
from hfit_dagster.jit import compiled
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.catalog import CONTEXT_OPERATORS, TEXT_OPERATORS
from hfit_dagster.masking.operators.base import NO_LIMITS, ColumnLimits, MaskContext, Operator, is_text_type
from hfit_dagster.masking.operators.constant import KeepOperator, NullOperator
from hfit_dagster.masking.operators.registry import get_operator
from hfit_dagster.masking.row_context import MIN_LENGTH as MIN_CONTEXT_LENGTH
from hfit_dagster.masking.row_context import substitute_row_values

if TYPE_CHECKING:
    from hfit_dagster.masking.plan import TableMaskingPlan
    from hfit_dagster.masking.text_redactor import TextRedactor

# errors whose messages may quote the value they failed on
VALUE_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError,
                OverflowError, ArithmeticError, UnicodeError)


class Masker:
    """Applies operators (by name) to Arrow arrays and record batches with one secret key.

    ``text_redactor`` is needed only for ``redact_text`` and ``json_pii`` columns; build it with the same key so
    fakes in free text match fakes in structured columns. ``fixed_values`` configures the ``fixed`` operator
    (``"table.column"`` / ``"column"`` / ``"*"`` → value).

    ``compiled_row_context`` chooses how free text meets its row's own values: compiled loops pre-filter the
    rows whose text contains one of their values and locate them in ASCII rows
    (``TextRedactor.redact_rows_in_context``); ``False`` takes the reference path, every row with a text
    through ``TextRedactor.redact_with_row_values`` (Python). Both give the same output.
    """

    def __init__(
        self,
        key: bytes,
        text_redactor: TextRedactor | None = None,
        fixed_values: dict | None = None,
        *,
        compiled_row_context: bool = True,
    ) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) < 16:
            raise MaskingError(
                "the masking key must be at least 16 bytes",
                hint="configure a long random secret, e.g. the output of `openssl rand -hex 32`",
            )
        self.key = bytes(key)
        if text_redactor is not None and text_redactor.key != self.key:
            raise MaskingError(
                "the TextRedactor uses a different masking key than the Masker",
                hint="build both with the same key so fakes in free text match fakes in columns",
            )
        self.text_redactor = text_redactor
        self.fixed_values: dict[str, Any] = dict(fixed_values or {})
        self.compiled_row_context = compiled_row_context

    def mask_array(
        self,
        operator: str,
        values: pa.Array | pa.ChunkedArray,
        *,
        table: str | None = None,
        column: str | None = None,
        limits: ColumnLimits = NO_LIMITS,
    ) -> pa.Array:
        """Mask one column with a named operator; same length, same Arrow type, NULLs stay NULL; fakes fit
        ``limits`` (the column's maximum length, its enum labels).

        An array column (PostgreSQL ``text[]``: an Arrow list, or JSON text as the reader holds it) is masked
        element by element, so every element is a valid value of the element type and the array keeps its
        length."""
        op = get_operator(operator)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
        ctx = MaskContext(self.key, self.text_redactor, self.fixed_values, table, column, limits)
        if limits.number and not isinstance(op, KeepOperator | NullOperator):
            text = values.dictionary_decode() if pa.types.is_dictionary(values.type) else values
            if is_text_type(text.type):
                return _mask_number_text(op, text, ctx).cast(values.type)
        # json_pii walks whole documents (an array held as JSON text is one); other operators fake its elements
        element_wise = (limits.array and op.name != "json_pii") or (limits.json and op.name not in TEXT_OPERATORS)
        if element_wise and is_text_type(values.type) and not isinstance(op, KeepOperator | NullOperator):
            return _mask_json_documents(op, values, ctx)
        if pa.types.is_dictionary(values.type):
            return self._mask_dictionary(op, values, ctx)
        if (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)) \
                and not isinstance(op, KeepOperator | NullOperator):
            return self._mask_list(op, values, ctx)
        out = op.operate(values, ctx)
        return out if out.type == values.type else out.cast(values.type)

    @staticmethod
    def _mask_list(op: Operator, values: pa.ListArray | pa.LargeListArray, ctx: MaskContext) -> pa.Array:
        """Mask the elements of an array column; offsets and NULL arrays kept."""
        elements = values.values
        masked = op.operate(elements, ctx) if len(elements) else elements
        if masked.type != elements.type:
            masked = masked.cast(elements.type)
        rebuilt = type(values).from_arrays(values.offsets, masked, mask=values.is_null())
        return rebuilt.cast(values.type)

    @staticmethod
    def _mask_dictionary(op: Operator, values: pa.DictionaryArray, ctx: MaskContext) -> pa.Array:
        if isinstance(op, KeepOperator):
            return values
        if isinstance(op, NullOperator):
            return pa.nulls(len(values), type=values.type)
        dictionary = values.dictionary
        masked = op.operate(dictionary, ctx) if len(dictionary) else dictionary
        return pa.DictionaryArray.from_arrays(values.indices, masked)

    def mask_batch(self, plan: TableMaskingPlan, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Mask every column of a batch as the plan says; a column missing from the plan is an error.

        Why an error and not "keep": deny by default. A column the planner never saw (schema drift) must
        not slip through unmasked.
        """
        return self.mask_text_columns(plan, batch, self.mask_structured_columns(plan, batch))

    def mask_columns(self, plan: TableMaskingPlan, batch: pa.RecordBatch, names: list[str]) -> dict[str, pa.Array]:
        """The masked values of some structured columns of a batch (a masked key, to name rows as the output
        names them), exactly as :meth:`mask_batch` masks them; errors never quote a value."""
        return {name: self._mask_column(plan, name, plan.decisions[name].operator, batch.column(name))
                for name in names}

    def mask_structured_columns(self, plan: TableMaskingPlan, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """The first half of :meth:`mask_batch`: every column but free text (``redact_text``, ``json_pii``).

        The halves can run on two threads for consecutive batches (staging does): the structured columns
        are mostly compiled work without the GIL, free text mostly Python.
        """
        masked: dict[str, pa.Array] = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            decision = plan.decisions.get(name)
            if decision is None:
                raise MaskingError(
                    f"column '{name}' of table '{plan.table}' has no masking decision",
                    hint="rebuild the masking plan from the current schema",
                )
            if decision.operator not in TEXT_OPERATORS:
                masked[name] = self._mask_column(plan, name, decision.operator, column)
        return masked

    def mask_text_columns(self, plan: TableMaskingPlan, batch: pa.RecordBatch,
                          masked: dict[str, pa.Array]) -> pa.RecordBatch:
        """The second half of :meth:`mask_batch`: free text, knowing the row's own values and their fakes
        (``masked``, from :meth:`mask_structured_columns` of the same batch); the masked batch."""
        text_columns = [n for n in batch.schema.names if plan.decisions[n].operator in TEXT_OPERATORS]
        if text_columns:
            context = [n for n in batch.schema.names
                       if plan.decisions[n].operator in CONTEXT_OPERATORS
                       and pa.types.is_string(batch.schema.field(n).type)]
            for name in text_columns:
                column = batch.column(name)
                operator = plan.decisions[name].operator
                if context and pa.types.is_string(column.type) and column.null_count < len(column):
                    in_context = [(batch.column(n), masked[n], plan.decisions[n].operator) for n in context]
                    in_row = self._guarded(plan, name, operator, partial(
                        self._mask_text_in_context, plan, name, operator, column, in_context))
                    fit = MaskContext(self.key, self.text_redactor, self.fixed_values, plan.table, name,
                                      plan.limits(name))
                    masked[name] = self._guarded(plan, name, operator, partial(
                        get_operator(operator).fit_to_column, column, in_row, fit))
                else:
                    masked[name] = self._mask_column(plan, name, operator, column)
        arrays = [masked[name] for name in batch.schema.names]
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _mask_text_in_context(self, plan: TableMaskingPlan, name: str, operator: str, column: pa.Array,
                              context: list[tuple[pa.Array, pa.Array, str]]) -> pa.Array:
        """A free-text column masked with its row's own values known (see :mod:`row_context`).

        The rows whose text contains one of their own values (all rows with a text on the reference path)
        are looked at one by one, with their context values; the others take the column path (distinct
        texts, cached).
        """
        if self.compiled_row_context:
            hits = rows_naming_own_values(column, [original for original, _, _ in context])
        else:
            hits = np.asarray(column.is_valid())
        if not hits.any():
            return self._mask_column(plan, name, operator, column)
        mask = pa.array(hits)
        others = self._mask_column(plan, name, operator, pc.if_else(mask, pa.scalar(None, column.type), column))
        rows = pa.array(np.flatnonzero(hits))
        if operator == "redact_text" and self.text_redactor is not None:
            texts = column.take(rows)
            in_context = [(original.take(rows), fake.take(rows), op) for original, fake, op in context]
            if self.compiled_row_context:
                redacted = self.text_redactor.redact_rows_in_context(texts, in_context)
            else:
                redacted = self.text_redactor.redact_with_row_values(texts.to_pylist(), _row_triples(in_context))
            named = pa.array(redacted, type=column.type)
        else:
            texts = column.take(rows).to_pylist()
            in_context = [(original.take(rows), fake.take(rows), op) for original, fake, op in context]
            substituted = pa.array(substitute_row_values(texts, _row_triples(in_context)), type=column.type)
            named = self._mask_column(plan, name, operator, substituted)
        return pc.replace_with_mask(others, mask, named.cast(others.type))

    def _mask_column(self, plan: TableMaskingPlan, name: str, operator: str, column: pa.Array) -> pa.Array:
        return self._guarded(plan, name, operator,
                             partial(self.mask_array, operator, column, table=plan.table, column=name,
                                     limits=plan.limits(name)))

    @staticmethod
    def _guarded(plan: TableMaskingPlan, name: str, operator: str, mask: Callable[[], pa.Array]) -> pa.Array:
        """``mask()``, with any error it raises named by table and column and never quoting a value."""
        try:
            return mask()
        except MaskingError as exc:
            if name in exc.message:
                raise
            raise MaskingError(f"{plan.table}.{name}: {exc.message}", hint=exc.hint) from exc
        except VALUE_ERRORS as exc:
            # Arrow's and Python's conversion errors quote the value they failed on ("Failed to parse string:
            # '078-05-1120'"): only the error's class is kept, and the error is raised outside this block so
            # that it carries no context either; no original reaches a log, a message or a traceback.
            failed = type(exc).__name__
        raise MaskingError(
            f"{plan.table}.{name}: operator '{operator}' failed on a value of this column "
            f"({failed}; the value is not shown)",
            hint="choose an operator that fits the column's values, e.g. hash or null, in a masking rule",
        )


def _mask_number_text(op: Operator, values: pa.Array, ctx: MaskContext) -> pa.Array:
    """A number read as its decimal text (a PostgreSQL numeric, so NaN survives) masked as the number it is, so
    it still loads into its column: a whole value of a whole-number decimal (``NUMERIC(9,0)``) goes through the
    operator's decimal path (a hash or a digit fake within the column's precision), ``fixed`` writes 0 unless a
    value is configured, and NaN and infinities (no one's data) stay."""
    text = vp.as_utf8(values)
    largest = ctx.limits.largest
    digits = len(str(largest)) if largest is not None else 0
    whole = pc.fill_null(pc.match_substring_regex(text, r"^\s*[+-]?[0-9]+\s*$"), False)
    if 0 < digits <= 38 and pc.any(whole).as_py():
        numbers = pc.cast(pc.utf8_trim_whitespace(text.filter(whole)), pa.decimal128(digits, 0))
        masked = op.operate(numbers, dataclasses.replace(ctx, limits=ColumnLimits(number=True, largest=largest)))
        text = pc.replace_with_mask(text, whole, vp.as_utf8(pc.cast(masked, pa.string())))
        rest = pc.and_(pc.invert(whole), text.is_valid())
    else:
        rest = text.is_valid()
    rest = pc.and_(rest, pc.invert(pc.fill_null(pc.match_substring_regex(
        text, r"^\s*[+-]?(?:NaN|Infinity|inf)\s*$", ignore_case=True), False)))
    if not pc.any(rest).as_py():
        return text
    others = op.operate(text.filter(rest), ctx)
    return pc.replace_with_mask(text, rest, vp.as_utf8(others.cast(pa.string())))


def _mask_json_documents(op: Operator, values: pa.Array, ctx: MaskContext) -> pa.Array:
    """An array column held as JSON text, or a JSON column under a whole-value operator (a rule ``email`` on a
    ``json`` column): its string leaves (array elements at any depth, object values; not object keys) masked by
    ``op``, numbers, booleans and NULLs kept, the document written back as JSON (numbers as Python writes them:
    ``1.50`` becomes ``1.5``). A value that does not parse (for an array column: is not a JSON array) becomes
    NULL: the operator cannot write a valid value for it."""
    element_ctx = dataclasses.replace(ctx, limits=dataclasses.replace(ctx.limits, array=False, json=False))
    documents: list[Any] = []
    strings: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                collect(item)
        elif isinstance(node, dict):
            for item in node.values():
                collect(item)
        elif isinstance(node, str):
            strings.append(node)

    for text in values.to_pylist():
        try:
            document = json.loads(text) if text is not None else None
        except ValueError:
            text, document = None, None
        documents.append(document if text is not None and (isinstance(document, list) or not ctx.limits.array)
                         else _UNWRITABLE)
        collect(documents[-1])
    fakes = iter(op.operate(pa.array(strings, pa.string()), element_ctx).to_pylist() if strings else [])

    def rebuild(node: Any) -> Any:
        if isinstance(node, list):
            return [rebuild(item) for item in node]
        if isinstance(node, dict):
            return {k: rebuild(v) for k, v in node.items()}
        return next(fakes) if isinstance(node, str) else node

    out = [None if d is _UNWRITABLE else json.dumps(rebuild(d), ensure_ascii=False) for d in documents]
    return pa.array(out, pa.string()).cast(values.type)


_UNWRITABLE = object()  # a SQL NULL, or a value the operator cannot write as valid JSON: NULL


def _row_triples(context: list[tuple[pa.Array, pa.Array, str]]) -> list[list[tuple[Any, Any, str]]]:
    """Per row: (original, fake, operator) of each context column."""
    if not context:
        return []
    triples = [list(zip(original.to_pylist(), fake.to_pylist(), [op] * len(original), strict=True))
               for original, fake, op in context]
    return [list(row) for row in zip(*triples, strict=True)]


def rows_naming_own_values(texts: pa.Array, values: list[pa.Array]) -> np.ndarray:
    """Per row: does the text contain (case-insensitively) one of the same row's ``values``?

    A superset of what :func:`row_context.find_known_spans` accepts (it also wants whole words and a
    minimum length), computed over the batch's Arrow buffers by a compiled loop: ASCII letters compared
    case-insensitively, byte by byte.
    """
    present = np.asarray(texts.is_valid())
    if not present.all():  # only rows with a text can name anything (notes are often NULL): look at those only
        rows = np.flatnonzero(present)
        hits = np.zeros(len(texts), dtype=bool)
        if len(rows):
            take = pa.array(rows)
            hits[rows] = rows_naming_own_values(texts.take(take), [v.take(take) for v in values])
        return hits
    usable = [np.asarray(pc.fill_null(pc.greater_equal(pc.utf8_length(raw), MIN_CONTEXT_LENGTH), False))
              for raw in values]
    any_value = np.logical_or.reduce(usable) if usable else np.zeros(len(texts), dtype=bool)
    hits = np.zeros(len(texts), dtype=bool)
    if any_value.any():
        text_data, text_offsets = string_buffers(texts)
        for value, ok in zip(values, usable, strict=True):
            if ok.any():
                _rows_containing(text_data, text_offsets, *string_buffers(value), ok, hits)
    # Arrow's and Python's Unicode lower-casing differ (final sigma, dotted I, newer tables): non-ASCII text
    # goes to the Python check whenever its row has a value to look for.
    non_ascii = ~np.asarray(pc.fill_null(pc.string_is_ascii(texts), True))
    return hits | (non_ascii & any_value)


@compiled
def _rows_containing(text: np.ndarray, text_offsets: np.ndarray, value: np.ndarray, value_offsets: np.ndarray,
                     usable: np.ndarray, hits: np.ndarray) -> None:  # pragma: no cover - compiled
    """``hits[i] |= text i contains value i``, for usable rows; ASCII letters compared case-insensitively."""
    for i in range(hits.shape[0]):
        if hits[i] or not usable[i]:
            continue
        start, stop = text_offsets[i], text_offsets[i + 1]
        v_start, size = value_offsets[i], value_offsets[i + 1] - value_offsets[i]
        if size == 0 or size > stop - start:
            continue
        first = value[v_start] + 32 if 65 <= value[v_start] <= 90 else value[v_start]
        for at in range(start, stop - size + 1):
            c = text[at] + 32 if 65 <= text[at] <= 90 else text[at]
            if c != first:
                continue
            same = True
            for k in range(1, size):
                a = text[at + k] + 32 if 65 <= text[at + k] <= 90 else text[at + k]
                b = value[v_start + k] + 32 if 65 <= value[v_start + k] <= 90 else value[v_start + k]
                if a != b:
                    same = False
                    break
            if same:
                hits[i] = True
                break
