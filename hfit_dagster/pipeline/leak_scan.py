"""The leak scan of a build: originals of masked columns collected as digests, the staged output searched and
every hit judged.

While staging, the originals of every masked column go to a :class:`LeakCollector` before the batch is masked,
with the entity of their row (its kept primary key, else its position in the table). A row of the output
belongs to that entity and to the parents its kept foreign keys point at, so an original found in the free
text of its own row, or of a child row (a customer's email in the note of one of their orders), is a leak.
After masking, each masked value equal to its own original is counted.
After the exports, every staged table's text is searched for the originals (:meth:`LeakScan.hits`);
a vectorized pre-filter (:func:`leak_candidates`) drops the values that cannot contain one, and
:func:`~hfit_dagster.checks.hit_judgement.judge_column` decides what each hit is (a leak, or a collision:
a fake equal to somebody else's original, counted in the manifest).

The scan of a table whose export has ended may run early, on a thread while the next exports are read,
against the originals collected so far (a snapshot). It counts only if no original came after it and no row
was added to the table since (rows of followed parents reopen the file); otherwise the table is scanned
again at the end.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hfit_dagster.checks.fake_spaces import DIGITS_ONLY_OPERATORS, FakeSpace, chance_unchanged, operator_space
from hfit_dagster.checks.hit_judgement import (
    ColumnRole,
    RowEntities,
    RowFakes,
    Verdict,
    judge_column,
    unchanged_leaks,
)
from hfit_dagster.checks.leak import (
    FULL_NAME,
    UNSEARCHED_OPERATORS,
    LeakCollector,
    SearchedOriginals,
    digits_joined,
    pair_digests,
)
from hfit_dagster.checks.token_hashes import TokenPatterns, ascii_tokens, sequence_hashes, string_hashes, tokens_of
from hfit_dagster.masking import TableMaskingPlan
from hfit_dagster.masking.catalog import TEXT_OPERATORS
from hfit_dagster.pipeline.memory import LEAK_SCAN_ROWS, release_memory
from hfit_dagster.pipeline.progress import Progress

SCAN_THREADS = min(2, os.cpu_count() or 1)  # the pre-filter is numpy/Arrow work: columns in parallel
# (table name, rows per batch, key columns to read besides the text, number columns searched as text) -> the staged
# table's columns, a batch at a time (also for a table whose only searched columns are numbers)
StagedText = Callable[[str, int, Sequence[str], Sequence[str]], Iterator[pa.RecordBatch]]
# the originals collected so far: their version, and their merge (built on a thread)
Snapshot = tuple[int, Future[SearchedOriginals]]
_BY_POSITION = np.uint64(0x6A09E667F3BCC908)  # salts the table's hash for entities named by row position


def leak_candidates(values: pa.Array, patterns: TokenPatterns | None) -> pa.Array:
    """The values that may contain a searched original; the judgement runs on these only.

    The leak check tokenizes with Python's ``\\w+`` and ``str.lower``, which on ASCII text are
    ``[0-9a-z_]+`` after ASCII lower-casing: an ASCII value is kept when a run of its tokens (separated digits
    joined, ``digits_joined``) hashes like a searched sequence, which is exactly what the search decides, here
    in C over the whole batch. Non-ASCII values are always kept (Unicode word rules are left to Python).
    """
    values = values.drop_null()
    if patterns is None or not len(values):
        return values
    if not patterns.by_length:
        return values.slice(0, 0)
    ascii_mask = pc.string_is_ascii(values)
    others = values.filter(pc.invert(ascii_mask))
    plain = values.filter(ascii_mask)
    hit = np.zeros(len(plain), dtype=bool)
    hit[patterns.find(ascii_tokens(digits_joined(plain))).value] = True  # read as originals are digested
    return pa.concat_arrays([plain.filter(pa.array(hit)), others])


def _table_hash(name: str) -> np.uint64:
    return string_hashes(pa.array([name], pa.string()))[0]


def _key_hashes(batch: pa.RecordBatch, columns: list[str]) -> np.ndarray | None:
    """One hash per row of the key ``columns`` (as text), 0 where a key column is NULL; None when a column
    cannot be read as text."""
    combined = np.zeros(batch.num_rows, dtype=np.uint64)
    present = np.ones(batch.num_rows, dtype=bool)
    for name in columns:
        try:
            text = pc.cast(batch.column(name), pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        present &= np.asarray(text.is_valid())
        with np.errstate(over="ignore"):
            combined = combined * np.uint64(0x9E3779B97F4A7C15) + string_hashes(text)
    return np.where(present, combined, np.uint64(0))


@dataclass(frozen=True)
class _TableKeys:
    """How a table's rows are named as entities: its kept primary key (else its position) and the kept
    single-column foreign keys with the table each points at."""

    own: tuple[str, ...]
    parents: tuple[tuple[str, str], ...]

    @property
    def columns(self) -> list[str]:
        return list(self.own) + [column for column, _ in self.parents]


def _kept(plan: TableMaskingPlan | None, column: str) -> bool:
    decision = plan.decisions.get(column) if plan is not None else None
    return decision is None or decision.operator == "keep"


# operators whose fakes do not name a row: every value becomes the same or nothing
_ANONYMOUS_OPERATORS = frozenset({"null", "fixed"})


def _names_rows(plan: TableMaskingPlan | None, column: str) -> bool:
    """Does a key column name its rows in the output: kept, or masked to a fake per value (an email as primary
    key and the foreign keys masked alike still pair a child row with its parent)?"""
    decision = plan.decisions.get(column) if plan is not None else None
    return decision is None or decision.operator not in _ANONYMOUS_OPERATORS


def _masked_keys(plan: TableMaskingPlan | None, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if not _kept(plan, c)]


def _role(plan: TableMaskingPlan | None, column: str) -> ColumnRole:
    if _kept(plan, column):
        return ColumnRole.KEPT
    assert plan is not None
    return ColumnRole.TEXT if plan.decisions[column].operator in TEXT_OPERATORS else ColumnRole.MASKED


def _personal_values(plan: TableMaskingPlan, column: str, values: pa.Array) -> pa.Array:
    """The values of a masked column that are originals to search: all of them, except in an ENUM/SET column
    whose personal labels are faked, where the other labels stay as they are (``status`` beside names) and
    are no original (NULL here)."""
    limits = plan.limits(column)
    others = [label for label in limits.labels or () if label not in limits.personal_labels]
    if not limits.personal_labels or not others:
        return values
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary_decode()
    return pc.if_else(pc.is_in(values, value_set=pa.array(others, values.type)), pa.scalar(None, values.type), values)


def _decimal(column_type: sa.types.TypeEngine) -> bool:
    return isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float)


def _settle(early: tuple[int, Future[Verdict]] | None) -> None:
    """An early scan that no longer counts: not started, dropped; running, waited for (it reads the table's
    file), its outcome ignored (the table is scanned again)."""
    if early is not None and not early[1].cancel():
        try:
            early[1].result()
        except Exception:  # noqa: BLE001 - superseded: the scan of the final file decides
            pass


class LeakScan:
    """Collects a build's originals and searches its staged tables for them (see the module docstring).

    ``staged_text`` reads a staged table's text columns (and the key columns asked for) back; the table sink
    knows the files. :meth:`open_table` tells the scan a table's keys (how its rows are named as entities).
    """

    def __init__(self, staged_text: StagedText) -> None:
        self.staged_text = staged_text
        self.collector = LeakCollector()
        # scans of tables whose exports ended, run while the next exports are read: (originals version, verdict)
        self._early: dict[str, tuple[int, Future[Verdict]]] = {}
        self._early_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-leak-early")
        self._tables: dict[str, sa.Table] = {}
        self._plans: dict[str, TableMaskingPlan] = {}
        self._keys: dict[str, _TableKeys] = {}
        self._rows: Counter[str] = Counter()  # rows collected per table (the position of the next batch)
        self._expected_unchanged: dict[str, float] = {}  # per masked column: how many stay unchanged by chance

    # -- entities ----------------------------------------------------------------------------------------
    def open_table(self, table: sa.Table) -> None:
        """A table of the package: its primary and foreign keys name its rows as entities."""
        self._tables[table.name] = table

    def _table_keys(self, name: str) -> _TableKeys:
        if name not in self._keys:
            plan, table = self._plans.get(name), self._tables.get(name)
            own: tuple[str, ...] = ()
            parents: list[tuple[str, str]] = []
            if table is not None:
                primary = [c.name for c in table.primary_key.columns]
                if primary and all(_names_rows(plan, c) for c in primary):
                    own = tuple(primary)
                for constraint in table.foreign_key_constraints:
                    if len(constraint.elements) == 1 and _names_rows(plan, constraint.elements[0].parent.name):
                        element = constraint.elements[0]
                        parents.append((element.parent.name, element.target_fullname.split(".")[-2]))
            self._keys[name] = _TableKeys(own, tuple(parents))
        return self._keys[name]

    def row_entities(self, name: str, batch: pa.RecordBatch, first_row: int) -> np.ndarray:
        """The entities of each row of ``batch`` (rows ``first_row`` on of table ``name``): ``(rows, m)``
        digests, 0 for none. The same rows give the same digests when collected and when scanned."""
        keys = self._table_keys(name)
        columns = []
        own = _key_hashes(batch, list(keys.own)) if keys.own else None
        if own is None:
            position = np.arange(first_row, first_row + batch.num_rows, dtype=np.uint64) + np.uint64(1)
            columns.append(pair_digests(position, _table_hash(name) ^ _BY_POSITION))
        else:
            columns.append(np.where(own != 0, pair_digests(own, _table_hash(name)), np.uint64(0)))
        for column, parent in keys.parents:
            value = _key_hashes(batch, [column])
            if value is not None:
                columns.append(np.where(value != 0, pair_digests(value, _table_hash(parent)), np.uint64(0)))
        return np.stack(columns, axis=1)

    # -- collecting --------------------------------------------------------------------------------------
    def masked_key_columns(self, table: str, plan: TableMaskingPlan) -> list[str]:
        """The masked columns of ``table``'s primary key: its rows are named by their fakes (as the output holds
        them), so :meth:`collect` needs those."""
        self._plans[table] = plan
        return _masked_keys(plan, self._table_keys(table).own)

    def collect(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch,
                key_fakes: dict[str, pa.Array] | None = None) -> None:
        """Remember the originals of the masked columns of ``batch`` as digests, with their rows' entities
        (``key_fakes``: the masked values of the key columns :meth:`masked_key_columns` names, by column)."""
        self._plans[table] = plan
        first_row = self._rows[table]
        self._rows[table] += batch.num_rows
        masked = {name: d.operator for name, d in plan.decisions.items() if d.operator != "keep"}
        if not masked or self.collector.truncated:  # once full (``truncated``) the collector takes no more
            return
        # an original belongs to its own row only; a row of the output to itself and to its parents: a customer's
        # original in the note of one of their tickets is theirs, two rows under one parent (customers of one
        # country) are not one entity
        named = batch
        for column, fakes in (key_fakes or {}).items():
            named = named.set_column(named.schema.get_field_index(column), column, fakes)
        entities = self.row_entities(table, named, first_row)[:, :1]
        for name, operator in masked.items():
            self.collector.add_column(table, name, operator, _personal_values(plan, name, batch.column(name)),
                                      entities)
        by_operator = {operator: name for name, operator in masked.items()}
        if "first_name" in by_operator and "last_name" in by_operator:
            first, last = batch.column(by_operator["first_name"]), batch.column(by_operator["last_name"])
            if all(pa.types.is_string(c.type) or pa.types.is_large_string(c.type) for c in (first, last)):
                full = pc.binary_join_element_wise(first.cast(pa.string()), last.cast(pa.string()), " ")
                self.collector.add_column(table, FULL_NAME, FULL_NAME, full, entities)

    def compare_masked(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch,
                       masked: pa.RecordBatch) -> None:
        """Count the masked values that equal their own original, beside how many chance gives (a fake may
        land on its own input; an operator that passes values through leaks, see
        ``hit_judgement.unchanged_leaks``). Values of 6+ characters; for operators that only change digits,
        values with a digit."""
        for name, decision in plan.decisions.items():
            original = _personal_values(plan, name, batch.column(name))
            if (decision.operator in UNSEARCHED_OPERATORS or decision.operator in TEXT_OPERATORS
                    or not (pa.types.is_string(original.type) or pa.types.is_large_string(original.type))):
                continue
            compared = pc.fill_null(pc.greater_equal(pc.utf8_length(pc.utf8_trim_whitespace(original)), 6), False)
            if decision.operator in DIGITS_ONLY_OPERATORS:
                compared = pc.and_(compared, pc.fill_null(pc.match_substring_regex(original, r"\p{Nd}"), False))
            if not pc.any(compared).as_py():
                continue
            where = f"{table}.{name}"
            values = original.filter(compared)
            same = pc.fill_null(pc.equal(values, masked.column(name).filter(compared).cast(original.type)), False)
            self._expected_unchanged[where] = (self._expected_unchanged.get(where, 0.0)
                                               + float(chance_unchanged(decision.operator, values).sum()))
            self.collector.count_unchanged(where, pc.sum(same).as_py() or 0)

    def prepare_patterns(self) -> None:
        """Merge the originals so far (used unless later tables add originals)."""
        self.collector.prepare_patterns()

    # -- scanning ----------------------------------------------------------------------------------------
    def _row_fakes(self, name: str, batch: pa.RecordBatch) -> Callable[[np.ndarray], np.ndarray]:
        """Rows -> sequence hashes of their masked structured values in ``batch`` (and of their masked
        ``first last``), the fakes free text of the same row may repeat."""
        plan = self._plans.get(name)
        masked = [c for c in batch.schema.names if _role(plan, c) is ColumnRole.MASKED]
        by_operator = {plan.decisions[c].operator: c for c in masked} if plan is not None else {}

        def fakes(rows: np.ndarray) -> np.ndarray:
            take = pa.array(rows)
            columns = [batch.column(c).take(take) for c in masked]
            if "first_name" in by_operator and "last_name" in by_operator:
                first = batch.column(by_operator["first_name"]).take(take).cast(pa.string())
                last = batch.column(by_operator["last_name"]).take(take).cast(pa.string())
                columns.append(pc.binary_join_element_wise(first, last, " "))
            out = np.zeros((rows.size, max(len(columns), 1)), dtype=np.uint64)
            for j, values in enumerate(columns):
                if isinstance(values, pa.DictionaryArray):
                    values = values.dictionary_decode()
                values = digits_joined(pc.fill_null(values.cast(pa.string()), ""))  # as the originals are read
                out[:, j] = sequence_hashes(tokens_of(values), len(values))
            return out

        return fakes

    def scan_staged(self, name: str, searched: SearchedOriginals) -> Verdict:
        """The leak check over one staged table, streamed: string columns only, one batch at a time; every
        hit judged (``hit_judgement``).

        ``searched`` are the originals (``LeakCollector.searched`` or a snapshot): the scan touches nothing
        else of the build, so it may run beside it.
        """
        verdict = Verdict()
        patterns = searched.patterns
        if not patterns.by_length:
            return verdict
        plan = self._plans.get(name)
        keys = self._table_keys(name)
        numbers = self._kept_numbers(name)
        decimals = self._decimal_columns(name)

        first_row = 0
        with ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="hfit-leak") as pool:
            for batch in self.staged_text(name, LEAK_SCAN_ROWS, keys.columns, numbers):
                text = [c for c, f in zip(batch.schema.names, batch.schema, strict=True)
                        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                            or (pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type)))
                        and c not in decimals and c not in numbers]
                text += [c for c in numbers if c in batch.schema.names]
                entities: list[np.ndarray] = []

                def row_entities(rows: np.ndarray, batch: pa.RecordBatch = batch, first: int = first_row,
                                 cache: list[np.ndarray] = entities) -> np.ndarray:
                    if not cache:  # two columns may both compute it: the same array
                        cache.append(self.row_entities(name, batch, first))
                    return cache[0][rows]

                row_fakes = self._row_fakes(name, batch)

                def judged(column_name: str, batch: pa.RecordBatch = batch, row_entities: RowEntities = row_entities,
                           row_fakes: RowFakes = row_fakes) -> Verdict:
                    column = batch.column(column_name)
                    role = _role(plan, column_name)
                    if column_name in numbers:  # a kept number: judged by row, like free text (see _kept_numbers)
                        column, role = pc.cast(column, pa.string()), ColumnRole.TEXT
                    space = operator_space(plan.decisions[column_name].operator) if plan is not None and (
                        role is ColumnRole.MASKED) else FakeSpace.ANY
                    distinct = column.dictionary if isinstance(column, pa.DictionaryArray) else pc.unique(column)
                    values = leak_candidates(distinct, patterns)  # drops values without a hit, in C
                    if not len(values):
                        return Verdict()
                    if isinstance(column, pa.DictionaryArray):
                        column = column.dictionary_decode()
                    return judge_column(searched, f"{name}.{column_name}", role, values, column, row_entities,
                                        row_fakes, space)

                for found in pool.map(judged, text):  # columns judged in parallel (numpy and Arrow work)
                    verdict.add(found)
                first_row += batch.num_rows
                release_memory()
        return verdict

    def _kept_numbers(self, name: str) -> list[str]:
        """The kept integer and whole decimal (scale 0) columns of table ``name`` that may hold a phone or an id
        as a number (not its key columns): scanned as text. A hit there is judged by row, like free text: the
        original of the row or of an entity it belongs to is a leak; another's is a collision, as any number
        column of ids in a large table meets phone-shaped originals by chance."""
        plan, table = self._plans.get(name), self._tables.get(name)
        if table is None:
            return []
        keys = {c.name for c in table.primary_key.columns} | {c.parent.name for c in table.foreign_keys}
        return [c.name for c in table.columns if c.name not in keys and _kept(plan, c.name)
                and ((isinstance(c.type, sa.Integer) and not isinstance(c.type, sa.Boolean))
                     or (_decimal(c.type) and c.type.scale == 0))]

    def _decimal_columns(self, name: str) -> set[str]:
        """The DECIMAL/NUMERIC columns of table ``name``: numbers, not searched as text even where they are staged
        as their decimal text (a PostgreSQL numeric, read so to keep NaN), as a MySQL DECIMAL is not; the whole
        ones among them that are kept are ``_kept_numbers``."""
        table = self._tables.get(name)
        return set() if table is None else {c.name for c in table.columns if _decimal(c.type)}

    def is_early(self, name: str) -> bool:
        return name in self._early

    def snapshot(self) -> Snapshot | None:
        """The originals collected so far, for an early scan; None before any original."""
        return self.collector.snapshot()

    def start_early(self, name: str, snapshot: Snapshot) -> None:
        """Scan a closed staged table on the early thread against ``snapshot`` (taken before it was closed)."""
        version, searched = snapshot

        def scan() -> Verdict:
            return self.scan_staged(name, searched.result())

        self._early[name] = (version, self._early_thread.submit(scan))

    def drop_early(self, name: str) -> None:
        """A table gets more rows: its early scan no longer counts."""
        _settle(self._early.pop(name, None))

    def hits(self, names: Iterable[str], progress: Progress) -> set[str]:
        """Every leak of the build (an early scan where it still counts, else a scan now); the collisions
        found go to the collector's summary."""
        verdict = Verdict(leaks=unchanged_leaks(self.collector.unchanged, self._expected_unchanged))
        for name in names:
            early = self._early.pop(name, None)
            if early is not None and early[0] == self.collector.version:  # no original since, no row added since
                progress(f"leak check: {name} (scanned while the next tables were read)")
                verdict.add(early[1].result())
                continue
            _settle(early)
            release_memory()  # freed Arrow buffers go back to the system before each pass (peak RSS)
            progress(f"leak check: {name}")
            verdict.add(self.scan_staged(name, self.collector.searched()))
        release_memory()
        self.collector.collisions = verdict.collisions
        return verdict.leaks

    def close(self) -> None:
        """Forget the originals and stop the early scans (they read staged files: before any cleanup)."""
        self.collector.discard()  # after a success everything was hashed already; after a failure, skip the rest
        self._early_thread.shutdown(wait=True, cancel_futures=True)
