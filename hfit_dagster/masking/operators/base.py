"""What every masking operator is: a name from the catalog, the column types it accepts, ``operate`` over an array.

:meth:`Operator.operate` dictionary-encodes a column (Arrow, in C), hands :meth:`Operator.mask_distinct` only
the *distinct* non-null values and ``take``\\ s the result back to the original positions: duplicates cost
nothing, NULL stays NULL, and the output keeps the input's Arrow type. :meth:`Operator.fake_texts` is the one
place that says how an operator fakes plain strings outside a column (spans of free text, JSON leaves).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.catalog import OPERATOR_SPECS
from hfit_dagster.masking.column_kinds import ColumnKind


class TextMasking(Protocol):
    """What the free-text operators need from the text redactor (:class:`~hfit_dagster.masking.text_redactor.
    TextRedactor` implements it): redaction of free text and of JSON documents with the masking key."""

    key: bytes

    def redact_many(self, values: list[str]) -> list[str]: ...

    def mask_json_many(self, values: list[str]) -> list[str]: ...


def is_text_type(t: pa.DataType) -> bool:
    """Arrow string types the string operators accept."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t)


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


@dataclass(frozen=True)
class ColumnLimits:
    """What the target column can hold, from the reflected source type: its maximum length in characters
    (``VARCHAR(24)``: 24; None: no limit; for an array, of each element), for an enum type its labels (a masked
    value must be one), whether it is an array (held as JSON text: its elements are masked, not the text) and
    whether it is a JSON column (a whole-value operator masks its string leaves, so the value stays JSON).
    ``personal_labels``: the labels that are personal data; when there are any, those labels are faked in the
    type too (:func:`label_fakes`) and each value becomes its label's fake; otherwise a value becomes one of the
    labels. ``number``: the column holds numbers (integers, decimals); ``largest``: the largest value of a
    whole-number column (``INT``: 2^31-1, ``NUMERIC(9,0)``: 999999999), so a masked integer, decimal, or number
    read as its decimal text (a PostgreSQL numeric) still loads into its column."""

    max_length: int | None = None
    labels: tuple[str, ...] | None = None
    array: bool = False
    json: bool = False
    personal_labels: tuple[str, ...] = ()
    max_bytes: int | None = None  # UTF-8 bytes a value holds (MySQL TINYTEXT: 255); None: no limit
    number: bool = False
    largest: int | None = None
    uuid: bool = False  # a UUID column: every fake is a UUID
    # the operator of the personal labels' entity (resolved by the plan, which holds the registry): it fakes them in
    # every column of the type
    label_operator: Operator | None = None


NO_LIMITS = ColumnLimits()


@dataclass
class MaskContext:
    """What an operator may need besides the values: the key, the text redactor, a fixed value, the column
    and what the column can hold."""

    key: bytes
    text_redactor: TextMasking | None = None
    fixed_values: Mapping[str, Any] = field(default_factory=dict)
    table: str | None = None
    column: str | None = None
    limits: ColumnLimits = NO_LIMITS


def unsupported(operator: str, t: pa.DataType) -> MaskingError:
    """The error for an operator applied to an Arrow type it cannot mask."""
    return MaskingError(
        f"operator '{operator}' cannot mask a column of Arrow type {t}",
        hint="use a rule with an operator for this type (hash, null, fixed or keep)",
    )


