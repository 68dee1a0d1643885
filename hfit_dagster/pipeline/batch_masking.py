"""Masking of a build's batches, in memory, before anything is written.

A table with free text is masked in two halves on two threads: the structured columns of a batch
(compiled work, mostly without the GIL) on the masking thread while the calling thread redacts the text of
the batch before it (mostly Python). Masked batches leave in the order they came. With ``pipelined_text``
off, every batch is masked whole, one at a time: the same bytes (tests compare the two).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from hfit_dagster.masking import Masker, TableMaskingPlan
from hfit_dagster.masking.catalog import TEXT_OPERATORS
from hfit_dagster.pipeline.kept_column_watch import KeptColumnWatch
from hfit_dagster.pipeline.leak_scan import LeakScan
from hfit_dagster.pipeline.memory import MASK_AHEAD_WHILE_PREPARING
from hfit_dagster.settings import HfitSettings

# (table name, masked batch) -> written
MaskedRows = Callable[[str, pa.RecordBatch], None]


class BatchMasking:
    """Masks batches by their table's plan and hands them to ``write``; kept columns are checked by ``watch``
    and originals go to ``leak_scan`` first."""

    def __init__(self, settings: HfitSettings, leak_scan: LeakScan, write: MaskedRows, *,
                 watch: KeptColumnWatch | None = None, pipelined_text: bool = True) -> None:
        self.settings, self.leak_scan, self.write, self.pipelined_text = settings, leak_scan, write, pipelined_text
        self.watch = watch if watch is not None else KeptColumnWatch()
        self.masker = Masker(settings.masking_key_bytes(), text_redactor=None)
        self._analyzer: Any = None
        self._pending: deque[tuple[str, TableMaskingPlan, pa.RecordBatch, Future[dict[str, pa.Array]]]] = deque()
        self._mask_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-mask")

    def analyzer(self) -> Any:
        """The text analyzer (built once): the configured model, custom recognizers and text workers, exactly
        as ``hfit pkg-tmpl plan`` uses them; the masker redacts free text with it."""
        if self._analyzer is None:
            from hfit_dagster.masking.factory import masker, text_analyzer

            self._analyzer = text_analyzer(self.settings)
            self.masker = masker(self.settings, self._analyzer)
        return self._analyzer

    def mask(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch) -> None:
        """Mask one batch of ``table`` (now, or its text half once the next batch's structured half runs); a kept
        column holding personal data fails here, before the batch goes anywhere."""
        self.watch.check(table, plan, batch)
        # a masked primary key names its rows by its fakes, as the output (and the foreign keys to it) hold them
        keys = self.masker.mask_columns(plan, batch, self.leak_scan.masked_key_columns(table, plan))
        self.leak_scan.collect(table, plan, batch, keys)
        operators = {d.operator for d in plan.decisions.values() if d.operator != "keep"}
        if not self.pipelined_text or not TEXT_OPERATORS & operators:
            self.complete()
            self._written(table, plan, batch, self.masker.mask_batch(plan, batch))
            return
        structured = self._mask_thread.submit(self.masker.mask_structured_columns, plan, batch)
        self._pending.append((table, plan, batch, structured))
        # while the analyzer is still being built, more batches go ahead with their structured columns
        ahead = 1 if self._analyzer is None or self._analyzer.prepared.is_set() else MASK_AHEAD_WHILE_PREPARING
        while len(self._pending) > ahead:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        table, plan, batch, structured = self._pending.popleft()
        self._written(table, plan, batch, self.masker.mask_text_columns(plan, batch, structured.result()))

    def _written(self, table: str, plan: TableMaskingPlan, batch: pa.RecordBatch, masked: pa.RecordBatch) -> None:
        self.leak_scan.compare_masked(table, plan, batch, masked)
        self.write(table, masked)

    def waits_for_analyzer(self) -> bool:
        """Whether completing the batches handed over would wait for the text analyzer, still being built."""
        return bool(self._pending) and self._analyzer is not None and not self._analyzer.prepared.is_set()

    def complete(self) -> None:
        """Every batch handed over is masked and written."""
        while self._pending:
            self._complete_oldest()

    def close(self) -> None:
        """Stop the masking thread and the worker processes of parallel free-text redaction, if any."""
        self._mask_thread.shutdown(wait=True, cancel_futures=True)
        redactor = getattr(self.masker, "text_redactor", None)
        if redactor is not None and hasattr(redactor, "close"):
            redactor.close()
