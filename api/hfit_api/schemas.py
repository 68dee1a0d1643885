"""Request and response bodies, named by role (``...Request`` in, ``...Public`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PackageFormat = Literal["sql", "sql.gz", "parquet", "manifest"]
BuildStatus = Literal["queued", "running", "succeeded", "failed"]


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. unauthorized, bad_parameter")
    message: str
    hint: str | None = None


class ErrorPublic(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": text}
    for status, text in [(400, "invalid request"), (401, "not authenticated"), (403, "not allowed"),
                         (404, "not found")]
}


# -- auth ---------------------------------------------------------------------------------------------------
class TokenRequest(BaseModel):
    """Either a user name and password, or an API token (CI) to exchange for an expiring session token."""

    model_config = ConfigDict(extra="forbid")
    username: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, max_length=1000)
    api_token: str | None = Field(default=None, max_length=200)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    token_id: str
    expires_at: datetime | None
    user: str
    role: str


class UserPublic(BaseModel):
    name: str
    role: str
    token_id: str | None = None
    token_kind: str | None = None
    token_expires_at: datetime | None = None


class RevokedPublic(BaseModel):
    token_id: str
    revoked: bool = True


# -- templates ----------------------------------------------------------------------------------------------
class ParameterPublic(BaseModel):
    type: str
    default: Any = None
    required: bool
    description: str = ""


class RevisionPublic(BaseModel):
    """A proposed change waiting for approval; the template's approved content builds until it is approved."""

    content_hash: str = Field(description="what an approver reviews and names in POST .../approve")
    base_hash: str = Field(description="the content it would replace")
    proposed_by: str
    proposed_at: datetime


class TemplateSummary(BaseModel):
    name: str
    description: str
    status: Literal["draft", "approved"]
    source: Literal["repository", "api"]
    folder: str
    owner: str | None
    content_hash: str
    parameters: dict[str, ParameterPublic]
    updated_by: str | None = None
    updated_at: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    proposed_revision: RevisionPublic | None = Field(default=None, description="a change waiting for approval")


class TemplateDetail(TemplateSummary):
    yaml: str
    proposed_yaml: str | None = Field(default=None, description="the YAML of the proposed revision")
    export_order: list[str]
    compiled: dict[str, str] | None = Field(default=None, description="compiled SQL per export (debug=true)")
    masking_plan: dict[str, Any] | None = Field(default=None, description="per table: the column plan, from a "
                                                "sample of the source (debug=true; never data)")
    masking_plan_error: str | None = Field(default=None, description="why the plan could not be computed")


class TemplateWriteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(description="the template as YAML text", max_length=256 * 1024)


class ApproveRequest(BaseModel):
    """Approval names the exact content that was reviewed: an edit after the review is never approved unseen."""

    model_config = ConfigDict(extra="forbid")
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$",
                              description="content_hash of the reviewed draft, or of the proposed revision")


class FindingPublic(BaseModel):
    """A problem the schema does not catch (``hfit pkg-tmpl validate``'s findings), located in the YAML."""

    severity: Literal["error", "warning"] = Field(description="an error fails builds; a warning does not")
    source: str
    line: int | None = Field(description="1-based line in the YAML, when the finding has one")
    field: str = Field(description="dotted path, e.g. masking.customers.email")
    message: str


class ValidationPublic(BaseModel):
    ok: bool = Field(description="true when the schema accepts the template and no finding is an error")
    name: str
    status: str
    exports: list[str]
    parameters: list[str]
    content_hash: str
    findings: list[FindingPublic] = Field(default_factory=list,
                                          description="unknown operators, undeclared or unused parameters, "
                                                      "providers this service does not configure")


# -- packages and builds ------------------------------------------------------------------------------------
class FilePublic(BaseModel):
    sha256: str
    bytes: int


class PackageVersionPublic(BaseModel):
    version: str
    created_at: datetime | None
    template_hash: str
    approved: bool
    params: dict[str, Any]
    rows: int
    bytes: int
    files: dict[str, FilePublic]


class PackageListPublic(BaseModel):
    template: str
    latest: str | None
    versions: list[PackageVersionPublic]


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, str | int | float | bool | list[str | int | float] | None] = Field(
        default_factory=dict, description="build parameters, as `hfit build NAME key=value` takes them")


class BuildErrorPublic(BaseModel):
    code: str
    message: str
    hint: str | None = None


class BuildPublic(BaseModel):
    id: str
    template: str
    status: BuildStatus
    outcome: Literal["launched", "joined", "fresh"] | None = Field(
        default=None, description="on POST: launched a run, joined a running identical one, or served a fresh one")
    fresh: bool
    dry_run: bool
    params: dict[str, Any] = Field(description="parameter names; values as the manifest keeps them: keyed digests "
                                   "(hmac-sha256:...), but flags, nulls and built-in knobs the template does not "
                                   "declare (row_limit, ...) as given")
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version: str | None
    run_id: str | None = Field(description="the Dagster run")
    error: BuildErrorPublic | None
    download_url: str | None


# -- audit and health ---------------------------------------------------------------------------------------
class AuditPublic(BaseModel):
    id: int
    at: datetime
    user: str | None
    action: str
    template: str | None
    params: dict[str, Any] | None
    version: str | None
    bytes: int | None
    outcome: str
    status: int | None
    client: str | None
    detail: str | None


class HealthPublic(BaseModel):
    status: Literal["ok"]
    version: str
    state_db: Literal["ok"]
    package_store: str


class AlertAccepted(BaseModel):
    """An alert stored for the Dagster sensor; ``matching_templates`` will each get one build run."""

    alert_id: int
    created: bool = Field(description="false when an alert with the same id was stored before")
    matching_templates: list[str]


class AlertPublic(BaseModel):
    """What an admin sees of a stored alert: never its payload (sealed at rest; it names people), only what tells
    whether the alert arrived, when, and what it led to."""

    id: int
    source_id: str | None = Field(description="the sender's alert id, or 'signature:<hex>' for an alert without one")
    received_at: datetime
    occurred_at: datetime = Field(description="the time the alert names (its 'at'), else when it arrived")
    status: Literal["pending", "consumed", "expired", "unopened"] = Field(
        description="pending: not yet seen by the alert sensor; consumed: the sensor asked its runs; expired: "
        "consumed, and its payload dropped after the retention period; unopened: its sealed payload did not open "
        "with the masking key that opened others (altered, or sealed under an earlier key), so it was dropped and "
        "no run asked")
    consumed_at: datetime | None
    templates: list[str] = Field(description="templates the sensor asked a run of for this alert")
