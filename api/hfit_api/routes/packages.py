"""``/packages``: the versions of a template's package, and downloads (streamed, resumable)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from hfit_api.deps import LATEST, ClientAddress, CurrentUser, PackageTemplate, ServiceDep, Version
from hfit_api.errors import RangeNotSatisfiable
from hfit_api.packages import MANIFEST, SQL, PackageAccess, PublishedPackage
from hfit_api.schemas import ERROR_RESPONSES, FilePublic, PackageFormat, PackageListPublic, PackageVersionPublic
from hfit_api.streams import TarStream, file_chunks, gzip_chunks

router = APIRouter(prefix="/packages", tags=["packages"], responses=ERROR_RESPONSES)
_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MEDIA_TYPES = {"sql": "application/sql", "sql.gz": "application/gzip", "parquet": "application/x-tar",
               "manifest": "application/json"}


def access_for(entry: PackageTemplate, user: CurrentUser, service: ServiceDep) -> PackageAccess:
    return PackageAccess(entry=entry, user=user, approved_hashes=frozenset(service.catalog.approved_hashes(entry)),
                         provider_readers=service.settings.provider_readers)


Access = Annotated[PackageAccess, Depends(access_for)]


def version_public(package: PublishedPackage, access: PackageAccess) -> PackageVersionPublic:
    return PackageVersionPublic(
        version=package.version, created_at=package.created_at, template_hash=package.template_hash,
        approved=package.template_hash in access.approved_hashes, params=dict(package.manifest.get("params") or {}),
        rows=package.rows, bytes=package.total_bytes,
        files={name: FilePublic(sha256=str(f.get("sha256", "")), bytes=int(f.get("bytes", 0)))
               for name, f in package.files.items()},
    )


@router.get("/{template}", name="packages.list", response_model=PackageListPublic)
def list_versions(access: Access, service: ServiceDep, client: ClientAddress) -> PackageListPublic:
    """Published versions this user may download, newest first (created_at, params, bytes)."""
    access.check_template("see packages of")
    visible = [p for p in service.packages.versions(access.entry.name) if access.allows(p)]
    return PackageListPublic(template=access.entry.name, latest=visible[0].version if visible else None,
                             versions=[version_public(p, access) for p in visible])


@router.get(
    "/{template}/versions/{version}", name="packages.download", response_model=None,
    responses={200: {"description": "the package file, streamed",
                     "content": {media: {} for media in MEDIA_TYPES.values()}},
               206: {"description": "the requested byte range (sql, manifest)"},
               304: {"description": "If-None-Match matched the ETag"}},
)
def download(access: Access, version: Version, request: Request, service: ServiceDep, client: ClientAddress,
             format: Annotated[PackageFormat, Query(description="what to download")] = "sql") -> Response:
    """A package version (or ``latest``) as SQL, gzip'd SQL, a tar of the Parquet files, or the manifest.

    ``sql`` and ``manifest`` honour ``Range`` (206) and ``If-Range``; the ETag of ``sql`` is the sha256 of
    package.sql from the manifest. The download is audited before the first byte leaves.
    """
    access.check_template()
    versions = service.packages.versions(access.entry.name) if version == LATEST else None
    package = access.newest(versions) if versions is not None else service.packages.get(access.entry.name, version)
    access.check_package(package)
    filename = f"{package.template}-{package.version}"
    headers = {"X-Hfit-Version": package.version, "Cache-Control": "private, no-transform"}
    response: Response
    if format in ("sql", "manifest"):
        name = SQL if format == "sql" else MANIFEST
        path, size = _file(package, name)
        etag = _etag_of(package, name, path)
        headers["ETag"] = f'"{etag}"'
        headers["Accept-Ranges"] = "bytes"
        if _not_modified(request, etag):
            _audit(service, access, package, format, 0, client, "not_modified")
            return Response(status_code=304, headers=headers)
        span = requested_range(request.headers.get("range"), size, request.headers.get("if-range"), etag)
        first, last = span if span is not None else (0, size - 1)
        sent = max(0, last - first + 1)
        headers["Content-Length"] = str(sent)
        if span is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = StreamingResponse(file_chunks(path, first, sent), status_code=206 if span is not None else 200,
                                     media_type=MEDIA_TYPES[format], headers=headers)
        response.headers["Content-Disposition"] = \
            f'attachment; filename="{filename}{".sql" if format == "sql" else ".manifest.json"}"'
    elif format == "sql.gz":
        path, size = _file(package, SQL)
        headers["ETag"] = f'"{_etag_of(package, SQL, path)}-gz"'
        sent = size  # uncompressed bytes read from the package
        response = StreamingResponse(gzip_chunks(path), media_type=MEDIA_TYPES[format], headers=headers)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}.sql.gz"'
    else:
        members = sorted((name, package.file(name)[0]) for name in package.files if name.startswith("parquet/"))
        tar = TarStream(members)
        headers["ETag"] = f'"{tar.etag([str(package.files[name].get("sha256")) for name, _ in members])}"'
        headers["Content-Length"] = str(tar.length)
        headers["Content-Disposition"] = f'attachment; filename="{filename}.parquet.tar"'
        sent = tar.length
        response = StreamingResponse(iter(tar), media_type=MEDIA_TYPES[format], headers=headers)
    _audit(service, access, package, format, sent, client, "ok")
    return response


def _file(package: PublishedPackage, name: str) -> tuple[Path, int]:
    if name == MANIFEST:
        path = package.path / MANIFEST
        return path, path.stat().st_size
    path, entry = package.file(name)
    return path, int(entry.get("bytes", path.stat().st_size))


def _etag_of(package: PublishedPackage, name: str, path: Path) -> str:
    if name == MANIFEST:  # the manifest cannot list its own digest
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return str(package.files[name]["sha256"])


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    return wanted is not None and any(tag.strip().strip('"') == etag for tag in wanted.split(","))


def requested_range(header: str | None, size: int, if_range: str | None, etag: str) -> tuple[int, int] | None:
    """The inclusive byte span a Range header asks for, None for the whole file (no Range, or an If-Range that
    no longer matches). Anything else — malformed, several ranges, outside the file — is refused (416, JSON,
    audited with that outcome), never silently answered with something else."""
    if header is None or (if_range is not None and if_range.strip().removeprefix("W/").strip('"') != etag):
        return None
    match = _SINGLE_RANGE.match(header.strip())
    if not match or not any(match.groups()):
        raise RangeNotSatisfiable(f"unsupported Range {header[:60]!r}", size,
                                  hint="send one range, bytes=FIRST-[LAST] or bytes=-SUFFIX")
    start, end = match.groups()
    if not start:
        first, last = max(0, size - int(end)), size - 1
        if int(end) == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header[:60]!r} asks for no bytes of a {size}-byte file", size)
        return first, last
    first, last = int(start), min(int(end), size - 1) if end else size - 1
    if first >= size or (end and int(end) < first):
        raise RangeNotSatisfiable(f"Range {header[:60]!r} lies outside the {size}-byte file", size)
    return first, last


def _audit(service: ServiceDep, access: PackageAccess, package: PublishedPackage, format: str, sent: int,
           client: str, outcome: str) -> None:
    service.audit.record(action="packages.download", outcome=outcome, user=access.user.name,
                         template=package.template, params=dict(package.manifest.get("params") or {}),
                         version=package.version, bytes_sent=sent, client=client, detail=f"format {format}")
