"""``hfit build`` and ``hfit demo``: packages built locally, in this process."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.table import Table

from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.cli.progress_lines import progress_status
from hfit_dagster.cli.without_pandas import decline_pandas
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import resolve_template
from hfit_dagster.template.params import parse_assignments

if TYPE_CHECKING:
    from hfit_dagster.pipeline.local_build import BuiltPackage
    from hfit_dagster.template.spec import TemplateSpec

app = typer.Typer()

DEMO_TEMPLATE = "daily-dev-scenario"
DEMO_PROVIDER = "PROD_REPLICA"


def _settings(out: Path | None = None) -> HfitSettings:
    return load_settings(store_dir=out) if out is not None else load_settings()


def _run_build(template: str, params: list[str], settings: HfitSettings, dialect: str,
               include_indexes: bool, gzip_sql: bool = False) -> tuple[TemplateSpec, BuiltPackage]:
    decline_pandas()  # imported by pyarrow, unused by a build: ~0.3 s of CPU
    spec = resolve_template(template, settings.templates_dir).spec
    _start_text_analyzer(spec, settings)
    from hfit_dagster.pipeline.local_build import build_package  # heavy (pyarrow, numba, SQLAlchemy)

    raw = parse_assignments(params)
    # a terminal shows the template beside each update; a log names it once, in the first line
    label = (lambda message: f"{spec.name}: {message}") if stderr.is_terminal else (lambda message: message)
    with progress_status(stderr, f"building {spec.name}…") as status:
        built = build_package(spec, raw, settings, dialect=dialect, include_indexes=include_indexes,
                              gzip_sql=gzip_sql, progress=lambda message: status.update(label(message)))
    return spec, built


def _start_text_analyzer(spec: TemplateSpec, settings: HfitSettings) -> None:
    """Start the text analyzer's process before the build's own imports when a rule of the template masks free
    text (the build will ask it whatever the tables hold): its ~1 s of building then runs beside them."""
    from hfit_dagster.masking.catalog import masks_free_text

    if settings.analyzer_process and masks_free_text(spec.masking):
        from hfit_dagster.masking.factory import text_analyzer

        analyzer = text_analyzer(settings)
        if analyzer.process is not None:
            analyzer.process.start()


def _report_to_instance(spec: TemplateSpec, built: BuiltPackage, settings: HfitSettings) -> None:
    """Show the published package in the Dagster instance ``make dagster`` and ``hfit serve`` use, when that
    instance exists (a detached child writes it: this command does not wait for Dagster); a build that published
    stays a success when the child cannot be started, with a one-line note."""
    from hfit_dagster.orchestration.instance import report_local_build

    try:
        report_local_build(spec, built.path, built.manifest, settings)
    except OSError as exc:
        stderr.print(f"note: not recorded in the Dagster instance {settings.dagster_instance_dir} "
                     f"({exc.strerror or exc.__class__.__name__})", highlight=False, soft_wrap=True)


def _summary(built: BuiltPackage) -> None:
    manifest = built.manifest
    table = Table(title=f"{manifest.template} {manifest.version}", show_edge=False)
    for column in ("table", "role", "rows", "masked columns"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for entry in manifest.tables:
        masked = [c.name for c in entry.columns if c.masking.get("operator", "keep") != "keep"]
        table.add_row(entry.name, entry.role, str(entry.rows), ", ".join(masked) or "-")
    stderr.print(table)


@app.command()
@report_errors
def build(
    template: Annotated[str, typer.Argument(help="template name (from templates/) or path to a YAML file")],
    params: Annotated[list[str] | None, typer.Argument(help="parameters as key=value")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="package store directory")] = None,
    dialect: Annotated[str, typer.Option(help="SQL dialect of package.sql")] = "mysql",
    indexes: Annotated[bool, typer.Option("--indexes/--no-indexes", help="secondary indexes in DDL")] = True,
    gzip_sql: Annotated[bool, typer.Option("--gzip", help="write package.sql.gz instead of package.sql")] = False,
) -> None:
    """Build one package locally and print its directory."""
    settings = _settings(out)
    spec, built = _run_build(template, params or [], settings, dialect, indexes, gzip_sql)
    _summary(built)
    stdout.print(str(built.path))
    _report_to_instance(spec, built, settings)


@app.command()
@report_errors
def demo(
    customers: Annotated[int, typer.Option(help="number of customers in the demo source")] = 10_000,
    build_package_too: Annotated[bool, typer.Option("--build/--no-build", help="build the demo package")] = True,
) -> None:
    """Generate the embedded SQLite demo source, configure it as PROD_REPLICA, build daily-dev-scenario."""
    from hfit_dagster.demo.shop_generator import generate_shop

    settings = load_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    db_path = (home / "demo" / "shop.db").resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with progress_status(stderr, f"generating demo source ({customers} customers)…"):
        counts = generate_shop(f"sqlite:///{db_path}", customers=customers)
    stderr.print(f"demo source: {db_path} ({', '.join(f'{t} {n}' for t, n in counts.items())})")
    _write_demo_config(settings, f"sqlite:///{db_path}")
    if not build_package_too:
        return
    settings = load_settings()
    spec, built = _run_build(DEMO_TEMPLATE, [], settings, "mysql", True)
    _summary(built)
    sql = built.path / "package.sql"
    stderr.print(f"\npackage: {built.path}\nload it into MySQL/MariaDB with:\n"
                 f"  mysql -e 'CREATE DATABASE IF NOT EXISTS test_db' && mysql test_db < {sql}")
    stdout.print(str(built.path))
    _report_to_instance(spec, built, settings)


def _write_demo_config(settings: HfitSettings, url: str) -> None:
    path = settings.config_file
    config = yaml.safe_load(path.read_text()) if path.is_file() else {}
    config = config if isinstance(config, dict) else {}
    providers = config.setdefault("providers", {})
    providers[DEMO_PROVIDER] = url
    if not config.get("masking_key"):
        config["masking_key"] = secrets.token_urlsafe(32)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    stderr.print(f"config: {path} (provider {DEMO_PROVIDER} → demo source, local masking key)")
