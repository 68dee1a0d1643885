"""``hfit pkg-tmpl plan NAME [key=value...] [--json]``: the masking plan of a template, before any build.

Reads the source read-only, like a build, to take each table's classification sample; masks nothing and
writes nothing. Register with ``app.command("plan")(plan)`` on the ``pkg-tmpl`` Typer app.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.cli.progress_lines import progress_status
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import resolve_template
from hfit_dagster.template.params import parse_assignments

app = typer.Typer(help="The masking plan of a template, before any build.")


def _table(plan: object) -> Table:
    from hfit_dagster.masking import TableMaskingPlan

    assert isinstance(plan, TableMaskingPlan)
    masked = len(plan.masked_columns())
    table = Table(title=f"{plan.table}: {masked} of {len(plan.decisions)} columns masked", title_justify="left",
                  show_edge=False, pad_edge=False)
    for column in ("column", "operator", "entity", "confidence", "source", "evidence"):
        table.add_column(column, no_wrap=column != "evidence", overflow="fold",
                         justify="right" if column == "confidence" else "left")
    for d in plan.decisions.values():
        style = "bold" if d.masked else "dim"
        table.add_row(escape(d.column), f"[{style}]{escape(d.operator)}[/]", escape(d.entity or "-"),
                      f"{d.confidence:.2f}", d.source, escape(d.evidence))
    return table


@app.command("plan")
@report_errors
def plan(
    name: Annotated[str, typer.Argument(help="template name (from templates/) or path to a YAML file")],
    params: Annotated[list[str] | None, typer.Argument(help="parameters as key=value (default: the template's)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the plans as JSON (the manifest's form)")] = False,
) -> None:
    """Print every table's masking plan (column, operator, entity, confidence, source, evidence) before a build.

    The source is read read-only to sample each table, exactly as a build samples it; nothing is masked or
    written, and no value is printed.
    """
    from hfit_dagster.pipeline.plan_preview import plan_template  # heavy (Presidio, spaCy): only when planning

    settings = load_settings()
    spec = resolve_template(name, settings.templates_dir).spec
    raw = parse_assignments(params or [])
    # a terminal shows the template beside each update; a log names it once, in the first line
    label = (lambda message: f"{spec.name}: {message}") if stderr.is_terminal else (lambda message: message)
    with progress_status(stderr, f"sampling {spec.name} and classifying columns…") as status:
        plans = plan_template(spec, settings, raw, progress=lambda message: status.update(label(message)))
    if as_json:
        document = {"template": spec.name, "params": raw, "tables": {t: p.to_dict() for t, p in plans.items()}}
        typer.echo(json.dumps(document, indent=2))
        return
    wide = stdout if stdout.is_terminal else type(stdout)(highlight=False, width=max(stdout.width, 200))
    for table_plan in plans.values():
        wide.print(_table(table_plan))
        wide.print()
    total = sum(len(p.decisions) for p in plans.values())
    masked = sum(len(p.masked_columns()) for p in plans.values())
    stderr.print(f"{spec.name}: {masked} of {total} columns masked in {len(plans)} tables "
                 "(deny by default: personal data without a rule is masked)")