class Operator(ABC):
    """One masking operator, applied to the distinct values of a column.

    Subclasses implement :meth:`mask_distinct`; :meth:`operate` does the dedupe/take around it so no
    operator ever sees a duplicate or a NULL. Entity, description and accepted column kinds come from the
    catalog entry of the operator's name.
    """

    name: ClassVar[str]

    @property
    def entity(self) -> str | None:
        """The entity its fakes stand for (catalog)."""
        spec = OPERATOR_SPECS.get(self.name)
        return spec.entity if spec is not None else None

    @property
    def description(self) -> str:
        spec = OPERATOR_SPECS.get(self.name)
        return spec.description if spec is not None else ""

    @property
    def accepts(self) -> frozenset[ColumnKind] | None:
        """The column kinds a template rule may apply it to (None: any)."""
        spec = OPERATOR_SPECS.get(self.name)
        return spec.accepts if spec is not None else None

    def operate(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """Mask a whole array: dictionary-encode, mask the dictionary once, fit it to the column, take it back."""
        if len(values) == 0 or values.null_count == len(values):
            return values
        encoded = pc.dictionary_encode(values)
        masked = self.mask_distinct(encoded.dictionary, ctx)
        return self.fit_to_column(encoded.dictionary, masked, ctx).take(encoded.indices)

    def fit_to_column(self, originals: pa.Array, masked: pa.Array, ctx: MaskContext) -> pa.Array:
        """Masked strings made valid for their column (``ctx.limits``); without limits they are returned as they
        are, so fakes of columns without a length limit never change.

        An enum column gets one of its labels, picked by the keyed hash of the original (deterministic; the
        labels are in the package's DDL anyway, only which row holds which is hidden); when the labels are
        personal data, the fake of its own label (the package's DDL holds the labels' fakes). A fake longer than the
        column's maximum length is shortened by :meth:`shorten`; fakes that fit are left as they are.
        """
        limits = ctx.limits
        if not len(masked):
            return masked
        if limits.largest is not None and (pa.types.is_integer(masked.type) or pa.types.is_decimal(masked.type)):
            return wrap_whole(masked, limits.largest)
        if (pa.types.is_binary(masked.type) or pa.types.is_large_binary(masked.type)) and limits.max_length:
            # a binary column's length is in bytes (VARBINARY(8)): a keyed hash cut to it, like a string hash
            return pc.binary_slice(masked, 0, limits.max_length).cast(masked.type)
        if not is_text_type(masked.type):
            return masked
        if limits.uuid:
            return uuid_fakes(masked, ctx.key).cast(masked.type)
        if limits.labels and limits.personal_labels:
            labeller = limits.label_operator or self
            fakes = label_fakes(labeller, ctx.key, limits.labels, limits.personal_labels)
            return faked_members(originals, fakes).cast(masked.type)
        if limits.labels:
            return label_picks(ctx.key, self.name, originals, limits.labels).cast(masked.type)
        if limits.max_length is None and limits.max_bytes is None:
            return masked
        # no value of more characters than the column has bytes fits: the character limit comes first
        max_length = min(n for n in (limits.max_length, limits.max_bytes) if n is not None)
        too_long = pc.fill_null(pc.greater(pc.utf8_length(masked), max_length), False)
        if pc.any(too_long).as_py():
            shortened = self.shorten(vp.as_utf8(masked.filter(too_long)), max_length)
            masked = pc.replace_with_mask(vp.as_utf8(masked), too_long, vp.as_utf8(shortened)).cast(masked.type)
        if limits.max_bytes is not None:
            masked = fit_bytes(masked, limits.max_bytes)
        return masked

    def shorten(self, fakes: pa.Array, max_length: int) -> pa.Array:
        """Fakes longer than ``max_length`` characters cut to it (trailing spaces dropped); operators whose
        fakes have a syntax (emails, addresses) override this to stay valid."""
        return pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(fakes, 0, max_length))

    @abstractmethod
    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """Mask distinct, non-null values; return an array of the same length and type."""

    def fake_texts(self, values: pa.Array, key: bytes) -> pa.Array | None:
        """Fakes for distinct, non-blank strings outside a column (spans of free text, JSON leaves), or None
        when the operator gives no per-value fake (the caller tags or drops the value)."""
        return None


_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def uuid_fakes(values: pa.Array, key: bytes) -> pa.Array:
    """Fakes made UUIDs: a UUID stays, 32 hex digits (a hash) get the dashes, any other fake (a name, a shape with
    letters past f) becomes the UUID of its keyed hash, so equal fakes stay equal."""
    text = vp.as_utf8(values)
    bad = pc.invert(pc.fill_null(pc.match_substring_regex(text, _UUID), True))
    if not pc.any(bad).as_py():
        return text
    wrong = text.filter(bad)
    hexed = pc.fill_null(pc.match_substring_regex(wrong, r"^[0-9a-fA-F]{32}$"), False)
    digits = pc.if_else(hexed, wrong, vp.hex_strings(vp.prf_strings(key, ["uuid/0", "uuid/1"], wrong), 32))
    dashed = pc.replace_substring_regex(
        digits, r"^(.{8})(.{4})(.{4})(.{4})(.{12})$", r"\1-\2-\3-\4-\5")
    return pc.replace_with_mask(text, bad, vp.as_utf8(dashed))


