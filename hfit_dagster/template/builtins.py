"""Parameters every template accepts without declaring them, applied by rewriting the template for one build.

| parameter | effect |
|---|---|
| ``row_limit`` | at most this many rows per export (parents and children come on top) |
| ``sample_rate`` | keep a deterministic share (0 < r ≤ 1) of every export's rows |
| ``table_size_factor`` | scale every export's row count by this factor (a deterministic sample) |
| ``start_date``/``end_date`` | rows of exports that name a ``time_column`` within these dates (end inclusive) |
| ``start_time``/``end_time`` | the same with date-times (inclusive) |
| ``include_indexes`` | secondary indexes in the DDL (default true) |
| ``debug_mode`` | compiled queries, bound parameters' names and types, timings in the manifest (never a value) |

A template that declares a parameter of the same name keeps its own meaning for it. The rewrite never
formats a value into SQL: a time window wraps the export's query as a derived table filtered by bound
parameters (the column is a validated identifier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hfit_dagster.errors import ParameterError
from hfit_dagster.template.params import coerce, resolve_params
from hfit_dagster.template.spec import ExportSpec, ParamSpec, TemplateSpec

BUILTINS: dict[str, ParamSpec] = {
    "row_limit": ParamSpec(type="int", min=1, description="at most this many rows per export"),
    "sample_rate": ParamSpec(type="float", min=0.000001, max=1, description="deterministic share of rows"),
    "table_size_factor": ParamSpec(type="float", min=0.000001, max=1, description="scale every export"),
    "start_date": ParamSpec(type="date", description="first day (exports with a time_column)"),
    "end_date": ParamSpec(type="date", description="last day, inclusive"),
    "start_time": ParamSpec(type="datetime", description="window start (exports with a time_column)"),
    "end_time": ParamSpec(type="datetime", description="window end, inclusive"),
    "include_indexes": ParamSpec(type="bool", default=True, description="secondary indexes in the DDL"),
    "debug_mode": ParamSpec(type="bool", default=False, description="compiled queries and timings in manifest"),
}
WINDOW_PARAMS = ("start_date", "end_date", "start_time", "end_time")
_LOWER, _UPPER, _UPPER_EXCLUSIVE = "hfit_window_from", "hfit_window_to", "hfit_window_before"


@dataclass(frozen=True)
class PreparedBuild:
    """A template rewritten for one build, its resolved parameters, and the build options."""

    spec: TemplateSpec
    params: dict[str, Any]
    user_params: dict[str, Any]
    include_indexes: bool = True
    debug: bool = False
    template_hash: str = ""
    applied: dict[str, Any] = field(default_factory=dict)


def accepted_parameters(spec: TemplateSpec) -> list[str]:
    return sorted(set(spec.parameters) | set(BUILTINS))


def prepare_build(spec: TemplateSpec, raw: dict[str, Any], *, now: datetime | None = None) -> PreparedBuild:
    """Resolve declared and built-in parameters; rewrite exports for the built-ins that were given."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    unknown = sorted(set(raw) - set(spec.parameters) - set(BUILTINS))
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for template {spec.name!r}; "
            f"accepted: {', '.join(accepted_parameters(spec))}",
        )
    declared_raw = {k: v for k, v in raw.items() if k in spec.parameters}
    builtin_raw = {k: v for k, v in raw.items() if k in BUILTINS and k not in spec.parameters}
    builtins = {name: coerce(name, BUILTINS[name], value, now=now) for name, value in builtin_raw.items()
                if value is not None and value != ""}
    params = resolve_params(spec, declared_raw, now=now)
    rewritten, extra_params = _rewrite(spec, builtins)
    include_indexes = builtins.get("include_indexes", True)
    debug = builtins.get("debug_mode", False)
    user_params = {**params, **builtins}
    return PreparedBuild(spec=rewritten, params={**params, **extra_params}, user_params=user_params,
                         include_indexes=include_indexes, debug=debug, template_hash=spec.content_hash(),
                         applied=builtins)


