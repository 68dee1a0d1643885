"""``hfit serve`` and ``hfit admin``: run the service, and manage its users on the local state database.

``hfit admin`` works on the state database directly (``<home>/state.db`` or HFIT_STATE_URL), not over
HTTP, so the first admin can be created before anyone can log in.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.errors import InvalidRequest
from hfit_dagster.settings import load_settings

if TYPE_CHECKING:
    from hfit_api.state import StateDB

app = typer.Typer()
admin_app = typer.Typer(no_args_is_help=True, help="Users and tokens of the service (on the local state database).")


@app.command()
@report_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8765,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        help="behind a reverse proxy: its address(es), so X-Forwarded-For gives the client address that the "
             "audit log and the login brake use")] = None,
) -> None:
    """Run the hfit API (FastAPI under uvicorn) over this checkout's templates, package store and state."""
    import uvicorn

    from hfit_api.main import create_app

    settings = load_settings()
    app_ = create_app(settings)
    stderr.print(f"hfit service on http://{host}:{port} (state {settings.state_database_url.split('://')[0]}, "
                 f"store {settings.package_store}); API docs at /docs")
    uvicorn.run(app_, host=host, port=port, log_level=log_level, proxy_headers=forwarded_allow_ips is not None,
                forwarded_allow_ips=forwarded_allow_ips)


def _state() -> StateDB:
    from hfit_api.state import StateDB

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return StateDB(settings.state_database_url)


@admin_app.command("create-user")
@report_errors
def create_user(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option(help="viewer, author, approver or admin")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read a password from stdin "
                                                 "(for 'hfit login' with a password)")] = False,
) -> None:
    """Create a user and print their first API token (shown once; only its hash is stored)."""
    from hfit_api import accounts

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidRequest("--password-stdin: no password on stdin")
    db = _state()
    try:
        with db.session() as session:
            user, token = accounts.create_user(session, name, role, password)
            user_name, user_role = user.name, user.role
    finally:
        db.dispose()
    stderr.print(f"created {user_role} {user_name}; API token {token.id} (shown once, keep it secret):")
    stdout.print(token.secret)


@admin_app.command("revoke-token")
@report_errors
def revoke_token(
    token_id: Annotated[str | None, typer.Argument(help="token id (tok_…), as 'hfit admin list-users' shows")]
    = None,
    user: Annotated[str | None, typer.Option("--user", help="revoke every token of this user instead")] = None,
) -> None:
    """Revoke one token by id, or all tokens of a user."""
    from hfit_api import accounts

    if (token_id is None) == (user is None):
        raise InvalidRequest("give either a token id or --user NAME")
    db = _state()
    try:
        with db.session() as session:
            if token_id is not None:
                accounts.revoke_token(session, token_id)
                stderr.print(f"revoked {token_id}")
            else:
                count = accounts.revoke_user_tokens(session, user or "")
                stderr.print(f"revoked {count} token(s) of {user}")
    finally:
        db.dispose()


@admin_app.command("list-users")
@report_errors
def list_users() -> None:
    """Users, roles and their tokens (ids, kind, expiry, revocation; never the tokens)."""
    from hfit_api import accounts

    db = _state()
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("user", "role", "password", "token", "kind", "expires", "revoked"):
        table.add_column(column, no_wrap=True)
    try:
        with db.session() as session:
            for user in accounts.list_users(session):
                tokens = accounts.user_tokens(session, user) or [None]
                for token in tokens:
                    table.add_row(user.name, user.role, "yes" if user.password_hash else "no",
                                  token.id if token else "-", token.kind if token else "-",
                                  str(token.expires_at or "never") if token else "-",
                                  str(token.revoked_at or "") if token else "")
    finally:
        db.dispose()
    stdout.print(table)
