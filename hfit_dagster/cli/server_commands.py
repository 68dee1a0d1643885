"""``hfit serve`` and ``hfit admin``: run the service, and manage its users on the local state database.

``hfit admin`` works on the state database directly (``<home>/state.db`` or HFIT_STATE_URL), not over
HTTP, so the first admin can be created before anyone can log in. Every admin command, done or refused,
writes one audit row naming the local account that ran it.
"""

from __future__ import annotations

import getpass
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.errors import HfitError, InvalidRequest
from hfit_dagster.settings import load_settings

if TYPE_CHECKING:
    import uvicorn
    from sqlalchemy.orm import Session

    from hfit_api.dagster_daemon import DaemonProcess
    from hfit_api.state import StateDB

app = typer.Typer()
admin_app = typer.Typer(no_args_is_help=True, help="Users and tokens of the service (on the local state database); "
                        "every command is audited.")


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
    """Run the hfit API (FastAPI under uvicorn) over this checkout's templates, package store and state.

    Builds are runs on the Dagster instance (DAGSTER_HOME, else <home>/dagster); unless HFIT_DAGSTER_DAEMON=external,
    a dagster-daemon child process takes them off the instance's queue.
    """
    import uvicorn

    from hfit_api.dagster_daemon import DaemonProcess, create_storage_in_subprocess
    from hfit_api.dagster_instance import prepare_instance
    from hfit_api.main import create_app

    settings = load_settings()
    daemon = DaemonProcess(settings, lambda: prepare_instance(settings, create_storage_in_subprocess)) \
        if settings.dagster_daemon == "serve" else None
    app_ = create_app(settings)
    runs_by = "its dagster-daemon child" if daemon is not None else "an external dagster-daemon"
    stderr.print(f"hfit service on http://{host}:{port} (state {settings.state_database_url.split('://')[0]}, "
                 f"store {settings.package_store}, Dagster instance {settings.dagster_instance_dir}, runs "
                 f"started by {runs_by}); API docs at /docs")
    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port, log_level=log_level,
                                           proxy_headers=forwarded_allow_ips is not None,
                                           forwarded_allow_ips=forwarded_allow_ips))
    if daemon is not None:
        threading.Thread(target=_start_when_serving, args=(server, daemon), name="hfit-daemon-start",
                         daemon=True).start()
    try:
        server.run()
    finally:
        if daemon is not None:
            daemon.stop()


# after a restart, clients resume their downloads first (hfit pkg-download retries within seconds)
DAEMON_START_DELAY_SECONDS = 3.0


def _start_when_serving(server: uvicorn.Server, daemon: DaemonProcess) -> None:
    """Start the daemon shortly after the service answers: its start-up (Dagster's imports, the code location)
    would otherwise compete with the service's for the CPU, and the service is what a client waits for."""
    deadline = None
    while deadline is None or time.monotonic() < deadline:
        if server.should_exit:
            return
        if deadline is None and server.started:
            deadline = time.monotonic() + DAEMON_START_DELAY_SECONDS
        time.sleep(0.1)
    daemon.start()


def _state() -> StateDB:
    from hfit_api.state import StateDB

    settings = load_settings()
    return StateDB(settings.state_database_url)


@dataclass
class AdminAction:
    """What one ``hfit admin`` command did, for its audit row (``detail`` grows as the command goes)."""

    session: Session
    detail: list[str] = field(default_factory=list)


@contextmanager
def _admin(action: str, target: str) -> Iterator[AdminAction]:
    """A unit of work on the state database that leaves one audit row, whether it succeeds or is refused.

    The row names the local account that ran the command (``local:<login>``): ``hfit admin`` needs no token.
    """
    from hfit_api.audit import AuditLog

    db = _state()
    actor = f"local:{getpass.getuser()}"
    name = f"admin.{action}"
    try:
        try:
            with db.session() as session:
                done = AdminAction(session=session)
                yield done
        except HfitError as exc:
            AuditLog(db).record(action=name, outcome=exc.code, user=actor, client="local",
                                detail=f"{target}: {exc.message}")
            raise
        AuditLog(db).record(action=name, outcome="ok", user=actor, client="local",
                            detail="; ".join([target, *done.detail]))
    finally:
        db.dispose()


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidRequest("--password-stdin: no password on stdin")
    return password


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

    password = _password_from_stdin() if password_stdin else None
    with _admin("create-user", f"user {name[:100]}") as done:
        user, token = accounts.create_user(done.session, name, role, password)
        user_name, user_role = user.name, user.role
        done.detail.append(f"role {user_role}, API token {token.id}")
    stderr.print(f"created {user_role} {user_name}; API token {token.id} (shown once, keep it secret):")
    stdout.print(token.secret)