def _rewrite(spec: TemplateSpec, builtins: dict[str, Any]) -> tuple[TemplateSpec, dict[str, Any]]:
    window = _window(builtins)
    timed = [name for name, e in spec.exports.items() if e.time_column]
    if window and not timed:
        given = ", ".join(k for k in WINDOW_PARAMS if k in builtins)
        raise ParameterError(f"{given}: template {spec.name!r} names no time column, so a time window cannot apply",
                             hint="set 'time_column:' on the exports the window should filter")
    scale = 1.0
    for name in ("sample_rate", "table_size_factor"):
        if name in builtins:
            scale *= float(builtins[name])
    exports: dict[str, ExportSpec] = {}
    for name, export in spec.exports.items():
        changes: dict[str, Any] = {}
        if "row_limit" in builtins:
            limit = int(builtins["row_limit"])
            changes["row_limit"] = min(limit, export.row_limit) if export.row_limit else limit
        if scale < 1.0:
            changes["sample"] = (export.sample or 1.0) * scale
        if window and export.time_column:
            changes["query"] = _windowed(export.query, export.time_column, window)
        exports[name] = export.model_copy(update=changes) if changes else export
    if not builtins:
        return spec, {}
    parameters = dict(spec.parameters)
    extra: dict[str, Any] = {}
    for bind, value in window.items():
        parameters[bind] = ParamSpec(type="datetime", required=False)
        extra[bind] = value
    data = spec.model_dump(by_alias=True)
    data["parameters"] = {k: v.model_dump() for k, v in parameters.items()}
    data["exports"] = {k: v.model_dump() for k, v in exports.items()}
    return TemplateSpec.model_validate(data), extra


def _window(builtins: dict[str, Any]) -> dict[str, datetime]:
    """Bound values of the window: inclusive lower bound, inclusive upper (times) or exclusive (dates)."""
    bounds: dict[str, datetime] = {}
    start = builtins.get("start_time") or builtins.get("start_date")
    if start is not None:
        bounds[_LOWER] = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
    if builtins.get("end_time") is not None:
        bounds[_UPPER] = builtins["end_time"]
    elif builtins.get("end_date") is not None:
        end = builtins["end_date"]
        bounds[_UPPER_EXCLUSIVE] = datetime(end.year, end.month, end.day) + timedelta(days=1)
    if _LOWER in bounds and (bounds.get(_UPPER) or bounds.get(_UPPER_EXCLUSIVE, datetime.max)) < bounds[_LOWER]:
        raise ParameterError("the time window ends before it starts")
    return bounds


def _windowed(query: str, column: str, window: dict[str, datetime]) -> str:
    """``SELECT * FROM (<query>) AS hfit_window WHERE hfit_window.<column> >= :from ...``.

    ``column`` is a validated identifier (letters, digits, underscore), so it is portable unquoted.
    """
    quoted = f"hfit_window.{column}"
    conditions = []
    if _LOWER in window:
        conditions.append(f"{quoted} >= :{_LOWER}")
    if _UPPER in window:
        conditions.append(f"{quoted} <= :{_UPPER}")
    if _UPPER_EXCLUSIVE in window:
        conditions.append(f"{quoted} < :{_UPPER_EXCLUSIVE}")
    inner = query.strip().rstrip(";")
    # composed from the template author's validated query and a validated identifier; values stay bound
    # the query on lines of its own: a trailing -- comment in the template must not swallow the wrapper
    return f"SELECT * FROM (\n{inner}\n) AS hfit_window WHERE " + " AND ".join(conditions)  # noqa: S608


def debug_details(prepared: PreparedBuild, timings: dict[str, float]) -> dict[str, Any]:
    """What ``debug_mode=true`` adds to the manifest: compiled queries, bound parameters, timings; never data.

    A parameter's value may name someone (``contact=<email>``) and the manifest travels with the package, whose
    ``params`` keep such values as keyed digests: the compiled queries show their bind placeholders (``:contact``)
    and ``bound_parameters`` the name and type of each value bound, never the value. The built-in knobs applied
    (``row_limit``, a time window) select no one and stay readable, as in the manifest's ``params``.
    """
    if not prepared.debug:
        return {}
    queries = prepared.spec.queries()
    return {
        "debug": {
            "compiled_queries": {name: {"sql": q.sql, "binds": q.bind_names()} for name, q in queries.items()},
            "bound_parameters": {name: _bound_type(prepared.spec, name, value)
                                 for name, value in prepared.params.items()},
            "export_order": prepared.spec.export_order(),
            "built_in_parameters": {k: str(v) for k, v in prepared.applied.items()},
            "timings_seconds": timings,
        }
    }


def _bound_type(spec: TemplateSpec, name: str, value: Any) -> str:
    """A bound parameter's declared type, ``null`` when no value is bound."""
    return "null" if value is None else spec.parameters[name].type