def wrap_whole(values: pa.Array, largest: int) -> pa.Array:
    """Whole numbers past ``largest`` in magnitude wrapped into it (``v mod (largest + 1)``, sign kept), the others
    as they are: a hash or digit fake of an Arrow int64 read from a MySQL INT still fits the INT."""
    if largest >= _arrow_largest(values.type):
        return values
    bound = pa.scalar(Decimal(largest) if pa.types.is_decimal(values.type) else largest, type=values.type)
    over = pc.fill_null(pc.greater(pc.abs(values), bound), False)
    if not pc.any(over).as_py():
        return values
    if pa.types.is_integer(values.type) and not values.null_count:  # a column's distinct fakes: no Python loop
        ints = values.to_numpy()
        magnitude = np.abs(ints)
        wrapped_ints = np.where(magnitude > largest, np.sign(ints) * (magnitude % (largest + 1)), ints)
        return pa.array(wrapped_ints.astype(ints.dtype), values.type)
    wrapped = [(-1 if v < 0 else 1) * (abs(int(v)) % (largest + 1)) for v in values.filter(over).to_pylist()]
    replacement = [Decimal(v) for v in wrapped] if pa.types.is_decimal(values.type) else wrapped
    return pc.replace_with_mask(values, over, pa.array(replacement, values.type))


def _arrow_largest(t: pa.DataType) -> int:
    """The largest value an Arrow integer or decimal type holds."""
    if pa.types.is_decimal(t):
        return 10**t.precision - 1
    return (1 << (t.bit_width - (1 if pa.types.is_signed_integer(t) else 0))) - 1


def fit_bytes(values: pa.Array, max_bytes: int) -> pa.Array:
    """Strings of more than ``max_bytes`` UTF-8 bytes cut at the last whole character that fits (trailing spaces
    dropped); the others as they are."""
    over = pc.fill_null(pc.greater(pc.binary_length(values), max_bytes), False)
    if not pc.any(over).as_py():
        return values
    cut = [v.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore").rstrip() for v in
           pc.filter(values, over).to_pylist()]
    return pc.replace_with_mask(values, over, pa.array(cut, values.type))


def label_picks(key: bytes, operator: str, values: pa.Array, labels: tuple[str, ...]) -> pa.Array:
    """Per value one of ``labels``, picked by the keyed PRF of the value's text (same value, same label)."""
    texts = vp.as_utf8(values if is_text_type(values.type) else values.cast(pa.string()))
    h = vp.prf_strings(key, [f"{operator}/label"], texts)[:, 0]
    return pa.array(labels, pa.string()).take(pa.array((h % np.uint64(len(labels))).astype(np.int64)))


@lru_cache(maxsize=256)
def label_fakes(operator: Operator, key: bytes, labels: tuple[str, ...],
                personal: tuple[str, ...]) -> dict[str, str]:
    """``{label: label in the package}`` for an enum type some of whose labels are personal data (``personal``):
    those masked by ``operator`` as values of a column without limits (the same fake as anywhere else), the
    others kept; each made a valid and distinct label - no comma (a SET member cannot hold one), none equal to
    another ignoring case and surrounding spaces (MySQL compares labels so): a repeated fake gets `` 2``,
    `` 3`` ... in label order."""
    faked = [label for label in labels if label in personal]
    masked = operator.mask_distinct(pa.array(faked, pa.string()), MaskContext(key)).to_pylist() if faked else []
    fakes = dict(zip(faked, masked, strict=True))
    taken = {label.strip().casefold() for label in labels if label not in fakes}
    out: dict[str, str] = {}
    for label in labels:
        if label not in fakes:
            out[label] = label
            continue
        base = " ".join(str(fakes[label] if fakes[label] is not None else "").replace(",", " ").split()) or "label"
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base} {n}"
        taken.add(candidate.casefold())
        out[label] = candidate
    return out