@admin_app.command("revoke-token")
@report_errors
def revoke_token(
    token_id: Annotated[str | None, typer.Argument(help="token id (tok_…), as 'hfit admin list-users' shows")]
    = None,
    user: Annotated[str | None, typer.Option("--user", help="revoke every token of this user instead")] = None,
) -> None:
    """Revoke one token by id (and the sessions made from it), or all tokens of a user."""
    from hfit_api import accounts

    if (token_id is None) == (user is None):
        raise InvalidRequest("give either a token id or --user NAME")
    target = f"token {token_id[:40]}" if token_id is not None else f"tokens of user {(user or '')[:100]}"
    with _admin("revoke-token", target) as done:
        if token_id is not None:
            accounts.revoke_token(done.session, token_id)
            message = f"revoked {token_id} and the sessions made from it"
        else:
            count = accounts.revoke_user_tokens(done.session, user or "")
            message = f"revoked {count} token(s) of {user}"
        done.detail.append(message)
    stderr.print(message)


@admin_app.command("disable-user")
@report_errors
def disable_user(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Disable a user: no login, and none of their tokens works, until 'hfit admin enable-user'."""
    from hfit_api import accounts

    with _admin("disable-user", f"user {name[:100]}") as done:
        accounts.set_disabled(done.session, name, True)
    stderr.print(f"disabled {name}")


@admin_app.command("enable-user")
@report_errors
def enable_user(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Enable a disabled user again (their tokens that are not revoked or expired work again)."""
    from hfit_api import accounts

    with _admin("enable-user", f"user {name[:100]}") as done:
        accounts.set_disabled(done.session, name, False)
    stderr.print(f"enabled {name}")


@admin_app.command("delete-user")
@report_errors
def delete_user(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Delete a user: every token and session of theirs is revoked; their id is never given to anyone else."""
    from hfit_api import accounts

    with _admin("delete-user", f"user {name[:100]}") as done:
        user = accounts.delete_user(done.session, name)
        done.detail.append(f"id {user.id} kept as {user.name}")
    stderr.print(f"deleted {name}; all their tokens are revoked")


@admin_app.command("set-role")
@report_errors
def set_role(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Argument(help="viewer, author, approver or admin")],
) -> None:
    """Change a user's role (takes effect on their next request)."""
    from hfit_api import accounts

    with _admin("set-role", f"user {name[:100]}") as done:
        before = accounts.find_user(done.session, name).role
        accounts.set_role(done.session, name, role)
        done.detail.append(f"role {before} -> {role}")
    stderr.print(f"{name} is now {role} (was {before})")


@admin_app.command("reset-password")
@report_errors
def reset_password(
    name: Annotated[str, typer.Argument(help="user name")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the new password from stdin")]
    = False,
) -> None:
    """Set a new password (read from stdin); the user's session tokens end, API tokens stay."""
    from hfit_api import accounts

    if not password_stdin:
        raise InvalidRequest("give the new password on stdin with --password-stdin",
                             hint="printf '%s\\n' \"$NEW_PASSWORD\" | hfit admin reset-password NAME --password-stdin")
    password = _password_from_stdin()
    with _admin("reset-password", f"user {name[:100]}") as done:
        ended = accounts.reset_password(done.session, name, password)
        done.detail.append(f"{ended} session(s) ended")
    stderr.print(f"new password for {name}; {ended} session(s) ended")


@admin_app.command("list-users")
@report_errors
def list_users() -> None:
    """Users, roles, state and their tokens (ids, kind, expiry, revocation; never the tokens)."""
    from hfit_api import accounts

    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("user", "role", "state", "password", "token", "kind", "expires", "revoked"):
        table.add_column(column, no_wrap=True)
    with _admin("list-users", "all users") as done:
        for user in accounts.list_users(done.session):
            state = "disabled" if user.disabled else "active"
            tokens = accounts.user_tokens(done.session, user) or [None]
            for token in tokens:
                table.add_row(user.name, user.role, state, "yes" if user.password_hash else "no",
                              token.id if token else "-", token.kind if token else "-",
                              str(token.expires_at or "never") if token else "-",
                              str(token.revoked_at or "") if token else "")
    stdout.print(table)
