"""The client side of the hfit service: HTTP calls, saved credentials, downloads and their cleanup records.

Every failure becomes the ``HfitError`` subclass whose ``code`` the server sent (so ``hfit`` exits with the
same code whichever side found the problem); a server that does not answer is ``ServerUnreachable``.
Nothing here prints: the commands in ``client_commands`` decide what the user sees.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from hfit_dagster import errors
from hfit_dagster.errors import (
    AuthError,
    BuildError,
    HfitError,
    InvalidRequest,
    ServerUnreachable,
    ServiceError,
)
from hfit_dagster.settings import HfitSettings

if TYPE_CHECKING:
    import httpx

USER_AGENT = "hfit-cli/0.1"
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 30.0, 300.0
RANGE_FORMATS = ("sql", "manifest")
SQL_FILE = "package.sql"
CHUNK = 1 << 20
TERMINAL = ("succeeded", "failed")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _errors_by_code() -> dict[str, type[HfitError]]:
    found: dict[str, type[HfitError]] = {}
    pending: list[type[HfitError]] = [errors.HfitError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


ERRORS_BY_CODE = _errors_by_code()
STATUS_FALLBACK: dict[int, type[HfitError]] = {401: AuthError, 403: errors.Forbidden, 404: errors.NotFound,
                                               400: InvalidRequest, 429: errors.RateLimited}


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w`` or ``90s``."""
    match = _DURATION.match(text or "")
    if not match:
        raise InvalidRequest(f"cannot read the duration {text[:20]!r}", hint="write it like 7d, 12h, 30m or 2w")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: int(amount)})


# -- saved state in the user's config directory -----------------------------------------------------------------
@dataclass
class Credentials:
    server: str
    token: str
    user: str | None = None
    role: str | None = None
    token_id: str | None = None
    expires_at: str | None = None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically, in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)  # also when it existed: the folder holds the session token
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class CredentialStore:
    """``<config dir>/credentials.json``: the server and the session token of ``hfit login``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "credentials.json"

    def load(self) -> Credentials | None:
        try:
            data = json.loads(self.path.read_text())
            return Credentials(**{k: data.get(k) for k in Credentials.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return None

    def save(self, credentials: Credentials) -> None:
        _write_private(self.path, json.dumps(asdict(credentials), indent=2) + "\n")

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


@dataclass
class DownloadRecord:
    path: str
    expires_at: str
    template: str
    version: str
    downloaded_at: str


class DownloadRecords:
    """``<config dir>/downloads.json``: files downloaded with ``--auto-cleanup`` and when they expire."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "downloads.json"

    def load(self) -> list[DownloadRecord]:
        try:
            data = json.loads(self.path.read_text())
            return [DownloadRecord(**item) for item in data.get("downloads", [])]
        except (OSError, ValueError, TypeError):
            return []

    def add(self, path: Path, keep_for: timedelta, template: str, version: str) -> DownloadRecord:
        now = datetime.now(UTC)
        record = DownloadRecord(path=str(path.resolve()), expires_at=(now + keep_for).isoformat(timespec="seconds"),
                                template=template, version=version,
                                downloaded_at=now.isoformat(timespec="seconds"))
        kept = [r for r in self.load() if r.path != record.path]
        self._save([*kept, record])
        return record

    def cleanup(self, now: datetime | None = None, dry_run: bool = False) -> list[tuple[DownloadRecord, bool]]:
        """Delete expired files; returns (record, existed) for each expired one, and forgets them."""
        now = now or datetime.now(UTC)
        done: list[tuple[DownloadRecord, bool]] = []
        kept: list[DownloadRecord] = []
        for record in self.load():
            if datetime.fromisoformat(record.expires_at) > now:
                kept.append(record)
                continue
            path = Path(record.path)
            existed = path.is_file()
            if not dry_run:
                path.unlink(missing_ok=True)
                _part_of(path).unlink(missing_ok=True)
            done.append((record, existed))
        if not dry_run:
            self._save(kept)
        return done

    def _save(self, records: list[DownloadRecord]) -> None:
        _write_private(self.path, json.dumps({"downloads": [asdict(r) for r in records]}, indent=2) + "\n")


def _part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


# -- HTTP ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DownloadResult:
    version: str
    bytes: int
    etag: str | None
    verified: bool


ProgressCallback = Callable[[int, int | None], None]