def faked_members(values: pa.Array, labels: dict[str, str]) -> pa.Array:
    """ENUM/SET values with each label replaced as ``labels`` says: a value that is a label as a whole, else each
    of its comma-separated members (a SET value); the empty value stays, and a member that is no label becomes a
    label's replacement picked by its text's length (no valid value of the type can be one)."""
    order = list(labels.values())

    def member(text: str) -> str:
        found = labels.get(text)
        return found if found is not None else order[len(text) % len(order)]

    texts = (values if is_text_type(values.type) else values.cast(pa.string())).to_pylist()
    out = [v if not v else labels[v] if v in labels else ",".join(member(m) for m in v.split(",")) for v in texts]
    return pa.array(out, pa.string())


def is_whole_decimal(t: pa.DataType) -> bool:
    """An Arrow decimal of scale 0 (a MySQL DECIMAL(p,0)): whole numbers, masked as integers are."""
    return pa.types.is_decimal(t) and t.scale == 0


class StringOperator(Operator):
    """An operator defined by a fake per value: ``fake_many`` (vectorized) or ``fake`` (one value).

    Subclasses implement at least one of the two: the default ``fake_many`` calls ``fake`` per distinct
    value, the default ``fake`` runs ``fake_many`` on one value, so both always agree (a value masked in a
    column and the same value found in free text get the same fake). Blank values are kept.

    ``accepts_integers`` lets digit-shaped operators (phone, postal code, ids) run on INTEGER columns and
    whole decimals (``DECIMAL(p,0)``) too: the value is masked as its decimal string and parsed back, wrapped
    into the type's range (p digits for a decimal).
    """

    accepts_integers: ClassVar[bool] = False

    def fake(self, value: str, key: bytes) -> str:
        """The deterministic fake for one original value."""
        return self.fake_many(pa.array([value], pa.string()), key)[0].as_py()

    def fake_many(self, values: pa.Array, key: bytes) -> pa.Array:
        """Fakes for distinct, non-null, non-blank strings (a ``string`` array in, one out)."""
        return pa.array([self.fake(v, key) for v in values.to_pylist()], pa.string())

    def fake_strings(self, values: pa.Array, key: bytes) -> pa.Array:
        """Fakes for any non-null string array; blank (whitespace-only) values are kept."""
        values = vp.as_utf8(values)
        if len(values) == 0:
            return values
        blank = pc.equal(pc.utf8_trim_whitespace(values), "")
        if not pc.any(blank).as_py():
            return self.fake_many(values, key)
        keep = np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)
        idx = np.nonzero(~keep)[0]
        out = values.to_pylist()
        if len(idx):
            faked = self.fake_many(values.take(pa.array(idx)), key).to_pylist()
            for i, v in zip(idx.tolist(), faked, strict=True):
                out[i] = v
        return pa.array(out, pa.string())

    def fake_texts(self, values: pa.Array, key: bytes) -> pa.Array | None:
        return self.fake_strings(values, key)

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        if is_text_type(t):
            return self.fake_strings(values, ctx.key).cast(t)
        if self.accepts_integers and (pa.types.is_integer(t) or is_whole_decimal(t)):
            if is_whole_decimal(t):  # DECIMAL(p,0): a fake of up to p digits
                top = 10**t.precision - 1
            else:
                top = (1 << (t.bit_width - 1 if pa.types.is_signed_integer(t) else t.bit_width)) - 1
            ints = [int(v) for v in values.to_pylist()]
            faked = self.fake_strings(pa.array([str(abs(v)) for v in ints], pa.string()), ctx.key).to_pylist()
            masked = [self._wrap_int(v, f, top) for v, f in zip(ints, faked, strict=True)]
            return pa.array([Decimal(m) for m in masked] if is_whole_decimal(t) else masked, type=t)
        raise unsupported(self.name, t)

    @staticmethod
    def _wrap_int(value: int, fake: str, top: int) -> int:
        """Parse masked digits; wrap into the type's range (a 10-digit INT32 may permute past 2^31)."""
        sign = -1 if value < 0 else 1
        masked = int(re.sub(r"\D", "", fake) or "0")
        return sign * (masked if masked <= top else masked % (top + 1))
