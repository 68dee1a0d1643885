"""Stage one: extract every table of a template and mask it in memory; only masked rows reach disk.

The result is a staging directory inside the package store (its files: ``staging_layout``). Stage two
(``package_writer``) turns it into a package; either stage failing leaves the store's published packages
untouched. Staging wires four parts together, each with one job:

* the export walk (``export_walk``) reads the package's rows from the sources, in order, and keeps the keys;
* the table planner (``table_plans``) plans each table, parents first, from rows sampled across it
  (``table_samples``) and its first rows;
* batch masking (``batch_masking``) checks the kept columns of every batch (``kept_column_watch``) and masks
  it in memory;
* the table sink (``table_sink``) writes the masked batches to Parquet and their SQL rows;
* the leak scan (``leak_scan``) collects the originals and searches the staged tables for them.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from hfit_dagster.errors import LeakDetected
from hfit_dagster.extract.source import stream_query
from hfit_dagster.masking import TableMaskingPlan
from hfit_dagster.masking.catalog import TEXT_OPERATORS, masks_free_text
from hfit_dagster.masking.drift import drift_masked_plan
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.package.sql_script import MASKED_COLUMNS
from hfit_dagster.pipeline.batch_masking import BatchMasking
from hfit_dagster.pipeline.export_walk import ExportWalk, QueryReader, Source
from hfit_dagster.pipeline.kept_column_watch import KeptColumnWatch
from hfit_dagster.pipeline.leak_scan import LeakScan
from hfit_dagster.pipeline.progress import Progress, quiet
from hfit_dagster.pipeline.sql_assembly import COPY_CHUNK, AssembledSql, SqlOptions
from hfit_dagster.pipeline.staging_layout import ASSEMBLED_SQL, SCHEMA_FILE, STAGE_FILE
from hfit_dagster.pipeline.subset import REFERENCE_CHUNK
from hfit_dagster.pipeline.table_plans import TablePlanner, plan_table
from hfit_dagster.pipeline.table_sink import DictionaryChoice, TableSink, dictionary_columns
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import BUILTINS
from hfit_dagster.template.spec import TemplateSpec

__all__ = ["StageOptions", "StageResult", "json_default", "stage_template"]


@dataclass(frozen=True)
class StageOptions:
    """How staging reads, masks and writes; the defaults are every build's.

    Each fast path has its plain twin here (tests build both ways and compare): ``chain_exports`` reads
    consecutive plain exports back to back on one reader thread (off: one by one); ``pipelined_text``
    masks a table's free text beside the next batch's structured columns (off: each batch whole).
    ``reference_chunk`` is how many keys one ``IN`` list binds; ``read_query`` reads an export query,
    ``choose_dictionaries`` picks a table's Parquet dictionary columns from its first batch and
    ``sql_copy_chunk`` is how many bytes of a table's SQL part the kernel copies into the script at a time;
    ``rows_by_key`` reads a chunked reference of a MySQL source keys first, then rows by key (off: its query
    per chunk); ``sample_by_range`` samples a whole table by its key range instead of its keys (off: its keys
    read).
    """

    reference_chunk: int = REFERENCE_CHUNK
    chain_exports: bool = True
    pipelined_text: bool = True
    read_query: QueryReader = stream_query
    choose_dictionaries: DictionaryChoice = dictionary_columns
    sql_copy_chunk: int = COPY_CHUNK
    rows_by_key: bool = True
    sample_by_range: bool = True


@dataclass
class StageResult:
    staging: Path
    tables: dict[str, dict[str, Any]]
    checks: dict[str, Any]


@dataclass
class _TableState:
    """One staged table: how it came into the package, its masking plan, its rows."""

    table: sa.Table
    role: str
    plan: TableMaskingPlan
    rows: int = 0


class _AnalysisWanted(Exception):
    """Raised by :class:`_AnalyzerProbe` when a plan would ask the text analyzer."""


class _AnalyzerProbe:
    """Stands in for the text analyzer while staging guesses whether planning or masking will need it: any
    use of it raises :class:`_AnalysisWanted`."""

    def __getattr__(self, name: str) -> Any:
        raise _AnalysisWanted(name)


def text_analysis_expected(spec: TemplateSpec, settings: HfitSettings, sources: dict[str, Source]) -> bool:
    """Whether the template's tables, planned on their spread samples, would look at values with the text
    analyzer (Presidio and spaCy) or mask a column with it (``redact_text``, ``json_pii``).

    A guess made before any export is read, to start building the analyzer early only where it will be used:
    the real plans also see each table's first rows, and when they ask the analyzer after a guess of no, it
    is built then, on first use (the same analyzer and the same decisions, later).
    """
    if masks_free_text(spec.masking):
        return True
    probe = _AnalyzerProbe()
    for source in sources.values():
        for table in source.metadata.tables.values():
            try:
                plan = plan_table(spec, settings, table, None, source.dialect, probe, {},
                                  spread=source.samples.get(table.name))
            except _AnalysisWanted:
                return True
            except Exception:  # noqa: BLE001, S112 - only a guess: the real plan raises it, when and as it did
                continue
            if TEXT_OPERATORS & {d.operator for d in plan.decisions.values()}:
                return True
    return False


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class _Stage:
    """One staging run: the export walk's target (see the module docstring)."""

    def __init__(self, spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings, staging: Path,
                 progress: Progress, previous_columns: dict[str, set[str]] | None, sql_dialect: str | None,
                 sql: SqlOptions | None, options: StageOptions) -> None:
        self.spec, self.params, self.settings, self.staging, self.progress = spec, params, settings, staging, progress
        self.previous_columns, self.sql = previous_columns, sql
        self.leak_scan = LeakScan(self._staged_text)
        self.watch = KeptColumnWatch(enabled=spec.masking_default != "keep")
        self.masking = BatchMasking(settings, self.leak_scan, self._write_masked, watch=self.watch,
                                    pipelined_text=options.pipelined_text)
        self.planner = TablePlanner(spec, settings, self.masking.analyzer)
        self.sample_seconds = 0.0
        self.sink = TableSink(staging, sql_dialect=sql.dialect if sql is not None else sql_dialect, sql=sql,
                              choose_dictionaries=options.choose_dictionaries, on_reopen=self.leak_scan.drop_early,
                              sql_copy_chunk=options.sql_copy_chunk)
        self.walk = ExportWalk(spec, params, settings, self, progress=progress,
                               reference_chunk=options.reference_chunk, chain_exports=options.chain_exports,
                               read_query=options.read_query, rows_by_key=options.rows_by_key,
                               sample_by_range=options.sample_by_range)
        self.states: dict[str, _TableState] = {}
        self.drift: dict[str, list[str]] = {}
        self.dialects: dict[str, str] = {}
        self._exports_ended: list[str] = []
        self._analyzer_started = False

    def _start_analyzer(self) -> None:
        """Build the text analyzer (importing Presidio and spaCy, loading the model: about 1.5 s) on a thread,
        beside connecting and reading; a build that never asks it never loads them."""
        self._analyzer_started = True
        self.masking.analyzer().prepare_in_background()

    def _staged_text(self, name: str, batch_rows: int, also: Sequence[str], numbers: Sequence[str]) -> Any:
        return self.sink.text_batches(name, batch_rows, also, numbers)

    def _write_masked(self, name: str, masked: pa.RecordBatch) -> None:
        self.sink.write(name, masked)

    # -- the walk's target -------------------------------------------------------------------------------
    def sources_opened(self, sources: dict[str, Source]) -> None:
        """Record each provider's dialect; write the SQL script while reading when the package's tables are
        certain now: every table of the package is an export's (no children, which may stay empty and out
        of the package)."""
        self.planner.sources_opened(sources)
        for provider, source in sources.items():
            self.dialects[provider] = source.dialect.name
            self.sample_seconds += source.sample_seconds
        self.progress(f"classification samples read across the tables in {self.sample_seconds:.2f} s")
        if not self._analyzer_started and text_analysis_expected(self.spec, self.settings, sources):
            self._start_analyzer()
        if self.sql is None or any(export.children for export in self.spec.exports.values()):
            return
        tables: dict[str, sa.Table] = {}
        for name, export in self.spec.exports.items():
            table = sources[export.provider.upper()].metadata.tables[self.spec.source_table(name)]
            tables[table.name] = table
        self.sink.stream_script(list(tables.values()), self.spec.name, self.spec.content_hash(), self.progress)

    def open_table(self, table: sa.Table, role: str, first: pa.RecordBatch, dialect: sa.engine.Dialect) -> None:
        plan = self.planner.plan(table, first)
        if self.previous_columns is not None and table.name in self.previous_columns:
            plan, new = drift_masked_plan(plan, self.previous_columns[table.name], first.schema,
                                          {c.name for c in table.columns if c.nullable})
            if new:
                self.drift[table.name] = new
        # the SQL writer does not carry the source DEFAULT of a masked column into the table's CREATE
        table.info[MASKED_COLUMNS] = tuple(plan.masked_columns())
        self.sink.open(table, first)
        self.leak_scan.open_table(table)
        self.states[table.name] = _TableState(table=table, role=role, plan=plan)

    def take_rows(self, table: sa.Table, batch: pa.RecordBatch) -> None:
        state = self.states[table.name]
        self.masking.mask(table.name, state.plan, batch)
        state.rows += batch.num_rows
        self.progress(f"{table.name}: {state.rows} rows")

    def export_starting(self, name: str) -> None:
        self._scan_ended_exports()
        self.progress(f"{name}: querying")

    def export_ended(self, name: str) -> None:
        self.leak_scan.prepare_patterns()  # used by the leak check unless later tables add originals
        self._exports_ended.append(name)

    def _scan_ended_exports(self) -> None:
        """Start the leak scan of the tables whose exports ended, beside the exports still to read (their
        Parquet is closed for it; see ``leak_scan`` for when such a scan counts).

        Not while the text analyzer is still being built: closing the table waits for its last batches' free
        text, and the next export's query would wait with it (about a second: a 1% subset's orders were read
        only once the customers' notes could be redacted). Those tables are scanned at the next export's
        start, or at the end."""
        if self.masking.waits_for_analyzer():
            return
        ended, self._exports_ended = self._exports_ended, []
        for export in ended:
            name = self.spec.source_table(export)
            if name not in self.states or self.sink.is_closed(name) or self.leak_scan.is_early(name):
                continue
            snapshot = self.leak_scan.snapshot()
            if snapshot is None:  # no original yet: nothing to search for
                return
            self.masking.complete()  # the table's last batches, then its last row group
            self.sink.close_early(name)
            self.leak_scan.start_early(name, snapshot)

    # -- the run -----------------------------------------------------------------------------------------
    def run(self) -> StageResult:
        try:
            # a template masking free text by rule needs the text analyzer whatever the tables hold: it is built
            # from the start; otherwise once the sources are open, if their tables' plans will ask it
            if masks_free_text(self.spec.masking):
                self._start_analyzer()
            self.walk.run()
            return self._finish()
        finally:
            self.leak_scan.close()  # its early scans read staged files: stopped before anything is closed
            self.masking.close()
            self.sink.close()

    def _finish(self) -> StageResult:
        self.progress("writing the last row groups")
        self.masking.complete()
        self.sink.finish()
        dangling = self.walk.dangling_foreign_keys()
        with (self.staging / SCHEMA_FILE).open("wb") as handle:
            pickle.dump(self.sink.metadata, handle)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-sql-assemble") as assembler:
            # the script is put together beside the leak check (it does not depend on it); a failed check
            # still waits for it here, so nothing writes into the staging directory once this returns
            assembling = (assembler.submit(self.sink.assemble_sql, self.spec.name, self.spec.content_hash())
                          if self.sql is not None else None)
            hits = self.leak_scan.hits(self.states, self.progress)
            assembled: AssembledSql | None = assembling.result() if assembling is not None and not hits else None
        leak_check = {**self.leak_scan.collector.summary(), "passed": not hits, "columns_with_hits": sorted(hits)}
        if hits:
            raise LeakDetected(
                f"leak check failed, nothing was published: original values of {'; '.join(sorted(hits))}",
                hint="add an explicit masking rule for those columns (e.g. redact_text or null) in the template",
            )
        tables = {
            name: {"role": s.role, "rows": s.rows, "plan": s.plan.to_dict()}
            for name, s in self.states.items()
        }
        checks = {"leak": leak_check, "foreign_keys": dangling, "row_counts": self._row_count_check(),
                  "schema_drift": {"new_columns": self.drift, "compared": self.previous_columns is not None},
                  "kept_columns": {**self.watch.summary(), "sample_seconds": round(self.sample_seconds, 3)}}
        stage = {
            "template": self.spec.name,
            "template_hash": self.spec.content_hash(),
            "params": parameter_digests(json.loads(json.dumps(self.params, default=json_default)),
                                        self.settings.masking_key_bytes(), set(BUILTINS) - set(self.spec.parameters)),
            "providers": self.dialects,
            "follow_parents": self.spec.subset.follow_parents,
            "tables": tables,
            "checks": checks,
            "staged_at": datetime.now(UTC).isoformat(),
            "sql_parts": self.sink.sql_parts() if assembled is None else None,
            ASSEMBLED_SQL: assembled.to_dict() if assembled is not None else None,
        }
        (self.staging / STAGE_FILE).write_text(json.dumps(stage, default=json_default, indent=2))
        return StageResult(staging=self.staging, tables=tables, checks=checks)

    def _row_count_check(self) -> dict[str, Any]:
        export_rows = self.walk.export_rows
        outside = {}
        for name, export in self.spec.exports.items():
            rows = export_rows.get(name, 0)
            low, high = export.min_rows, export.max_rows
            if (low is not None and rows < low) or (high is not None and rows > high):
                outside[name] = {"rows": rows, "min_rows": low, "max_rows": high}
        return {"passed": not outside, "outside_bounds": outside,
                "rows": {name: export_rows.get(name, 0) for name in self.spec.exports}}


def stage_template(spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings, staging: Path,
                   progress: Progress = quiet, previous_columns: dict[str, set[str]] | None = None,
                   sql_dialect: str | None = None, sql: SqlOptions | None = None,
                   options: StageOptions | None = None) -> StageResult:
    """Extract and mask every table of ``spec`` into ``staging`` (see module docstring).

    ``previous_columns`` (table → columns of the previous package) turns on the schema-drift rule
    (``masking.drift``). ``sql_dialect``, when the package's SQL dialect is known already, renders each
    table's INSERTs while staging (on writer threads, beside reading and masking), so ``write_package`` only
    copies them instead of reading the Parquet back; without it ``write_package`` renders from the Parquet.
    ``sql`` (``hfit build``) goes one step further: the whole script is assembled while the leak check runs,
    and ``write_package`` with the same options only writes the manifest. ``options``: see
    :class:`StageOptions` (None: every build's).
    """
    return _Stage(spec, params, settings, staging, progress, previous_columns, sql_dialect, sql,
                  options or StageOptions()).run()
