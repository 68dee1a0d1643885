"""``hfit pkg-tmpl``: templates, on the server when logged in, else in the local templates/ folder.

``list`` and ``show`` ask the server when there is a saved login (``--local`` reads templates/ instead);
``create``, ``update``, ``approve`` and ``diff`` always talk to the server; ``validate`` is always offline.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hfit_dagster.cli.api_client import CredentialStore, HfitClient
from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.errors import HfitError, TemplateError, TemplateNotFound
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import (
    discover_templates,
    load_template_file,
    read_template_text,
    resolve_template,
)

app = typer.Typer(no_args_is_help=True, help="List, show, validate, create, update, approve and diff templates.")

LocalOption = Annotated[bool, typer.Option("--local", help="read templates/ here, not the server")]


def _remote(settings: HfitSettings, local: bool) -> bool:
    return not local and (CredentialStore(settings.client_dir).load() is not None or settings.token is not None)


def _table(columns: tuple[str, ...]) -> Table:
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in columns:
        if column == "description":
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=70)
        else:
            table.add_column(column, no_wrap=True)
    return table


def _print_wide(table: Table) -> None:
    wide = Console(highlight=False, width=max(stdout.width, 160)) if not stdout.is_terminal else stdout
    wide.print(table)


@app.command("list")
@report_errors
def tmpl_list(local: LocalOption = False) -> None:
    """Templates with their folder, status and description (and, from the server, owner and approver)."""
    settings = load_settings()
    if _remote(settings, local):
        with HfitClient.logged_in(settings) as client:
            templates = client.templates()
        table = _table(("name", "folder", "status", "owner", "approved by", "description"))
        for item in templates:
            folder = item["folder"] or ("." if item["source"] == "repository" else "(api)")
            table.add_row(item["name"], folder, item["status"], item.get("owner") or "-",
                          item.get("approved_by") or "-", item["description"])
        _print_wide(table)
        return
    table = _table(("name", "folder", "status", "description"))
    for name, found in sorted(discover_templates(settings.templates_dir).items()):
        spec = found.spec
        table.add_row(name, found.folder or ".", spec.status, spec.description.strip())
    _print_wide(table)


@app.command("show")
@report_errors
def tmpl_show(
    name: Annotated[str, typer.Argument(help="template name or YAML path")],
    debug: Annotated[bool, typer.Option("--debug", help="compiled SQL per export and dependency order")] = False,
    local: LocalOption = False,
) -> None:
    """Print a template (and, with --debug, how it compiles)."""
    settings = load_settings()
    if _remote(settings, local) and not Path(name).is_file():
        with HfitClient.logged_in(settings) as client:
            item = client.template(name, debug=debug)
        stdout.print(item["yaml"].rstrip(), markup=False)
        stderr.print(f"# {item['status']}, owner {item.get('owner') or '-'}, content hash {item['content_hash']}"
                     + (f", approved by {item['approved_by']} at {item['approved_at']}" if item.get("approved_by")
                        else ""))
        revision = item.get("proposed_revision")
        if revision and item.get("proposed_yaml"):
            stdout.print(f"\n# proposed revision by {revision.get('proposed_by') or '-'}, content hash "
                         f"{revision['content_hash']} (approve it with --content-hash)", markup=False)
            stdout.print(item["proposed_yaml"].rstrip(), markup=False)
        if debug:
            stdout.print("\n# dependency order: " + " → ".join(item["export_order"]), markup=False)
            for export, sql in (item.get("compiled") or {}).items():
                stdout.print(f"\n# {export}\n{sql}", markup=False)
            stdout.print(f"\n# content hash: {item['content_hash']}", markup=False)
            _print_plans(item.get("masking_plan"), item.get("masking_plan_error"))
        return
    found = resolve_template(name, settings.templates_dir)
    stdout.print(found.path.read_text().rstrip(), markup=False)
    if debug:
        spec = found.spec
        stdout.print("\n# dependency order: " + " → ".join(spec.export_order()), markup=False)
        for export, query in spec.queries().items():
            stdout.print(f"\n# {export} (provider {spec.exports[export].provider}, binds {query.bind_names()})",
                         markup=False)
            stdout.print(query.sql, markup=False)
        stdout.print(f"\n# content hash: {spec.content_hash()}", markup=False)
        from hfit_dagster.pipeline.plan_preview import plan_template  # reads a sample of the source, read-only

        try:
            plans = {table: p.to_dict() for table, p in plan_template(spec, settings).items()}
        except HfitError as exc:
            _print_plans(None, exc.message)
        else:
            _print_plans(plans, None)


def _print_plans(plans: dict | None, error: str | None) -> None:
    """The masking plan of every table (from a sample of the source), or why it is not available."""
    from hfit_dagster.cli.plan_commands import _table
    from hfit_dagster.masking import TableMaskingPlan

    if error:
        stdout.print(f"\n# masking plan not available: {error}", markup=False)
        return
    stdout.print("\n# masking plan", markup=False)
    for data in (plans or {}).values():
        stdout.print(_table(TableMaskingPlan.from_dict(data)))


@app.command("validate")
@report_errors
def tmpl_validate(path: Annotated[Path, typer.Argument(help="template YAML file")]) -> None:
    """Validate a template file offline: schema, that every query is one read-only SELECT, masking operators,
    parameters (undeclared placeholders, unused declarations) and providers, each finding with file:line.
    Errors exit non-zero; warnings are printed and the file still passes."""
    from hfit_dagster.template.lint import lint_template  # the operator registry: only this command needs it

    spec, findings = lint_template(read_template_text(path), str(path), load_settings().providers)
    for finding in findings:
        stderr.print(str(finding), markup=False, highlight=False)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise TemplateError(f"{path}: {len(errors)} error{'s' if len(errors) > 1 else ''} (listed above)",
                            hint="see docs/templates.md for operators, parameters and providers")
    warned = len(findings)
    stdout.print(f"{path}: ok — template {spec.name!r} ({spec.status}), exports {', '.join(spec.export_order())}"
                 + (f" ({warned} warning{'s' if warned > 1 else ''})" if warned else ""))


@app.command("create")
@report_errors
def tmpl_create(path: Annotated[Path, typer.Argument(help="template YAML file")]) -> None:
    """Upload a new template to the server; it is a draft until an approver approves it."""
    text, name = _read_checked(path)
    with HfitClient.logged_in(load_settings()) as client:
        item = _with_path(path, lambda: client.create_template(text))
    stdout.print(f"created {item['name']} (draft, content hash {item['content_hash'][:12]}); "
                 f"an approver runs 'hfit pkg-tmpl approve {name}'")


@app.command("update")
@report_errors
def tmpl_update(path: Annotated[Path, typer.Argument(help="template YAML file (its templateName is updated)")]) -> None:
    """Replace a template on the server with this file; it becomes a draft until approved again."""
    text, name = _read_checked(path)
    with HfitClient.logged_in(load_settings()) as client:
        item = _with_path(path, lambda: client.update_template(name, text))
    revision = item.get("proposed_revision")
    if revision:
        stdout.print(f"proposed a revision of {item['name']} (content hash {revision['content_hash'][:12]}); "
                     f"the approved content keeps building until another approver approves it")
    else:
        stdout.print(f"updated {item['name']}: a draft (content hash {item['content_hash'][:12]}); "
                     f"it needs approving by someone else")


@app.command("approve")
@report_errors
def tmpl_approve(
    name: Annotated[str, typer.Argument(help="template name")],
    content_hash: Annotated[str | None, typer.Option(
        "--content-hash", help="the content hash you reviewed ('hfit pkg-tmpl show NAME'); 12+ leading characters")
    ] = None,
) -> None:
    """Approve the content you reviewed (approver role; not your own). Without --content-hash: whatever is
    under review at this moment."""
    with HfitClient.logged_in(load_settings()) as client:
        reviewed = None
        if content_hash is not None:
            shown = client.template(name)
            under_review = (shown.get("proposed_revision") or {}).get("content_hash") or shown["content_hash"]
            if len(content_hash) < 12 or not under_review.startswith(content_hash.lower()):
                raise TemplateError(f"{name}: the content under review is {under_review[:12]}, not the "
                                    f"{content_hash[:12]} you named",
                                    hint=f"review it again with 'hfit pkg-tmpl show {name}' and approve that hash")
            reviewed = under_review
        item = client.approve_template(name, reviewed)
    stdout.print(f"approved {item['name']} (content hash {item['content_hash'][:12]}) as {item['approved_by']}")


@app.command("diff")
@report_errors
def tmpl_diff(
    name: Annotated[str, typer.Argument(help="template name on the server")],
    path: Annotated[Path, typer.Argument(help="local YAML file")],
) -> None:
    """Unified diff from the server's version of a template to a local file."""
    try:
        local_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateNotFound(f"cannot read {path} ({exc.__class__.__name__})") from None
    with HfitClient.logged_in(load_settings()) as client:
        server_text = client.template(name)["yaml"]
    lines = list(difflib.unified_diff(server_text.splitlines(keepends=True), local_text.splitlines(keepends=True),
                                      fromfile=f"server:{name}", tofile=str(path)))
    if not lines:
        stderr.print(f"no differences between server:{name} and {path}")
        return
    stdout.print("".join(lines).rstrip("\n"), markup=False, highlight=False)


def _read_checked(path: Path) -> tuple[str, str]:
    """The file's text and template name, validated locally first (file:line errors, no round trip)."""
    spec = load_template_file(path)
    return path.read_text(encoding="utf-8"), spec.name


def _with_path(path: Path, call: Any) -> dict[str, Any]:
    """Server-side template errors name 'template.yaml'; say the user's file instead."""
    try:
        result: dict[str, Any] = call()
    except TemplateError as exc:
        raise type(exc)(exc.message.replace("template.yaml", str(path)), hint=exc.hint) from None
    except HfitError:
        raise
    return result
