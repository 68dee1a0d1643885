"""``hfit login|logout|whoami|pkg-download|cleanup``: the developer's side of the hfit service.

Thin: the HTTP work, saved credentials, download records and verification are in ``api_client``. Data goes
to stdout (or the ``-o`` file); everything said to the user goes to stderr, so ``hfit pkg-download X | mysql
db`` and ``hfit pkg-download X > x.sql`` carry nothing but the package. Every format is checked against the
manifest's sha256 before it is used: a download to stdout goes to a private temporary file first and reaches
stdout only once verified; a ``-o`` download is verified in ``<file>.part`` (never through a symbolic link)
before it is renamed into place. When SQL was meant for a pipe and anything fails (a failed build
included), stdout gets one statement that makes the SQL client fail too, so ``| mysql db`` does not exit 0
on nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from hfit_dagster.cli.api_client import (
    RANGE_FORMATS,
    Credentials,
    CredentialStore,
    DownloadRecords,
    DownloadResult,
    HfitClient,
    ProgressCallback,
    iter_file,
    parse_duration,
    verify_download,
)
from hfit_dagster.cli.errors import report_errors, stderr, stdout
from hfit_dagster.cli.progress_lines import progress_status
from hfit_dagster.errors import AuthError, HfitError, InvalidRequest, ServiceError
from hfit_dagster.package.store import VERSION_PATTERN
from hfit_dagster.settings import load_settings
from hfit_dagster.template.params import parse_assignments

app = typer.Typer()


class DownloadFormat(StrEnum):
    sql = "sql"
    sql_gz = "sql.gz"
    parquet = "parquet"
    manifest = "manifest"


EXTENSIONS = {"sql": ".sql", "sql.gz": ".sql.gz", "parquet": ".parquet.tar", "manifest": ".manifest.json"}


@app.command()
@report_errors
def login(
    server: Annotated[str | None, typer.Option(help="hfit service URL (default: the last one, or HFIT_SERVER_URL)")]
    = None,
    token: Annotated[str | None, typer.Option(help="an API token (CI); exchanged for a session token")] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="default: HFIT_USERNAME or a prompt")]
    = None,
) -> None:
    """Log in and save a session token (mode 0600) in ~/.config/hfit/credentials.json."""
    settings = load_settings()
    store = CredentialStore(settings.client_dir)
    saved = store.load()
    server = (server or (saved.server if saved else settings.server_url)).rstrip("/")
    api_token = token
    if api_token is None and username is None and settings.username is None and settings.token is not None:
        api_token = settings.token.get_secret_value()
    with HfitClient(server) as client:
        if api_token:
            answer = client.token_for_api_token(api_token)
        else:
            user = username or settings.username or typer.prompt("user name", err=True)
            password = (settings.password.get_secret_value() if settings.password is not None
                        else typer.prompt("password", hide_input=True, err=True))
            answer = client.token_for_password(user, password)
    store.save(Credentials(server=server, token=answer["access_token"], user=answer["user"], role=answer["role"],
                           token_id=answer["token_id"], expires_at=answer.get("expires_at")))
    expiry = f"; the session expires {answer['expires_at']}" if answer.get("expires_at") else ""
    stderr.print(f"logged in to {server} as {answer['user']} ({answer['role']}){expiry}")


@app.command()
@report_errors
def logout() -> None:
    """Revoke the session token on the server and forget it here."""
    settings = load_settings()
    store = CredentialStore(settings.client_dir)
    saved = store.load()
    if saved is None:
        stderr.print("not logged in")
        return
    try:
        with HfitClient(saved.server, saved.token) as client:
            client.logout()
    except AuthError:
        pass  # expired or revoked already: forgetting it is all that is left to do
    finally:
        store.delete()
    stderr.print(f"logged out of {saved.server}")


@app.command()
@report_errors
def whoami() -> None:
    """The user, role and server of the saved session."""
    settings = load_settings()
    with HfitClient.logged_in(settings) as client:
        me = client.whoami()
        server = client.server
    expiry = f", session expires {me['token_expires_at']}" if me.get("token_expires_at") else ""
    stdout.print(f"{me['name']} ({me['role']}) at {server}{expiry}")


@app.command("pkg-download")
@report_errors
def pkg_download(
    name: Annotated[str, typer.Argument(help="template name")],
    params: Annotated[list[str] | None, typer.Argument(help="build parameters as key=value")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    fmt: Annotated[DownloadFormat, typer.Option("--format", help="sql, sql.gz, parquet (tar) or manifest")]
    = DownloadFormat.sql,
    version: Annotated[str | None, typer.Option("--version", help="an existing version (or 'latest'); no build")]
    = None,
    auto_cleanup: Annotated[str | None, typer.Option("--auto-cleanup", help="delete the file after this long "
                                                     "(e.g. 7d) when 'hfit cleanup' runs")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a build")] = 1800.0,
) -> None:
    """Build (or reuse a fresh) package of a template on the server and download it.

    Without -o the package goes to stdout: hfit pkg-download NAME | mysql test_db. With -o an interrupted download resumes where it stopped.
    """  # noqa: E501 - typer shows each docstring line as is
    settings = load_settings()
    keep_for = parse_duration(auto_cleanup) if auto_cleanup else None
    raw = parse_assignments(params or [])
    if version and raw:
        raise InvalidRequest("--version downloads an existing package; parameters only apply to a new build",
                             hint="drop --version to build with these parameters")
    if version is not None and version != "latest" and not VERSION_PATTERN.match(version):
        raise InvalidRequest(f"invalid package version {version[:60]!r}",
                             hint="versions look like 20261126T191500123456Z-1a2b3c4d, or 'latest'")
    sql_for_a_pipe = output is None and keep_for is None and fmt is DownloadFormat.sql and not sys.stdout.isatty()
    try:
        with HfitClient.logged_in(settings) as client:
            chosen = version or _build(client, name, raw, timeout)
            if chosen == "latest":
                chosen = client.packages(name).get("latest") or "latest"
            manifest = client.manifest(name, chosen) if fmt is not DownloadFormat.manifest else None
            target = output
            if target is None and (keep_for is not None or sys.stdout.isatty()):
                target = Path(f"{name}-{chosen}{EXTENSIONS[fmt.value]}")
            if target is None:
                result = _download_to_stdout(client, name, chosen, fmt.value, manifest)
            else:
                result = _download_to_file(client, name, chosen, fmt.value, target, manifest)
    except HfitError as exc:
        if sql_for_a_pipe:
            _fail_the_sql_reader(exc)
        raise
    if target is None:
        stderr.print(f"{name} {result.version}: {result.bytes} bytes written to stdout")
        return
    stderr.print(f"{name} {result.version}: {result.bytes} bytes in {target}"
                 + (" (sha256 verified)" if result.verified else ""))
    if keep_for is not None:
        record = DownloadRecords(settings.client_dir).add(target, keep_for, name, result.version)
        stderr.print(f"'hfit cleanup' deletes it after {record.expires_at}")
    stdout.print(str(target))


@app.command()
@report_errors
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be deleted")] = False,
) -> None:
    """Delete downloaded packages whose --auto-cleanup time has passed."""
    settings = load_settings()
    done = DownloadRecords(settings.client_dir).cleanup(dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for record, existed in done:
        what = f"{record.template} {record.version}, expired {record.expires_at}"
        stdout.print(f"{verb} {record.path} ({what})" if existed else f"forgot {record.path} (already gone; {what})")
    if not done:
        stdout.print("nothing to clean up")


# -- the steps -----------------------------------------------------------------------------------------------
def _build(client: HfitClient, name: str, raw: dict[str, str], timeout: float) -> str:
    build = client.request_build(name, raw)
    if build.get("outcome") == "fresh":
        stderr.print(f"{name}: fresh package {build['version']} (same template and parameters), not rebuilt")
        return str(build["version"])
    dry = " (dry run of your draft)" if build.get("dry_run") else ""
    # a spinner on a terminal; elsewhere (CI logs) a plain line per status change
    with progress_status(stderr, f"{name}: build {build['id']} {build['status']}{dry}") as status:
        done = client.wait_for_build(build, timeout=timeout,
                                     on_status=lambda b: status.update(f"{name}: build {b['id']} {b['status']}{dry}"))
    stderr.print(f"{name}: built {done['version']}")
    return str(done["version"])


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback | None]:
    if not stderr.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _download_to_stdout(client: HfitClient, name: str, version: str, fmt: str,
                        manifest: dict[str, Any] | None) -> DownloadResult:
    """Download into a private temporary file, verify it, and only then copy it to stdout."""
    fd, tmp_name = tempfile.mkstemp(prefix="hfit-download-", suffix=".part")  # 0600, a fresh name
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink, _progress(f"{name} {version}") as progress:
            result = client.download(name, version, fmt, sink, progress=progress)
        if manifest is not None:
            verify_download(tmp, fmt, manifest)
        out = sys.stdout.buffer
        try:
            for chunk in iter_file(tmp):
                out.write(chunk)
            out.flush()
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
            raise HfitError("the program reading stdout stopped before the package was complete") from None
    finally:
        tmp.unlink(missing_ok=True)
    return replace(result, verified=True)


def _download_to_file(client: HfitClient, name: str, version: str, fmt: str, target: Path,
                      manifest: dict[str, Any] | None) -> DownloadResult:
    """Download into ``<target>.part`` (resuming one from an earlier attempt), verify it, rename into place.

    The partial file and its ``.part.json`` note are never opened through a symbolic link: one planted there
    is refused, so a download cannot be redirected into another file.
    """
    part = target.with_name(target.name + ".part")
    meta_path = target.with_name(target.name + ".part.json")
    for path in (part, meta_path):
        if path.is_symlink():
            raise InvalidRequest(f"{path} is a symbolic link; hfit does not write through one",
                                 hint="remove it, or download to another -o path")
    wanted = {"template": name, "version": version, "format": fmt}
    meta = _read_json(meta_path)
    digest = hashlib.sha256()
    offset, etag = 0, None
    if fmt in RANGE_FORMATS and _is_regular_file(part) and {k: meta.get(k) for k in wanted} == wanted:
        for chunk in iter_file(part):
            digest.update(chunk)
        offset, etag = part.stat().st_size, meta.get("etag")
        stderr.print(f"resuming {target} from byte {offset}")

    def remember(new_etag: str | None) -> None:
        _write_no_follow(meta_path, json.dumps({**wanted, "etag": new_etag}).encode())

    fd = _open_no_follow(part, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC))
    os.fchmod(fd, 0o600)  # packages hold (masked) data: only their owner reads them
    try:
        with os.fdopen(fd, "ab" if offset else "wb") as sink, _progress(f"{name} {version}") as progress:
            result = client.download(name, version, fmt, sink, offset=offset, etag=etag, digest=digest,
                                     progress=progress, on_etag=remember)
        if manifest is not None:
            verify_download(part, fmt, manifest)
    except ServiceError:
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    meta_path.unlink(missing_ok=True)
    return replace(result, verified=True)


def _fail_the_sql_reader(error: HfitError) -> None:
    """One SQL statement no database accepts, so a SQL client reading the pipe fails instead of loading
    nothing and exiting 0; the comment above it says why."""
    reason = " ".join(error.message.split())[:300]
    try:
        sys.stdout.buffer.write(f"-- hfit pkg-download failed: {reason}\nhfit_pkg_download_failed;\n".encode())
        sys.stdout.buffer.flush()
    except (BrokenPipeError, OSError):
        pass


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _open_no_follow(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidRequest(f"{path} is a symbolic link; hfit does not write through one",
                                 hint="remove it, or download to another -o path") from None
        raise


def _write_no_follow(path: Path, data: bytes) -> None:
    with os.fdopen(_open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
        handle.write(data)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
