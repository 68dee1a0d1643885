"""``hfit pkg-tmpl``: list, show and validate templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hfit_dagster.cli.errors import report_errors, stdout
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import discover_templates, load_template_file, resolve_template

app = typer.Typer(no_args_is_help=True, help="List, show and validate templates.")


@app.command("list")
@report_errors
def tmpl_list() -> None:
    """Templates in templates/, with their folder, status and description."""
    settings = load_settings()
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("folder", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=70)
    for name, found in sorted(discover_templates(settings.templates_dir).items()):
        spec = found.spec
        table.add_row(name, found.folder or ".", spec.status, spec.description.strip())
    wide = Console(highlight=False, width=max(stdout.width, 160)) if not stdout.is_terminal else stdout
    wide.print(table)


@app.command("show")
@report_errors
def tmpl_show(
    name: Annotated[str, typer.Argument(help="template name or YAML path")],
    debug: Annotated[bool, typer.Option("--debug", help="compiled SQL per export and dependency order")] = False,
) -> None:
    """Print a template (and, with --debug, how it compiles)."""
    settings = load_settings()
    found = resolve_template(name, settings.templates_dir)
    stdout.print(found.path.read_text().rstrip())
    if debug:
        spec = found.spec
        stdout.print("\n# dependency order: " + " → ".join(spec.export_order()))
        for export, query in spec.queries().items():
            stdout.print(f"\n# {export} (provider {spec.exports[export].provider}, binds {query.bind_names()})")
            stdout.print(query.sql)
        stdout.print(f"\n# content hash: {spec.content_hash()}")


@app.command("validate")
@report_errors
def tmpl_validate(path: Annotated[Path, typer.Argument(help="template YAML file")]) -> None:
    """Validate a template file offline: schema, parameters, and that every query is one read-only SELECT."""
    spec = load_template_file(path)
    stdout.print(f"{path}: ok — template {spec.name!r} ({spec.status}), exports {', '.join(spec.export_order())}")
