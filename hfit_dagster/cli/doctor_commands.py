"""``hfit doctor``: what each configured source user may do beyond reading, and how to narrow it.

Connects to every provider (or the named ones) read-only, asks the server for the user's privileges and prints
each one beyond SELECT on its own database or schema. Exit 0 when every source is least-privilege, 2 when a
finding was printed (``--strict`` turns that into the exit code CI can gate on; without it, 0).
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer
from rich.markup import escape

from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.settings import load_settings

app = typer.Typer(help="Check the configuration hfit runs with.")


@app.command("doctor")
@report_errors
def doctor(
    providers: Annotated[list[str] | None, typer.Argument(help="providers to check (default: all configured)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 2 when a source user can do more than read")] = False,
) -> None:
    """Check that every source user can only read (no file, write, superuser or other-database privileges)."""
    # the source drivers and the fast readers (numba) load with the command that connects, not with every command
    from hfit_dagster.extract.privileges import source_privilege_findings
    from hfit_dagster.extract.source import create_source_engine, describe_db_error

    settings = load_settings()
    names = [p.upper() for p in providers] if providers else sorted(settings.providers)
    if not names:
        stderr.print("no providers configured (HFIT_PROVIDER_<NAME>_URL or providers: in the config file)")
        raise typer.Exit(code=1)
    flagged = 0
    for name in names:
        engine = create_source_engine(name, settings.provider_url(name), read_timeout=settings.source_read_timeout_s)
        try:
            with engine.connect() as conn:
                findings = source_privilege_findings(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise describe_db_error(name, exc) from None
        finally:
            engine.dispose()
        if not findings:
            stdout.print(f"{escape(name)}: ok, the source user can only read")
            continue
        flagged += 1
        stdout.print(f"{escape(name)}: the source user can do more than read:")
        for finding in findings:
            stdout.print(f"  - {escape(finding.what)}")
        stdout.print(f"  fix: {escape(findings[0].fix)}")
    if flagged and strict:
        raise typer.Exit(code=2)
