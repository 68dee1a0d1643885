"""The masking plan of a table: one explainable decision per column, printable and JSON-able.

Like presidio-structured, the plan is separate from the engine that applies it (:class:`Masker`): the
plan is what a reviewer reads (``hfit pkg-tmpl plan NAME``, before any build) and what the manifest and the
Dagster asset metadata record; the masker just executes it.

Precedence for each column:

1. an explicit template rule (``rules[column]``; ``keep`` is a valid rule);
2. a foreign key whose parent column is masked: the same operator, so joins on masked values still match
   (pass the parent tables' plans as ``parent_plans``; plans are built parent-first);
3. ``default="keep"``: keep everything else (local experiments only);
4. ``default="auto"`` (deny by default): classification - text columns whose sampled values are JSON
   documents are walked (``json_pii`` when a leaf holds personal data), then column name and type, then keys
   and non-text types are kept, then Presidio on sampled values of the remaining text columns;
5. keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.catalog import OPERATOR_KINDS, WHOLE_VALUE_ENTITIES
from hfit_dagster.masking.classifier import (
    DEFAULT_SAMPLE_SIZE,
    FREE_TEXT,
    Classification,
    classify_by_name,
    classify_by_type,
    classify_by_values,
    looks_personal,
    name_tokens,
)
from hfit_dagster.masking.column_kinds import ColumnKind, column_kind
from hfit_dagster.masking.enum_labels import personal_labels, personal_members
from hfit_dagster.masking.json_pii import classify_json
from hfit_dagster.masking.operators.base import NO_LIMITS, ColumnLimits, Operator, is_text_type
from hfit_dagster.masking.operators.registry import get_operator
from hfit_dagster.masking.value_patterns import (
    ShapeFinding,
    as_text,
    birth_dates,
    entity_hits,
    integer_entity,
    iso_dates,
    may_be_identifier,
    postcodes,
    whole_value_entity,
)

if TYPE_CHECKING:
    from hfit_dagster.masking.text_analysis import TextAnalyzer

DEFAULTS = ("auto", "keep")


@dataclass(frozen=True)
class ColumnInfo:
    """What the planner knows about a column from the source schema."""

    name: str
    sql_type: str
    primary_key: bool = False
    foreign_key: str | None = None  # "table.column" it references
    unique: bool = False
    nullable: bool = True
    max_length: int | None = None  # characters a string column holds (VARCHAR(24): 24); None: no limit
    labels: tuple[str, ...] | None = None  # an enum type's labels
    max_bytes: int | None = None  # bytes a value holds (MySQL TINYTEXT: 255, in any character set); None: no limit
    # an enum's labels faked by ``label_operator`` though no recognizer finds them personal: the column's name or
    # rule says its values are (a ``first_name`` ENUM of names the gazetteers lack)
    faked_labels: tuple[str, ...] | None = None
    label_operator: str | None = None
    largest: int | None = None  # the largest whole number a masked value may be (None: the type's own)
    enum_type: str | None = None  # the PostgreSQL enum type of the column (one set of labels for all its columns)

    @property
    def limits(self) -> ColumnLimits:
        """What a masked value of this column must fit."""
        sql_type = self.sql_type.strip().upper()
        return ColumnLimits(self.max_length, self.labels, bool(_ARRAY_TYPE.search(sql_type)),
                            bool(_JSON_TYPE.match(sql_type)),
                            personal_labels=self._personal_labels(),
                            label_operator=_resolved(self.label_operator or _label_operator(self.labels)),
                            max_bytes=self.max_bytes,
                            number=column_kind(sql_type) in (ColumnKind.INTEGER, ColumnKind.DECIMAL),
                            largest=self.largest if self.largest is not None else largest_whole(sql_type),
                            uuid=column_kind(sql_type) == ColumnKind.UUID)

    def _personal_labels(self) -> tuple[str, ...]:
        if self.faked_labels is not None:
            return self.faked_labels
        return personal_members(self.labels) if self.labels is not None else ()


def _resolved(operator: str | None) -> Operator | None:
    return get_operator(operator) if operator else None


def _label_operator(labels: tuple[str, ...] | None) -> str | None:
    """The operator that fakes an enum type's personal labels (None: no label is personal data)."""
    personal = personal_labels(labels) if labels is not None else None
    return personal.operator if personal is not None else None


