"""The template model: what a YAML template may say, validated at the edge.

Field names follow the YAML (``templateName`` is camelCase as in the user guide; everything else is
snake_case). Unknown keys are errors, so a typo is reported instead of silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from hfit_dagster.errors import QueryRefused
from hfit_dagster.template.durations import parse_duration
from hfit_dagster.template.query import ExportQuery
from hfit_dagster.template.sql_allowlist import SYSTEM_SCHEMAS

TEMPLATE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
SCHEMA_FIELD = Field(default=None, alias="schema", pattern=IDENTIFIER_PATTERN,
                     description="the source schema (MySQL/MariaDB: database) to read; default: the provider's own")
SCALAR_TYPES = ("int", "float", "str", "bool", "date", "datetime")
PARAM_TYPES = SCALAR_TYPES + tuple(f"list[{t}]" for t in SCALAR_TYPES)
ParamType = Literal[
    "int", "float", "str", "bool", "date", "datetime",
    "list[int]", "list[float]", "list[str]", "list[bool]", "list[date]", "list[datetime]",
]
COMMENTS_KEY = "comments"  # masking.comments: drop (default) or keep: the source's table and column comments


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamSpec(_Strict):
    """A declared build parameter: typed, optionally bounded, with a default."""

    type: ParamType = "str"
    default: Any = None
    required: bool | None = None
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    description: str = ""

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None


class ChildSpec(_Strict):
    """Rows of a child table that point at an export's rows, at most ``max_per_parent`` per parent."""

    max_per_parent: int | None = Field(default=None, ge=1)
    via: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                            description="the child's FK column; needed only when it has several to the parent")


def _not_a_system_schema(value: str | None) -> str | None:
    if value is not None and (value.lower() in SYSTEM_SCHEMAS or value.lower().startswith("pg_")):
        raise ValueError(f"schema {value!r} is a system schema; templates read only user tables")
    return value


class ProviderSpec(_Strict):
    """What a template says about one of its providers: the schema its exports read."""

    source_schema: str | None = SCHEMA_FIELD

    _system = field_validator("source_schema")(classmethod(lambda cls, v: _not_a_system_schema(v)))


