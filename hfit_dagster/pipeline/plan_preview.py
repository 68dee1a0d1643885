"""The masking plan of a template, before any build: every table's column decisions, nothing written.

``plan_template`` walks the sources with the build's export walk (``export_walk``: the same providers,
snapshot, export order, references, sampling, children and followed parents) in its ``first_batches``
mode, and plans each table with the build's own planner (``table_plans``): rows sampled across the whole
table and its first batch, the template's rules for exported tables, the masking default, the configured
analyzer (spaCy model, custom recognizers), parents before children, and the sample size.

What differs from a build: only first batches are read, so an export that references an upstream
export's keys (``IN :customers.id``) is sampled with the keys of the upstream's first batch rather than of
all its rows, and parents/children are fetched for sampled rows only. The decision logic is the same;
the sampled rows can differ. No masking key is needed (nothing is masked), no row is written, and the
result holds decisions and evidence, never values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from hfit_dagster.masking import TableMaskingPlan
from hfit_dagster.masking.factory import text_analyzer
from hfit_dagster.pipeline.export_walk import ExportWalk, Source
from hfit_dagster.pipeline.progress import Progress, quiet
from hfit_dagster.pipeline.table_plans import TablePlanner
from hfit_dagster.template.builtins import prepare_build

if TYPE_CHECKING:
    from hfit_dagster.masking import TextAnalyzer
    from hfit_dagster.settings import HfitSettings
    from hfit_dagster.template.spec import TemplateSpec


def plan_template(
    spec: TemplateSpec,
    settings: HfitSettings,
    params: dict[str, Any] | None = None,
    *,
    analyzer: TextAnalyzer | None = None,
    progress: Progress = quiet,
) -> dict[str, TableMaskingPlan]:
    """Every table's masking plan as a build with these parameters would decide it (in build order).

    ``params`` are raw ``key=value`` values (strings or typed), resolved like a build's: declared
    parameters with their defaults, built-ins (``row_limit``, ``sample_rate``, time windows ...) applied.
    ``progress`` hears each export as it is sampled and each table as it is planned (names and counts only).
    """
    prepared = prepare_build(spec, dict(params or {}))
    preview = _Preview(prepared.spec, settings, analyzer or text_analyzer(settings), progress)
    ExportWalk(prepared.spec, prepared.params, settings, preview, first_batches=True, progress=progress).run()
    return preview.plans


class _Preview:
    """The walk's target: a table's first batch is its sample; no row is kept."""

    def __init__(self, spec: TemplateSpec, settings: HfitSettings, analyzer: TextAnalyzer,
                 progress: Progress) -> None:
        self.planner = TablePlanner(spec, settings, lambda: analyzer)
        self.plans: dict[str, TableMaskingPlan] = {}
        self.progress = progress

    def sources_opened(self, sources: dict[str, Source]) -> None:
        self.planner.sources_opened(sources)

    def open_table(self, table: sa.Table, role: str, first: pa.RecordBatch, dialect: sa.engine.Dialect) -> None:
        self.progress(f"{table.name}: classifying {len(table.columns)} columns ({role})")
        plan = self.plans[table.name] = self.planner.plan(table, first)
        self.progress(f"{table.name}: {len(plan.masked_columns())} of {len(plan.decisions)} columns masked")

    def take_rows(self, table: sa.Table, batch: pa.RecordBatch) -> None:
        return None

    def export_starting(self, name: str) -> None:
        self.progress(f"{name}: sampling")

    def export_ended(self, name: str) -> None:
        return None