class HfitClient:
    """Calls the hfit service with a bearer token (or none, for logging in)."""

    def __init__(self, server: str, token: str | None = None, *, timeout: httpx.Timeout | None = None) -> None:
        import httpx  # only commands that call the service pay its import (~0.1 s of CPU), not `hfit build`

        self.server = server.rstrip("/")
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.server, headers=headers,
                                 timeout=timeout or httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S))

    @classmethod
    def logged_in(cls, settings: HfitSettings) -> HfitClient:
        """A client with the saved session, else the API token of HFIT_TOKEN; AuthError when neither."""
        saved = CredentialStore(settings.client_dir).load()
        if saved is not None:
            return cls(saved.server, saved.token)
        if settings.token is not None and settings.token.get_secret_value():
            return cls(settings.server_url, settings.token.get_secret_value())
        raise AuthError("not logged in", hint="run 'hfit login' (or set HFIT_TOKEN to an API token)")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HfitClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- auth --------------------------------------------------------------------------------------------
    def token_for_password(self, username: str, password: str) -> dict[str, Any]:
        return self._json("POST", "/auth/token", json={"username": username, "password": password})

    def token_for_api_token(self, api_token: str) -> dict[str, Any]:
        return self._json("POST", "/auth/token", json={"api_token": api_token})

    def whoami(self) -> dict[str, Any]:
        return self._json("GET", "/auth/me")

    def logout(self) -> dict[str, Any]:
        return self._json("DELETE", "/auth/token")

    # -- templates ---------------------------------------------------------------------------------------
    def templates(self) -> list[dict[str, Any]]:
        return self._json("GET", "/templates")  # type: ignore[return-value]

    def template(self, name: str, debug: bool = False) -> dict[str, Any]:
        return self._json("GET", f"/templates/{_segment(name)}", params={"debug": "true"} if debug else None)

    def create_template(self, yaml_text: str) -> dict[str, Any]:
        return self._json("POST", "/templates", json={"yaml": yaml_text})

    def update_template(self, name: str, yaml_text: str) -> dict[str, Any]:
        return self._json("PUT", f"/templates/{_segment(name)}", json={"yaml": yaml_text})

    def approve_template(self, name: str, content_hash: str | None = None) -> dict[str, Any]:
        """Approve the content with ``content_hash`` (what was reviewed). Without it: the hash the server shows
        as under review now (the proposed revision's, else the draft's), read just before approving."""
        if content_hash is None:
            shown = self.template(name)
            content_hash = (shown.get("proposed_revision") or {}).get("content_hash") or shown["content_hash"]
        return self._json("POST", f"/templates/{_segment(name)}/approve", json={"content_hash": content_hash})

    # -- builds and packages -----------------------------------------------------------------------------
    def request_build(self, template: str, params: dict[str, str]) -> dict[str, Any]:
        return self._json("POST", f"/packages/{_segment(template)}/builds", json={"params": params})

    def build(self, build_id: str) -> dict[str, Any]:
        return self._json("GET", f"/builds/{_segment(build_id)}")

    def wait_for_build(self, build: dict[str, Any], *, timeout: float = 1800.0,
                       on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll until the build succeeds (returned) or fails (BuildError with the server's reason)."""
        deadline, delay = time.monotonic() + timeout, 0.25
        while build["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise BuildError(f"build {build['id']} did not finish within {timeout:.0f} s",
                                 hint="it may still finish: run the same command again later")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
            build = self.build(build["id"])
            if on_status is not None:
                on_status(build)
        if build["status"] == "failed":
            error = build.get("error") or {}
            raise BuildError(f"build of {build['template']} failed ({error.get('code', 'build_failed')}): "
                             f"{error.get('message', 'no reason given')}; nothing was published",
                             hint=error.get("hint"))
        return build

    def packages(self, template: str) -> dict[str, Any]:
        return self._json("GET", f"/packages/{_segment(template)}")

    def manifest(self, template: str, version: str) -> dict[str, Any]:
        """A package's manifest, checked against its ETag (its sha256): the digests every download is held to."""
        buffer = io.BytesIO()
        self.download(template, version, "manifest", buffer)
        try:
            manifest = json.loads(buffer.getvalue())
        except ValueError:
            raise ServiceError(f"the manifest of {template} {version} is not JSON") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise ServiceError(f"the manifest of {template} {version} lists no files")
        return manifest

    def download(self, template: str, version: str, fmt: str, sink: BinaryIO, *, offset: int = 0,
                 etag: str | None = None, digest: Any = None, progress: ProgressCallback | None = None,
                 retries: int = 3, on_etag: Callable[[str | None], None] | None = None) -> DownloadResult:
        """Stream a package file into ``sink`` from ``offset``; resume with Range after a broken transfer.

        ``digest`` (a hashlib object) must already hold the first ``offset`` bytes; for ``sql`` and
        ``manifest`` the result is checked against the ETag (the file's sha256) when the transfer ends.
        """
        import httpx  # imported by __init__ already

        digest = digest if digest is not None else hashlib.sha256()
        url = f"/packages/{_segment(template)}/versions/{_segment(version)}"
        attempt = 0
        served_version = version
        total: int | None = None
        while True:
            headers = {}
            if offset and fmt in RANGE_FORMATS:
                headers["Range"] = f"bytes={offset}-"
                if etag:
                    headers["If-Range"] = etag
            try:
                with self.http.stream("GET", url, params={"format": fmt}, headers=headers) as response:
                    if response.status_code == 416 and offset:
                        break  # everything was already there
                    if response.status_code >= 400:
                        response.read()
                        raise self._error(response)
                    served_version = response.headers.get("x-hfit-version", served_version)
                    if response.status_code == 200 and offset:
                        raise ServiceError("the server sent the whole file again instead of the rest",
                                           hint="delete the partial file and download again")
                    etag = response.headers.get("etag", etag)
                    if on_etag is not None:
                        on_etag(etag)
                    length = response.headers.get("content-length")
                    total = offset + int(length) if length is not None else None
                    for chunk in response.iter_raw(1 << 16):
                        sink.write(chunk)
                        digest.update(chunk)
                        offset += len(chunk)
                        if progress is not None:
                            progress(offset, total)
                    break
            except httpx.TransportError as exc:
                attempt += 1
                if fmt not in RANGE_FORMATS or attempt > retries:
                    raise ServerUnreachable(
                        f"download of {template} {served_version} interrupted after {offset} bytes "
                        f"({exc.__class__.__name__})",
                        hint="run the same command again; with -o FILE it resumes where it stopped",
                    ) from None
                time.sleep(min(0.5 * 2**attempt, 5.0))
        verified = False
        if fmt in RANGE_FORMATS and etag:
            expected = etag.strip().removeprefix("W/").strip('"')
            if total is not None and offset != total:
                raise ServerUnreachable(f"download of {template} ended after {offset} of {total} bytes")
            if digest.hexdigest() != expected:
                what = "package.sql" if fmt == "sql" else "manifest"
                raise ServiceError(f"the downloaded {what} does not match its sha256 ({expected[:12]}…)",
                                   hint="delete the file and download again")
            verified = True
        return DownloadResult(version=served_version, bytes=offset, etag=etag, verified=verified)

    # -- plumbing ----------------------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx  # imported by __init__ already

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach the hfit service at {self.server} ({exc.__class__.__name__})",
                                    hint="is 'hfit serve' running there? 'hfit login --server URL' changes it") \
                from None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            return response.json()
        except ValueError:
            raise ServiceError(f"{self.server} did not answer with JSON; is it an hfit service?") from None

    def _error(self, response: httpx.Response) -> HfitError:
        try:
            error = response.json()["error"]
            code, message, hint = str(error["code"]), str(error["message"]), error.get("hint")
        except (ValueError, KeyError, TypeError):
            code, message, hint = "", f"HTTP {response.status_code} from {self.server}", None
        cls = ERRORS_BY_CODE.get(code) or STATUS_FALLBACK.get(response.status_code, ServiceError)
        return cls(message, hint=hint)


# -- verification ----------------------------------------------------------------------------------------------
def verify_download(path: Path, fmt: str, manifest: dict[str, Any]) -> None:
    """Hold a downloaded file to the manifest's sha256: package.sql for ``sql`` and (decompressed) ``sql.gz``,
    every Parquet file (and no other) for the ``parquet`` tar. ServiceError when anything differs."""
    files: dict[str, Any] = manifest.get("files") or {}
    if fmt in ("sql", "sql.gz"):
        expected = str((files.get(SQL_FILE) or {}).get("sha256", ""))
        digest = hashlib.sha256()
        with path.open("rb") as raw:
            source: BinaryIO = gzip.GzipFile(fileobj=raw) if fmt == "sql.gz" else raw  # type: ignore[assignment]
            try:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
            except (OSError, EOFError, zlib.error):
                raise ServiceError(f"the downloaded {fmt} is not a complete gzip stream",
                                   hint="download it again") from None
        if not expected or digest.hexdigest() != expected:
            raise ServiceError(f"the downloaded {fmt} does not match its sha256 in the manifest "
                               f"({expected[:12] or 'none listed'}…)", hint="download it again")
    elif fmt == "parquet":
        wanted = {name: str(entry.get("sha256", "")) for name, entry in files.items() if name.startswith("parquet/")}
        found: dict[str, str] = {}
        try:
            with tarfile.open(path, mode="r|") as archive:
                for member in archive:
                    if not member.isfile() or member.name in found:
                        raise ServiceError(f"the parquet tar holds an unexpected entry {member.name[:80]!r}")
                    digest = hashlib.sha256()
                    handle = archive.extractfile(member)
                    assert handle is not None
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                    found[member.name] = digest.hexdigest()
        except (tarfile.TarError, OSError, EOFError):
            raise ServiceError("the downloaded parquet tar is not a complete archive", hint="download it again") \
                from None
        if found != wanted:
            differing = sorted(set(found) ^ set(wanted) | {n for n in found if found[n] != wanted.get(n)})
            raise ServiceError(f"the downloaded parquet tar does not match the sha256 of its files in the manifest "
                               f"({', '.join(differing[:3])})", hint="download it again")


def _segment(value: str) -> str:
    """One URL path segment: '/' and friends are escaped so a name can never change the route."""
    from urllib.parse import quote

    return quote(value, safe="")


def iter_file(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while data := handle.read(chunk):
            yield data