_ARRAY_TYPE = re.compile(r"\]$|^ARRAY\b")
_WHOLE_DECIMAL = re.compile(r"^(?:NUMERIC|DECIMAL|DEC|FIXED|NUMBER)\s*\(\s*(\d+)\s*(?:,\s*0\s*)?\)")
_INTEGER_TYPE = re.compile(r"^(TINYINT|SMALLINT|INT2|SMALLSERIAL|MEDIUMINT|INTEGER|INT4|INT|SERIAL|BIGINT|INT8|"
                           r"BIGSERIAL)\b")
_INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "INT2": 16, "SMALLSERIAL": 16, "MEDIUMINT": 24, "INTEGER": 32,
                 "INT4": 32, "INT": 32, "SERIAL": 32, "BIGINT": 64, "INT8": 64, "BIGSERIAL": 64}


def largest_whole(sql_type: str) -> int | None:
    """The largest value a whole-number column type holds (``INT``: 2^31-1, ``INT UNSIGNED``: 2^32-1,
    ``NUMERIC(9,0)``: 999999999), None for other types: a masked integer is wrapped into it, since the Arrow type
    a reader gives (int64 for a MySQL INT) may hold more than the column."""
    upper = sql_type.strip().upper()
    found = _WHOLE_DECIMAL.match(upper)
    if found:
        return 10 ** int(found.group(1)) - 1
    found = _INTEGER_TYPE.match(upper)
    if found is None:
        return None
    bits = _INTEGER_BITS[found.group(1)]
    return (1 << bits) - 1 if "UNSIGNED" in upper else (1 << (bits - 1)) - 1
_JSON_TYPE = re.compile(r"^JSONB?$")


# types whose values no whole-value fake can be: ranges, geometry, text search, XML (PostgreSQL spellings); kept
# unless their name says otherwise (network types are not here: ip_address and shape write valid inet, cidr, MACs)
_STRUCTURED_TYPE = re.compile(r"^(INT4RANGE|INT8RANGE|NUMRANGE|TSRANGE|TSTZRANGE|DATERANGE|\w*MULTIRANGE|POINT|LINE|"
                              r"LSEG|BOX|PATH|POLYGON|CIRCLE|TSVECTOR|TSQUERY|XML)\b")


@dataclass(frozen=True)
class ColumnDecision:
    """How one column is masked, and why (``evidence`` is for humans; it never contains data values)."""

    column: str
    operator: str
    entity: str | None
    confidence: float
    evidence: str
    source: str

    @property
    def masked(self) -> bool:
        return self.operator != "keep"


