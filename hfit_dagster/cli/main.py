"""hfit: build packages locally, run the demo, and work with templates."""

from __future__ import annotations

import logging
import os
import sys

import typer

from hfit_dagster.cli import build_commands, client_commands, doctor_commands, server_commands, template_commands
from hfit_dagster.cli.plan_commands import plan

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.registered_commands.extend(build_commands.app.registered_commands)
template_commands.app.command("plan")(plan)
app.add_typer(template_commands.app, name="pkg-tmpl")
app.registered_commands.extend(client_commands.app.registered_commands)
app.registered_commands.extend(server_commands.app.registered_commands)
app.registered_commands.extend(doctor_commands.app.registered_commands)
app.add_typer(server_commands.admin_app, name="admin")


def run() -> None:
    """The ``hfit`` command: ``app`` with a quick exit once its output is flushed.

    Why: after a large build, tearing the interpreter down (freeing the NLP model, caches and Arrow pools
    object by object) took ~0.8 s, as long as some whole phases of the build. Everything hfit writes is
    closed by then, so only the standard streams and logging need flushing. Tests drive ``app`` itself.
    """
    try:
        app()
        code = 0
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # sys.exit("message"): Python would print it and exit 1
            print(exit_.code, file=sys.stderr)
            code = 1
        else:
            code = exit_.code or 0
    processes = sys.modules.get("hfit_dagster.masking.analyzer_process")
    if processes is not None:  # the text analyzer's process ends and is waited for (its CPU is the command's)
        processes.close_shared_processes()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (hfit ... | head): nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":  # python -m hfit_dagster.cli.main
    run()
