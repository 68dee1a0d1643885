"""The leak scan of a build: originals of masked columns collected (in memory only), the staged output searched.

While staging, the originals of every masked column go to a :class:`LeakCollector` before the batch is masked,
and a row whose first and last names are masked may not keep its original full name. After the exports,
every staged table's text is searched for the originals (:meth:`LeakScan.hits`); a vectorized pre-filter
(:func:`leak_candidates`) drops the values that cannot contain one, the collector's exact scan decides.

The scan of a table whose export has ended may run early, on a thread while the next exports are read,
against the originals collected so far (a snapshot). It counts only if no original came after it and no row
was added to the table since (rows of followed parents reopen the file); otherwise the table is scanned
again at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.checks.leak import LeakCollector, scan_values
from hfit_dagster.checks.token_hashes import TokenPatterns, ascii_tokens
from hfit_dagster.masking import TableMaskingPlan
from hfit_dagster.pipeline.memory import LEAK_SCAN_ROWS, release_memory
from hfit_dagster.pipeline.progress import Progress

SCAN_THREADS = min(2, os.cpu_count() or 1)  # the pre-filter is numpy/Arrow work: columns in parallel
# (table name, rows per batch) -> the staged table's text columns, a batch at a time
StagedText = Callable[[str, int], Iterator[pa.RecordBatch]]
# the originals collected so far: their version, and their patterns with origins (built on a thread)
Snapshot = tuple[int, Future[tuple[TokenPatterns, list[str]]]]


def leak_candidates(values: pa.Array, patterns: TokenPatterns | None) -> pa.Array:
    """The values that may contain a searched original; the collector's scan runs on these only.

    The leak check tokenizes with Python's ``\\w+`` and ``str.lower``, which on ASCII text are
    ``[0-9a-z_]+`` after ASCII lower-casing: an ASCII value is kept when a run of its tokens hashes like a
    searched sequence, which is exactly what the scan decides, here in C over the whole batch. Non-ASCII
    values are always kept (Unicode word rules are left to Python).
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
    for index, _ in patterns.matches(ascii_tokens(plain)):
        hit[index] = True
    return pa.concat_arrays([plain.filter(pa.array(hit)), others])


def _settle(early: tuple[int, Future[set[str]]] | None) -> None:
    """An early scan that no longer counts: not started, dropped; running, waited for (it reads the table's
    file), its outcome ignored (the table is scanned again)."""
    if early is not None and not early[1].cancel():
        try:
            early[1].result()
        except Exception:  # noqa: BLE001 - superseded: the scan of the final file decides
            pass


class LeakScan:
    """Collects a build's originals and searches its staged tables for them (see the module docstring).

    ``staged_text`` reads a staged table's text columns back (the table sink knows the files).
    """

    def __init__(self, staged_text: StagedText) -> None:
        self.staged_text = staged_text
        self.collector = LeakCollector()
        # scans of tables whose exports ended, run while the next exports are read: (originals version, hits)
        self._early: dict[str, tuple[int, Future[set[str]]]] = {}
        self._early_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-leak-early")

    # -- collecting --------------------------------------------------------------------------------------
    def collect(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch) -> None:
        """Remember the originals of the masked columns of ``batch`` (memory only)."""
        for name, decision in plan.decisions.items():
            # once the collector is full (``truncated``) it takes no more originals: skip the call
            if decision.operator != "keep" and not self.collector.truncated:
                self.collector.add_column(table, name, decision.operator, batch.column(name))

    def check_full_names(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch,
                         masked: pa.RecordBatch) -> None:
        """Where a table masks first and last names, no row's original full name may stay in its masked row."""
        by_operator = {d.operator: name for name, d in plan.decisions.items()}
        if "first_name" in by_operator and "last_name" in by_operator:
            self.collector.check_row_full_names(table, batch.column(by_operator["first_name"]),
                                                batch.column(by_operator["last_name"]), masked)

    def prepare_patterns(self) -> None:
        """Build the search patterns of the originals so far (used unless later tables add originals)."""
        self.collector.prepare_patterns()

    # -- scanning ----------------------------------------------------------------------------------------
    def scan_staged(self, name: str, patterns: TokenPatterns, origins: list[str]) -> set[str]:
        """The leak check over one staged table, streamed: string columns only, one batch at a time.

        Same result as ``LeakCollector.scan`` over the distinct values of each text column of the whole
        table, without holding the table in memory.
        ``patterns`` and ``origins`` are the searched originals (``LeakCollector.searched`` or a snapshot):
        the scan touches nothing else of the build, so it may run beside it.
        """
        hits: set[str] = set()
        if not patterns.by_length:
            return hits

        def candidates(column: pa.Array) -> pa.Array:
            distinct = column.dictionary if isinstance(column, pa.DictionaryArray) else pc.unique(column)
            return leak_candidates(distinct, patterns)

        with ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="hfit-leak") as pool:
            for batch in self.staged_text(name, LEAK_SCAN_ROWS):
                for column_name, values in zip(batch.schema.names, pool.map(candidates, batch.columns), strict=True):
                    if len(values):  # the exact scan (checks/leak.py) decides; the pre-filter only drops values
                        found = scan_values(patterns, origins, values.to_pylist())
                        hits |= {f"{origin} in {name}.{column_name}" for origin in found}
                release_memory()
        return hits

    def is_early(self, name: str) -> bool:
        return name in self._early

    def snapshot(self) -> Snapshot | None:
        """The originals collected so far, for an early scan; None before any original."""
        return self.collector.snapshot()

    def start_early(self, name: str, snapshot: Snapshot) -> None:
        """Scan a closed staged table on the early thread against ``snapshot`` (taken before it was closed)."""
        version, searched = snapshot

        def scan() -> set[str]:
            return self.scan_staged(name, *searched.result())

        self._early[name] = (version, self._early_thread.submit(scan))

    def drop_early(self, name: str) -> None:
        """A table gets more rows: its early scan no longer counts."""
        _settle(self._early.pop(name, None))

    def hits(self, names: Iterable[str], progress: Progress) -> set[str]:
        """Every leak of the build: rows that kept a full name, and originals found in the staged tables
        (an early scan where it still counts, else a scan now)."""
        hits: set[str] = set(self.collector.row_hits)
        for name in names:
            early = self._early.pop(name, None)
            if early is not None and early[0] == self.collector.version:  # no original since, no row added since
                progress(f"leak check: {name} (scanned while the next tables were read)")
                hits |= early[1].result()
                continue
            _settle(early)
            release_memory()  # freed Arrow buffers go back to the system before each pass (peak RSS)
            progress(f"leak check: {name}")
            hits |= self.scan_staged(name, *self.collector.searched())
        release_memory()
        return hits

    def close(self) -> None:
        """Forget the originals and stop the early scans (they read staged files: before any cleanup)."""
        self.collector.discard()  # after a success everything was hashed already; after a failure, skip the rest
        self._early_thread.shutdown(wait=True, cancel_futures=True)