@dataclass
class TableMaskingPlan:
    """Decisions for every column of one table, in column order."""

    table: str
    decisions: dict[str, ColumnDecision] = field(default_factory=dict)
    # what each column's masked values must fit (not part of the manifest's form: read from the schema)
    columns: dict[str, ColumnInfo] = field(default_factory=dict, compare=False, repr=False)

    def limits(self, column: str) -> ColumnLimits:
        """The limits a masked value of ``column`` must fit (none when the plan was read back from a manifest)."""
        info = self.columns.get(column)
        return info.limits if info is not None else NO_LIMITS

    def masked_columns(self) -> list[str]:
        """Columns whose operator is not ``keep``."""
        return [name for name, d in self.decisions.items() if d.masked]

    def to_dict(self) -> dict:
        """JSON-able form for the manifest."""
        return {
            "table": self.table,
            "masked_columns": self.masked_columns(),
            "columns": [asdict(d) for d in self.decisions.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableMaskingPlan:
        """Read a plan back from :meth:`to_dict` output (e.g. from a manifest)."""
        decisions = [ColumnDecision(**c) for c in data["columns"]]
        return cls(table=data["table"], decisions={d.column: d for d in decisions})

    def __str__(self) -> str:
        header = ("column", "operator", "entity", "conf", "source", "evidence")
        rows = [
            (d.column, d.operator, d.entity or "-", f"{d.confidence:.2f}", d.source, d.evidence)
            for d in self.decisions.values()
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

        def fmt(row: tuple[str, ...]) -> str:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
            return "  " + "  ".join([*cells, row[-1]]).rstrip()

        title = (
            f"masking plan for '{self.table}': {len(self.masked_columns())} of {len(self.decisions)} "
            "columns masked"
        )
        return "\n".join([title, fmt(header), *(fmt(r) for r in rows)])


def _decision(column: str, c: Classification) -> ColumnDecision:
    return ColumnDecision(column, c.operator, c.entity, c.confidence, c.evidence, c.source)


def _normalize_rules(table: str, columns: list[ColumnInfo], rules: Mapping[str, str]) -> dict[str, str]:
    """Rules keyed by bare column name; unknown columns and operators are errors, not silent no-ops.

    Why strict: a typo in a rule (``emial: email``) that were silently ignored would publish the real
    column if classification also missed it.
    """
    by_name = {c.name: c for c in columns}
    out: dict[str, str] = {}
    for key, operator in rules.items():
        column = key.split(".", 1)[1] if key.startswith(f"{table}.") else key
        if column not in by_name:
            raise MaskingError(
                f"masking rule for unknown column '{key}' in table '{table}'",
                hint="columns: " + ", ".join(c.name for c in columns),
            )
        get_operator(operator)
        sql_type = by_name[column].sql_type
        if operator in OPERATOR_KINDS and column_kind(sql_type) not in OPERATOR_KINDS[operator]:
            raise MaskingError(
                f"masking rule '{operator}' cannot apply to {table}.{column} of type {sql_type}",
                hint="use hash, null, fixed or keep for this column, or fix the rule",
            )
        max_length = by_name[column].max_length
        if operator == "email" and max_length is not None and max_length < _SHORTEST_EMAIL:
            raise MaskingError(
                f"masking rule 'email' cannot apply to {table}.{column}: {max_length} characters cannot hold an "
                "address on a reserved domain",
                hint="use hash or shape for this column",
            )
        out[column] = operator
    return out


_SHORTEST_EMAIL = len("0@example.com")  # the shortest address the email operator writes


def _sample_values(sample: pa.Table | None, column: str, limit: int) -> list[str] | None:
    """Up to ``limit`` distinct, non-empty values of a sampled column as strings (None: not sampled)."""
    if sample is None or column not in sample.column_names:
        return None
    values = sample.column(column)
    if not is_text_type(values.type):
        try:
            values = values.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    distinct = pc.unique(values).drop_null()
    out: list[str] = []
    for v in distinct.to_pylist():
        if v.strip():
            out.append(v)
            if len(out) >= limit:
                break
    return out


def _from_parent(
    col: ColumnInfo, parent_plans: Mapping[str, TableMaskingPlan] | None
) -> ColumnDecision | None:
    if not col.foreign_key or not parent_plans or "." not in col.foreign_key:
        return None
    parent_table, parent_column = col.foreign_key.rsplit(".", 1)
    plan = parent_plans.get(parent_table)
    parent = plan.decisions.get(parent_column) if plan else None
    if parent is None:
        return None
    if not parent.masked:
        # the child's values are the parent's: kept like them (the watch over kept columns still checks them)
        return ColumnDecision(col.name, "keep", None, 1.0, f"foreign key to {col.foreign_key}, which is kept", "key")
    return ColumnDecision(
        col.name,
        parent.operator,
        parent.entity,
        parent.confidence,
        f"foreign key to {col.foreign_key}, which is masked as {parent.operator}",
        "key",
    )


def _json_decision(
    col: ColumnInfo, values: list[str], analyzer: TextAnalyzer | None, by_name: Classification | None
) -> ColumnDecision | None:
    """``json_pii`` (or keep) for a column whose sampled values are JSON objects/arrays, else None.

    Why before the name rules: a whole-value fake (a street address for an ``address`` JSON column) would
    not even load into a JSON-typed column; leaves are masked by their own keys and Presidio instead.
    """
    findings = classify_json(values, analyzer)
    if findings is None:
        return None
    evidence = findings.evidence()
    if findings.has_pii:
        source = "presidio" if findings.by_presidio else "name"
        confidence = 0.95 if findings.by_key else 0.8
        return ColumnDecision(col.name, "json_pii", ",".join(findings.entities) or None, confidence, evidence,
                              source)
    if by_name is not None and by_name.operator != FREE_TEXT:
        # Deny by default: the column's name says personal data even though the sample showed none.
        return ColumnDecision(col.name, "json_pii", by_name.entity, by_name.confidence,
                              f"column name '{col.name}'; {evidence}", "name")
    if analyzer is None:
        return ColumnDecision(col.name, "keep", None, 0.3, f"{evidence} (no analyzer: leaves not checked)",
                              "default")
    return ColumnDecision(col.name, "keep", None, 0.7, evidence, "presidio")


def _column_sample(sample: pa.Table | None, column: str) -> pa.Array | None:
    """The sampled values of one column as one array (None: the column was not sampled)."""
    if sample is None or column not in sample.column_names:
        return None
    values = sample.column(column)
    return values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)


def _whole_numbers(raw: pa.Array) -> pa.Array:
    """A sampled integer or whole-decimal column as integers: a decimal's values cast, a PostgreSQL numeric's
    text (digits, or NaN and infinities, which are left out) parsed; values past 18 digits left out."""
    if pa.types.is_integer(raw.type):
        return raw
    text = pc.utf8_trim_whitespace(pc.cast(raw.drop_null(), pa.string()))
    text = text.filter(pc.match_substring_regex(text, r"^[+-]?[0-9]{1,18}$"))
    return pc.cast(text, pa.int64())


def _by_values(col: ColumnInfo, finding: ShapeFinding, operator: str | None = None, note: str = "") -> ColumnDecision:
    return ColumnDecision(col.name, operator or finding.operator, finding.entity, round(finding.share, 2),
                          finding.evidence() + note, "values")


def _unsampled(col: ColumnInfo, rows: int) -> ColumnDecision:
    """Deny by default: a text-like column with no non-empty sampled value is masked, never kept unseen."""
    if col.nullable:
        operator = "null"
    elif column_kind(col.sql_type) == ColumnKind.BINARY:
        operator = "hash"
    else:
        operator = "shape"  # NOT NULL text: blank stays blank, anything else keeps only its shape
    return ColumnDecision(col.name, operator, None, 0.5,
                          f"no non-empty value in {rows} rows sampled across the table: masked by default", "default")


def _binary_decision(col: ColumnInfo, raw: pa.Array, rows: int, analyzer: TextAnalyzer | None,
                     sample_size: int) -> ColumnDecision:
    """A BLOB/VARBINARY/bytea column: kept when its values are not text; when they are UTF-8 text, looked at
    like text, and nulled (or hashed, NOT NULL) when that text holds personal data."""
    present = pc.unique(raw.drop_null())
    if not len(present):
        return _unsampled(col, rows)
    texts = as_text(raw)
    assert texts is not None
    if len(texts) * 2 < len(present):
        return ColumnDecision(col.name, "keep", None, 0.9,
                              f"type {col.sql_type} (binary): {len(present) - len(texts)}/{len(present)} sampled "
                              "values are not text", "type")
    operator = "null" if col.nullable else "hash"
    finding = whole_value_entity(texts)
    if finding is not None:
        return _by_values(col, finding, operator, "; binary values are not rewritten in place")
    inside = entity_hits(texts)
    if inside:
        entity = max(inside, key=lambda e: int(inside[e].sum()))
        return ColumnDecision(col.name, operator, entity, 0.9,
                              f"value shapes: {int(inside[entity].sum())}/{len(texts)} sampled binary values are "
                              f"UTF-8 text containing {entity}; binary values are not rewritten in place", "values")
    if analyzer is not None:
        found = classify_by_values(texts.slice(0, sample_size).to_pylist(), analyzer)
        if found.operator != "keep":
            return ColumnDecision(col.name, operator, found.entity, found.confidence,
                                  f"binary values are UTF-8 text; {found.evidence}", "presidio")
        return ColumnDecision(col.name, "keep", None, found.confidence,
                              f"binary values are UTF-8 text; {found.evidence}", "presidio")
    return ColumnDecision(col.name, operator, None, 0.5,
                          "binary values are UTF-8 text, no analyzer to check them: masked by default", "default")


def _classify(
    table: str,
    col: ColumnInfo,
    siblings: list[tuple[str, str]],
    sample: pa.Table | None,
    analyzer: TextAnalyzer | None,
    sample_size: int,
) -> ColumnDecision:
    by_name = classify_by_name(table, col.name, col.sql_type, siblings, col.nullable)
    if by_name is None and col.labels is not None:
        # an enum named like a person's name holds names, listed ones or not (first_name ENUM('Nesip', ...))
        text_named = classify_by_name(table, col.name, "TEXT", siblings, col.nullable)
        by_name = text_named if text_named is not None and text_named.entity == "PERSON" else None
    personal = personal_labels(col.labels) if col.labels is not None else None
    if personal is not None and (by_name is None or by_name.operator == FREE_TEXT):
        # the values are the labels: masked by the labels' entity, the labels by the same operator
        return ColumnDecision(col.name, personal.operator, personal.entity, 0.9, personal.evidence(col.sql_type),
                              "values")
    if col.labels is not None and (by_name is None or by_name.operator == FREE_TEXT):
        return ColumnDecision(col.name, "keep", None, 0.9,
                              f"type {col.sql_type}: an enum, its values are the type's {len(col.labels)} labels",
                              "type")
    if _STRUCTURED_TYPE.match(col.sql_type.strip().upper()) and (by_name is None or by_name.operator == FREE_TEXT):
        return ColumnDecision(col.name, "keep", None, 0.9,
                              f"type {col.sql_type}: structured values, not looked at as text", "type")
    secret = by_name is not None and by_name.entity in WHOLE_VALUE_ENTITIES  # nulled/hashed whole, JSON or not
    kind = column_kind(col.sql_type)
    raw = _column_sample(sample, col.name)
    rows = sample.num_rows if sample is not None else 0
    if kind == ColumnKind.TEXT and not col.primary_key and not col.foreign_key and not secret:
        values = _sample_values(sample, col.name, sample_size)
        decision = _json_decision(col, values, analyzer, by_name) if values else None
        if decision is not None:
            return decision
    if by_name is not None and by_name.operator != FREE_TEXT:
        return _decision(col.name, by_name)
    if col.primary_key or col.foreign_key:
        # a key holding personal data (an email as primary key) is masked; foreign keys to it follow it
        texts = as_text(raw) if raw is not None and kind == ColumnKind.TEXT else None
        finding = whole_value_entity(texts) if texts is not None else None
        if finding is not None:
            return _by_values(col, finding, note="; a key: columns referring to it get the same operator")
        what = "primary key" if col.primary_key else f"foreign key to {col.foreign_key}"
        return ColumnDecision(col.name, "keep", None, 1.0, what, "key")
    if raw is not None:
        finding = None
        if kind == ColumnKind.INTEGER and may_be_identifier(name_tokens(col.name)):
            finding = integer_entity(_whole_numbers(raw))
        elif kind == ColumnKind.TEMPORAL:
            finding = birth_dates(raw)
        elif kind == ColumnKind.BINARY:
            return _binary_decision(col, raw, rows, analyzer, sample_size)
        if finding is not None:
            return _by_values(col, finding)
    by_type = classify_by_type(col.sql_type)
    if by_type is not None:
        return _decision(col.name, by_type)

    free_text = by_name is not None  # named like notes/comment/description/message
    texts = as_text(raw) if raw is not None else None
    if texts is not None and not len(texts):
        if free_text:  # named like notes: what comes later is redacted as free text
            return ColumnDecision(col.name, "redact_text", None, 0.5,
                                  f"free-text column '{col.name}'; no non-empty value in {rows} rows sampled across "
                                  "the table: redacted by default", "default")
        return _unsampled(col, rows)
    values = _sample_values(sample, col.name, sample_size) if analyzer is not None else None
    if values is not None and analyzer is not None:
        found = classify_by_values(values, analyzer, free_text_hint=free_text)
        evidence = f"free-text column '{col.name}'; {found.evidence}" if free_text else found.evidence
        if found.operator == "keep" and texts is not None:
            shaped = _text_shapes(table, col, siblings, texts)
            if shaped is not None:
                return shaped
        return ColumnDecision(
            col.name, found.operator, found.entity, found.confidence, evidence, found.source
        )
    if texts is not None:
        shaped = _text_shapes(table, col, siblings, texts)
        if shaped is not None:
            return shaped
    if free_text:
        # Deny by default: free text we could not look at is redacted rather than trusted.
        return ColumnDecision(
            col.name, "redact_text", None, 0.5,
            f"free-text column '{col.name}'; no sample/analyzer to check, redacted by default", "name",
        )  # fmt: skip
    return ColumnDecision(
        col.name, "keep", None, 0.3, "text column not classified (no sample or analyzer given)", "default"
    )


def _text_shapes(table: str, col: ColumnInfo, siblings: list[tuple[str, str]],
                 texts: pa.Array) -> ColumnDecision | None:
    """A text column recognized by the shape of its values: one structured entity, or postcodes."""
    finding = whole_value_entity(texts)
    if finding is None:
        personal, _ = looks_personal(table, [s for s in siblings if s[0] != col.name])
        finding = postcodes(texts, personal_table=personal)
    if finding is None:
        finding = birth_dates(iso_dates(texts))
    return _by_values(col, finding) if finding is not None else None


def build_table_plan(
    table: str,
    columns: list[ColumnInfo],
    sample: pa.Table | None,
    rules: dict[str, str],
    default: str = "auto",
    analyzer: TextAnalyzer | None = None,
    *,
    parent_plans: Mapping[str, TableMaskingPlan] | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    type_label_operators: Mapping[str, str] | None = None,
) -> TableMaskingPlan:
    """Decide an operator for every column of ``table`` (see the module docstring for precedence).

    ``sample`` is a few hundred rows of the table as extracted (any subset of its columns); Presidio looks
    at up to ``sample_size`` distinct values per unresolved text column. Without an ``analyzer`` no
    values are looked at: free-text-named columns are redacted, other text columns kept (source
    "default", so the gap is visible in the plan). ``type_label_operators`` (:func:`type_label_operators` over
    every table of the build) fakes every label of a PostgreSQL enum type that a column of it elsewhere says
    are names, emails ..., in each of its columns alike.
    """
    if default not in DEFAULTS:
        raise MaskingError(
            f"masking default '{default}' for table '{table}' is not one of: {', '.join(DEFAULTS)}",
            hint="use 'auto' (classify, deny by default) or 'keep' (local experiments only)",
        )
    normalized = _normalize_rules(table, columns, rules)
    siblings = [(c.name, c.sql_type) for c in columns]
    decisions: dict[str, ColumnDecision] = {}
    infos: dict[str, ColumnInfo] = {}
    for col in columns:
        if col.name in normalized:
            operator = normalized[col.name]
            decision = ColumnDecision(
                col.name, operator, get_operator(operator).entity, 1.0, "template rule", "rule"
            )
        elif (inherited := _from_parent(col, parent_plans)) is not None:
            decision = inherited
        elif default == "keep":
            decision = ColumnDecision(col.name, "keep", None, 1.0, "masking default is 'keep'", "default")
        else:
            decision = _classify(table, col, siblings, sample, analyzer, sample_size)
        info = _labels_faked_by_name(decision, _parent_limits(col, parent_plans) if decision.source == "key" else col)
        info = _labels_of_type(info, type_label_operators or {})
        # masking default 'keep' (local experiments) keeps what no rule masks, enum labels too
        decisions[col.name] = _relabelled_if_kept(decision, info) if default == "auto" else decision
        infos[col.name] = info
    return TableMaskingPlan(table=table, decisions=decisions, columns=infos)


def _parent_limits(col: ColumnInfo, parent_plans: Mapping[str, TableMaskingPlan] | None) -> ColumnInfo:
    """A foreign key masked like its parent column fits the parent's limits (its length, labels and largest whole
    number: an INT parent's hashes wrapped alike in a BIGINT child), so its fakes equal the parent's and joins
    still match (the parent's limits are the narrowest of its own and those of the columns referencing it,
    ``table_plans.column_infos``)."""
    if not col.foreign_key or not parent_plans or "." not in col.foreign_key:
        return col
    parent_table, parent_column = col.foreign_key.rsplit(".", 1)
    plan = parent_plans.get(parent_table)
    parent = plan.columns.get(parent_column) if plan is not None else None
    if parent is None:
        return col
    return replace(col, max_length=parent.max_length, labels=parent.labels, max_bytes=parent.max_bytes,
                   largest=parent.limits.largest, faked_labels=parent.faked_labels,
                   label_operator=parent.label_operator)


def _relabelled_if_kept(decision: ColumnDecision, col: ColumnInfo) -> ColumnDecision:
    """A kept column of an enum type whose labels are faked (personal data, or of a type another column masks as
    names) takes the labels' operator: its values are labels, and the package's type declares their fakes
    (every column of one PostgreSQL type shares them), so a kept value would publish the original and be no
    member of the type."""
    if decision.masked or not col.labels:
        return decision
    operator = col.label_operator
    if operator is None:  # labels the recognizers find personal, or none
        personal = personal_labels(col.labels)
        if personal is None:
            return decision
        return ColumnDecision(col.name, personal.operator, personal.entity, decision.confidence,
                              f"{decision.evidence}; {personal.evidence(col.sql_type)}: values become their labels' "
                              "fakes, as the type's labels do", decision.source)
    return ColumnDecision(col.name, operator, get_operator(operator).entity, decision.confidence,
                          f"{decision.evidence}; the labels of enum type {col.enum_type or col.sql_type} are faked by "
                          f"{operator} (a column of the type holds them as personal data): values become their "
                          "labels' fakes", decision.source)


def type_label_operators(tables: list[tuple[str, list[ColumnInfo], Mapping[str, str]]],
                         default: str = "auto") -> dict[str, str]:
    """Per PostgreSQL enum type (:attr:`ColumnInfo.enum_type`) whose labels no recognizer finds personal, the
    operator that fakes every label when a column of the type is masked as a person, an email ... by a rule or its
    name (``tables``: each table's name, columns and template rules). A type has one set of labels in the
    package, so the decision is the type's, whichever column is planned or written first: a rule's operator
    before a name's, then by table and column name."""
    found: list[tuple[int, str, str, str, str]] = []
    for table, columns, rules in tables:
        typed = [c for c in columns if c.enum_type and c.labels and not personal_members(c.labels)]
        if not typed:
            continue
        normalized = _normalize_rules(table, columns, rules)
        siblings = [(c.name, c.sql_type) for c in columns]
        for col in typed:
            if col.name in normalized:
                decision = ColumnDecision(col.name, normalized[col.name], None, 1.0, "template rule", "rule")
            elif default == "auto" and not col.foreign_key:
                decision = _classify(table, col, siblings, None, None, DEFAULT_SAMPLE_SIZE)
            else:
                continue
            faked = _labels_faked_by_name(decision, col)
            if faked.label_operator is not None:
                found.append((0 if decision.source == "rule" else 1, table, col.name, col.enum_type or "",
                              faked.label_operator))
    out: dict[str, str] = {}
    for *_, enum_type, operator in sorted(found):
        out.setdefault(enum_type, operator)
    return out


def _labels_of_type(col: ColumnInfo, operators: Mapping[str, str]) -> ColumnInfo:
    """Every label of ``col``'s enum type faked by the type's operator (:func:`type_label_operators`)."""
    operator = operators.get(col.enum_type or "") if col.labels else None
    if operator is None:
        return col
    return replace(col, faked_labels=tuple(label for label in col.labels or () if label.strip()),
                   label_operator=operator)


def _labels_faked_by_name(decision: ColumnDecision, col: ColumnInfo) -> ColumnInfo:
    """An enum column masked as a person, an email ... (by its name or a rule) whose labels no recognizer finds
    personal: every label is faked by the column's operator all the same. Its values are the labels, so picking
    one of them per value would publish the originals (a ``first_name`` ENUM of names no gazetteer lists)."""
    operator = get_operator(decision.operator)
    if (not col.labels or decision.operator in ("keep", "null") or operator.entity in (None, "SECRET")
            or personal_members(col.labels)):
        return col
    return replace(col, faked_labels=tuple(label for label in col.labels if label.strip()),
                   label_operator=decision.operator)