class ExportSpec(_Strict):
    """One exported table: the provider it is read from and the SELECT that picks its rows."""

    provider: str = Field(pattern=IDENTIFIER_PATTERN)
    query: str
    source_schema: str | None = SCHEMA_FIELD
    table: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                              description="source table; default: export name")
    time_column: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    sample: float | None = Field(default=None, description="keep this share of rows (0 < r <= 1, or '10%')")
    sample_seed: int = 0
    row_limit: int | None = Field(default=None, ge=1, description="at most this many rows of this export")
    children: dict[str, ChildSpec] = Field(default_factory=dict)
    min_rows: int | None = Field(default=None, ge=0, description="the build fails below this many rows")
    max_rows: int | None = Field(default=None, ge=0, description="the build fails above this many rows")

    _system = field_validator("source_schema")(classmethod(lambda cls, v: _not_a_system_schema(v)))

    @field_validator("sample", mode="before")
    @classmethod
    def _sample_percent(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return float(value.strip()[:-1]) / 100
            except ValueError:
                raise ValueError("sample must be a share like 0.1 or '10%'") from None
        return value

    @field_validator("sample")
    @classmethod
    def _sample_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError("sample must be a share of rows between 0 (excluded) and 1, e.g. 0.1 or '10%'")
        return value

    @field_validator("children")
    @classmethod
    def _child_names(cls, value: dict[str, ChildSpec]) -> dict[str, ChildSpec]:
        for name in value:
            if not re.match(IDENTIFIER_PATTERN, name):
                raise ValueError(f"child table name {name!r} must be an identifier")
        return value

    @field_validator("query")
    @classmethod
    def _one_read_only_select(cls, value: str) -> str:
        try:
            ExportQuery.parse(value)
        except QueryRefused as exc:
            detail = exc.message.removeprefix("query: ")
            raise ValueError(f"{detail} ({exc.hint})" if exc.hint else detail) from None
        return value


class SubsetSpec(_Strict):
    follow_parents: bool = True


class ScheduleSpec(_Strict):
    cron: str
    timezone: str = "UTC"
    params: dict[str, Any] = Field(default_factory=dict)


class AlertTriggerSpec(_Strict):
    """Build this template when a stored alert matches: params come from the alert, time window around it."""

    match: dict[str, str] = Field(default_factory=dict, description="alert field (or labels.<name>) → value")
    window: str = Field(default="30m", description="start_time/end_time = alert time ∓ window")
    params: dict[str, str] = Field(default_factory=dict,
                                   description="template parameter → '$.path.in.alert' or a literal")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value


class TriggersSpec(_Strict):
    alerts: AlertTriggerSpec | None = None


class FreshnessSpec(_Strict):
    max_age: str = Field(default="24h", description="the package is stale after this long")

    @field_validator("max_age")
    @classmethod
    def _max_age(cls, value: str) -> str:
        parse_duration(value)
        return value


class RetentionSpec(_Strict):
    keep_versions: int = Field(default=10, ge=1, description="newest versions kept")
    max_age_days: int | None = Field(default=None, ge=1, description="older versions removed (latest always kept)")


class TemplateSpec(_Strict):
    """A validated template. ``content_hash`` identifies exactly what was approved."""

    template_name: str = Field(alias="templateName", pattern=TEMPLATE_NAME_PATTERN)
    description: str = ""
    status: Literal["draft", "approved"] = "draft"
    owner: str | None = None
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    providers: dict[str, ProviderSpec] = Field(default_factory=dict)
    exports: dict[str, ExportSpec] = Field(min_length=1)
    subset: SubsetSpec = Field(default_factory=SubsetSpec)
    masking: dict[str, str] = Field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    triggers: TriggersSpec | None = None
    freshness: FreshnessSpec | None = None
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    # set by as_draft_build(); not part of the content (nor of content_hash)
    _draft_build: bool = PrivateAttr(default=False)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in value:
            if not re.match(IDENTIFIER_PATTERN, name):
                raise ValueError(f"parameter name {name!r} must be a letter or _ followed by letters, digits, _")
        return value

    @field_validator("exports")
    @classmethod
    def _export_names(cls, value: dict[str, ExportSpec]) -> dict[str, ExportSpec]:
        for name in value:
            if not re.match(IDENTIFIER_PATTERN, name):
                raise ValueError(f"export name {name!r} must be a table-like identifier")
        return value

    @field_validator("masking")
    @classmethod
    def _masking_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key, operator in value.items():
            if key == "default":
                if operator not in ("auto", "keep"):
                    raise ValueError("masking.default must be 'auto' (classify, deny by default) or 'keep'")
            elif key == COMMENTS_KEY:
                if operator not in ("drop", "keep"):
                    raise ValueError("masking.comments must be 'drop' (the default) or 'keep' (verbatim)")
            elif not re.match(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$", key):
                raise ValueError(f"masking key {key!r} must be 'table.column', 'default' or 'comments'")
        return value

    @model_validator(mode="after")
    def _queries_are_read_only_and_bound(self) -> TemplateSpec:
        for name, export in self.exports.items():
            compiled = ExportQuery.parse(export.query, where=f"exports.{name}.query")
            for ref_export, _column in compiled.references:
                if ref_export not in self.exports:
                    raise ValueError(
                        f"exports.{name}.query refers to :{ref_export}.<column>, "
                        f"but there is no export named {ref_export!r}"
                    )
                if ref_export == name:
                    raise ValueError(f"exports.{name}.query refers to its own keys")
        self.export_order()
        self._one_schema_per_provider()
        tables = [self.source_table(name) for name in self.exports]
        duplicated = sorted({t for t in tables if tables.count(t) > 1})
        if duplicated:
            raise ValueError(f"source table(s) {', '.join(duplicated)} exported twice; one export per table")
        for key in self.masking:
            if key not in ("default", COMMENTS_KEY) and key.split(".")[0] not in self.exports:
                raise ValueError(f"masking rule {key!r} names a table that is not exported")
        return self

    def _one_schema_per_provider(self) -> None:
        """Every provider reads one schema: a snapshot connection reads there, so its unqualified names, its
        reflected definitions and the SQL guard all mean that schema."""
        used = {e.provider.upper() for e in self.exports.values()}
        for name in self.providers:
            if name.upper() not in used:
                raise ValueError(f"providers.{name} is not the provider of any export")
        for provider in sorted(used):
            named = {e.source_schema for e in self.exports.values()
                     if e.provider.upper() == provider and e.source_schema is not None}
            declared = {p.source_schema for n, p in self.providers.items()
                        if n.upper() == provider and p.source_schema is not None}
            if len(named | declared) > 1:
                raise ValueError(f"exports of provider {provider} name different schemas "
                                 f"({', '.join(sorted(named | declared))}); a provider reads one schema per template")

    def provider_schema(self, provider: str) -> str | None:
        """The schema the template reads on ``provider`` (``providers.<name>.schema`` or its exports'
        ``schema:``), or None for the provider's own (its URL's database, PostgreSQL's search path)."""
        for name, spec in self.providers.items():
            if name.upper() == provider.upper() and spec.source_schema is not None:
                return spec.source_schema
        for export in self.exports.values():
            if export.provider.upper() == provider.upper() and export.source_schema is not None:
                return export.source_schema
        return None

    @property
    def name(self) -> str:
        return self.template_name

    def source_table(self, export: str) -> str:
        return self.exports[export].table or export

    def queries(self) -> dict[str, ExportQuery]:
        return {name: ExportQuery.parse(e.query, where=f"exports.{name}.query") for name, e in self.exports.items()}

    def as_draft_build(self) -> TemplateSpec:
        """This content built without an approval (a draft's or a proposed revision's dry run on the service).

        Content nobody else has approved never yields personal data: its ``keep`` rules and ``default: keep``
        are ignored, so every column the classifier finds personal is masked. The content (and its hash) is
        unchanged; the build that runs it also uses a throwaway masking key and publishes without moving
        LATEST or pruning (``orchestration/draft_builds.py``).
        """
        copy = self.model_copy()
        copy._draft_build = True
        return copy

    @property
    def draft_build(self) -> bool:
        return self._draft_build

    def masking_rules(self, export: str) -> dict[str, str]:
        prefix = f"{export}."
        rules = {k[len(prefix) :]: v for k, v in self.masking.items() if k.startswith(prefix)}
        if self._draft_build:
            return {column: operator for column, operator in rules.items() if operator != "keep"}
        return rules

    @property
    def masking_default(self) -> str:
        return "auto" if self._draft_build else self.masking.get("default", "auto")

    @property
    def keeps_comments(self) -> bool:
        """``masking.comments: keep``: table and column comments are copied verbatim into package.sql (never by
        a draft's build: content nobody approved)."""
        return not self._draft_build and self.masking.get(COMMENTS_KEY) == "keep"

    def content_hash(self) -> str:
        data = self.model_dump(by_alias=True, mode="json")
        # fields added later leave the hash of a template that does not use them as it was
        if not data["providers"]:
            del data["providers"]
        for export in data["exports"].values():
            if export["schema"] is None:
                del export["schema"]
        canonical = json.dumps(data, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def export_order(self) -> list[str]:
        """Exports ordered so that every referenced export comes first (references form a DAG)."""
        queries = self.queries()
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ValueError(f"exports reference each other in a cycle through {name!r}")
            visiting.add(name)
            for ref, _ in queries[name].references:
                visit(ref)
            visiting.discard(name)
            order.append(name)

        for name in sorted(self.exports):
            visit(name)
        return order
