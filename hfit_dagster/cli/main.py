"""hfit: build packages locally, run the demo, and work with templates."""

from __future__ import annotations

import typer

from hfit_dagster.cli import build_commands, client_commands, server_commands, template_commands
from hfit_dagster.cli.plan_commands import plan

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.registered_commands.extend(build_commands.app.registered_commands)
template_commands.app.command("plan")(plan)
app.add_typer(template_commands.app, name="pkg-tmpl")
app.registered_commands.extend(client_commands.app.registered_commands)
app.registered_commands.extend(server_commands.app.registered_commands)
app.add_typer(server_commands.admin_app, name="admin")


if __name__ == "__main__":  # python -m hfit_dagster.cli.main
    app()
