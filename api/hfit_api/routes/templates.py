"""``/templates``: list, show, validate, create and update (authors), approve (approvers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from hfit_api.catalog import CatalogEntry
from hfit_api.deps import ApproverUser, AuthorUser, ClientAddress, CurrentUser, ServiceDep, Template
from hfit_api.schemas import (
    ERROR_RESPONSES,
    ApproveRequest,
    ErrorPublic,
    FindingPublic,
    ParameterPublic,
    RevisionPublic,
    TemplateDetail,
    TemplateSummary,
    TemplateWriteRequest,
    ValidationPublic,
)
from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings

router = APIRouter(prefix="/templates", tags=["templates"], responses=ERROR_RESPONSES)
VALIDATE_SOURCE = "template.yaml"  # the file name findings and schema errors of /validate are reported against


def summary(entry: CatalogEntry) -> TemplateSummary:
    spec = entry.spec
    return TemplateSummary(
        name=entry.name, description=spec.description.strip(), status=spec.status, source=entry.source,
        folder=entry.folder, owner=entry.owner, content_hash=entry.content_hash,
        parameters={name: ParameterPublic(type=p.type, default=p.default, required=p.is_required,
                                          description=p.description) for name, p in spec.parameters.items()},
        updated_by=entry.updated_by, updated_at=entry.updated_at, approved_by=entry.approved_by,
        approved_at=entry.approved_at, proposed_revision=revision_public(entry),
    )


def revision_public(entry: CatalogEntry) -> RevisionPublic | None:
    revision = entry.revision
    if revision is None:
        return None
    return RevisionPublic(content_hash=revision.content_hash, base_hash=revision.base_hash,
                          proposed_by=revision.proposed_by, proposed_at=revision.proposed_at)


def detail(entry: CatalogEntry, debug: bool = False, settings: HfitSettings | None = None) -> TemplateDetail:
    spec = entry.spec
    compiled = {name: query.sql for name, query in spec.queries().items()} if debug else None
    plan: dict[str, Any] | None = None
    plan_error: str | None = None
    if debug and settings is not None:
        from hfit_dagster.pipeline.plan_preview import plan_template

        try:
            plan = {table: p.to_dict() for table, p in plan_template(spec, settings).items()}
        except HfitError as exc:
            plan_error = exc.message
    return TemplateDetail(**summary(entry).model_dump(), yaml=entry.yaml_text,
                          proposed_yaml=entry.revision.yaml_text if entry.revision is not None else None,
                          export_order=spec.export_order(),
                          compiled=compiled, masking_plan=plan, masking_plan_error=plan_error)


@router.get("", name="templates.list", response_model=list[TemplateSummary])
def list_templates(user: CurrentUser, service: ServiceDep) -> list[TemplateSummary]:
    """Every template: templates/ of the repository and those made through the API, with status and owner."""
    return [summary(entry) for _name, entry in sorted(service.catalog.entries().items())]


@router.post("", name="templates.create", response_model=TemplateDetail, status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorPublic, "description": "a template of that name, or of the same Dagster "
                                                                  "job name, exists"}})
def create_template(user: AuthorUser, body: TemplateWriteRequest, service: ServiceDep,
                    client: ClientAddress) -> TemplateDetail:
    """A new template; it is a draft (whatever its YAML says) until an approver approves it."""
    entry = service.catalog.create(body.yaml, user)
    service.audit.record(action="templates.create", outcome="ok", user=user.name, template=entry.name,
                         client=client, detail=f"draft {entry.content_hash}")
    return detail(entry)


@router.post("/validate", name="templates.validate", response_model=ValidationPublic)
def validate_template(body: TemplateWriteRequest, user: CurrentUser, service: ServiceDep) -> ValidationPublic:
    """Validate YAML without storing it, with the checks of ``hfit pkg-tmpl validate``: the schema (an invalid
    template is a 400 naming the line), then findings with their line: unknown masking operators, undeclared or
    unused parameters, providers this service does not configure. ``ok`` is false when a finding is an error."""
    from hfit_dagster.template.lint import lint_template  # the operator registry: only this route needs it

    spec, findings = lint_template(body.yaml, VALIDATE_SOURCE, service.settings.providers)
    return ValidationPublic(ok=not any(f.severity == "error" for f in findings), name=spec.name,
                            status=spec.status, exports=spec.export_order(), parameters=sorted(spec.parameters),
                            content_hash=spec.content_hash(),
                            findings=[FindingPublic(severity=f.severity, source=f.source, line=f.line,
                                                    field=f.field, message=f.message) for f in findings])


@router.get("/{name}", name="templates.show", response_model=TemplateDetail)
def show_template(entry: Template, user: CurrentUser, service: ServiceDep, client: ClientAddress,
                  debug: bool = False) -> TemplateDetail:
    """The template's YAML and metadata; ``debug=true`` adds the compiled SQL of every export and the masking
    plan (classified from a sample of the source; no data is returned). A debug request runs the template's
    SQL, so it is audited before it does."""
    if debug:
        service.audit.record(action="templates.show", outcome="ok", user=user.name, template=entry.name,
                             client=client, detail="debug=true: compiled SQL and a masking plan from a sample of "
                                                   f"the source ({entry.content_hash})")
    return detail(entry, debug, service.settings)


@router.put("/{name}", name="templates.update", response_model=TemplateDetail,
            responses={409: {"model": ErrorPublic, "description": "someone else's revision is waiting"}})
def update_template(user: AuthorUser, body: TemplateWriteRequest, entry: Template, service: ServiceDep,
                    client: ClientAddress) -> TemplateDetail:
    """New content for a template. A draft that was never approved changes in place; an approved or repository
    template gets a proposed revision (``proposed_revision``) and keeps building its approved content until
    someone other than the proposer approves the revision's hash."""
    updated = service.catalog.update(entry.name, body.yaml, user)
    if updated.revision is not None:
        what = f"proposed revision {updated.revision.content_hash} of {entry.status} {entry.content_hash}"
    else:
        what = f"draft {entry.content_hash} is now {updated.content_hash}"
    service.audit.record(action="templates.update", outcome="ok", user=user.name, template=updated.name,
                         client=client, detail=what)
    return detail(updated)


@router.post("/{name}/approve", name="templates.approve", response_model=TemplateDetail,
             responses={409: {"model": ErrorPublic, "description": "the hash is not the content under review"}})
def approve_template(user: ApproverUser, body: ApproveRequest, entry: Template, service: ServiceDep,
                     client: ClientAddress) -> TemplateDetail:
    """Approve the content under review, named by the ``content_hash`` that was reviewed (the proposed
    revision's, else the draft's). The approver is neither the template's author nor the content's last
    editor. Records who, when and the approved hash."""
    approved = service.catalog.approve(entry.name, user, body.content_hash)
    service.audit.record(action="templates.approve", outcome="ok", user=user.name, template=approved.name,
                         client=client, detail=f"reviewed {body.content_hash}, approved {approved.content_hash}")
    return detail(approved)
