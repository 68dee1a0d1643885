"""Builds: ``POST /packages/{template}/builds`` (fresh package, or a Dagster run) and ``GET /builds/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from hfit_api.builds import message_without_values, shown_params
from hfit_api.deps import ClientAddress, CurrentUser, PackageTemplate, ServiceDep
from hfit_api.packages import PackageAccess
from hfit_api.schemas import ERROR_RESPONSES, BuildErrorPublic, BuildPublic, BuildRequest
from hfit_api.state import Build
from hfit_dagster.errors import HfitError

router = APIRouter(tags=["builds"], responses=ERROR_RESPONSES)


def build_public(build: Build, outcome: str | None = None) -> BuildPublic:
    error = None
    if build.status == "failed":
        error = BuildErrorPublic(code=build.error_code or "build_failed", message=build.error_message or "failed",
                                 hint=build.error_hint)
    download = f"/packages/{build.template}/versions/{build.version}" if build.version else None
    return BuildPublic(
        id=build.id, template=build.template, status=build.status, outcome=outcome,  # type: ignore[arg-type]
        fresh=build.fresh, dry_run=build.dry_run, params=build.params, requested_by=build.requested_by,
        created_at=build.created_at, started_at=build.started_at, finished_at=build.finished_at,
        version=build.version, run_id=build.run_id, error=error, download_url=download,
    )


@router.post("/packages/{template}/builds", name="builds.request", response_model=BuildPublic,
             status_code=status.HTTP_202_ACCEPTED,
             responses={200: {"model": BuildPublic, "description": "a fresh package already exists"}})
def request_build(user: CurrentUser, entry: PackageTemplate, body: BuildRequest, request: Request,
                  response: Response, service: ServiceDep, client: ClientAddress) -> BuildPublic:
    """Build the template's package with these parameters: 200 with a fresh package, else 202 and a run.

    Parameters are validated first (400 with the reason). Only approved templates build, except an
    author's own draft (a dry run, marked ``dry_run``).
    """
    PackageAccess(entry=entry, user=user, approved_hashes=frozenset(),
                  provider_readers=service.settings.provider_readers).check_template("build")
    raw = {k: v for k, v in body.params.items() if v is not None}
    # for the audit row of a refusal: the values as sent, kept by the manifest's rule (digests, knobs visible)
    request.state.audit_params = shown_params(service.settings, entry.spec, raw)
    try:
        build, outcome = service.builds.request(entry, raw, user)
    except HfitError as error:
        request.state.audit_message = message_without_values(error.message, raw)
        raise
    service.audit.record(action="builds.request", outcome=outcome, user=user.name, template=entry.name,
                         params=build.params, version=build.version, client=client,
                         detail=f"build {build.id}" + (" (dry run of a draft)" if build.dry_run else ""))
    if outcome == "fresh":
        response.status_code = status.HTTP_200_OK
    return build_public(build, outcome)


@router.get("/builds/{build_id}", name="builds.status", response_model=BuildPublic)
def build_status(build_id: str, user: CurrentUser, service: ServiceDep) -> BuildPublic:
    """Status of a build: queued, running, succeeded (with its version) or failed (with the reason)."""
    return build_public(service.builds.get(build_id, user))
