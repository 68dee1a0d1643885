"""Which templates an alert triggers, and with which parameters (a time window around it, ids from it)."""

from __future__ import annotations

from typing import Any

from hfit_dagster.alerts.store import StoredAlert
from hfit_dagster.errors import ParameterError
from hfit_dagster.template.durations import parse_duration
from hfit_dagster.template.spec import TemplateSpec


def _lookup(payload: Any, path: str) -> Any:
    """``$.a.b`` (or ``a.b``) in a JSON payload; None when absent."""
    node = payload
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def matches(spec: TemplateSpec, alert: StoredAlert) -> bool:
    trigger = spec.triggers.alerts if spec.triggers else None
    if trigger is None:
        return False
    for key, expected in trigger.match.items():
        value = _lookup(alert.payload, key)
        if value is None and "." not in key:
            value = _lookup(alert.payload.get("labels", {}), key)
        if value is None or str(value) != str(expected):
            return False
    return True


def params_for(spec: TemplateSpec, alert: StoredAlert) -> dict[str, str]:
    """Build parameters (as strings, like ``key=value``) derived from an alert for a matching template."""
    trigger = spec.triggers.alerts if spec.triggers else None
    assert trigger is not None
    params: dict[str, str] = {}
    window = parse_duration(trigger.window)
    try:
        if "start_time" in spec.parameters:
            params["start_time"] = (alert.occurred_at - window).isoformat(sep=" ")
        if "end_time" in spec.parameters:
            params["end_time"] = (alert.occurred_at + window).isoformat(sep=" ")
    except OverflowError:  # the alert's own time at the calendar's edge: refused like a parameter, not a failed tick
        raise ParameterError(f"alert {alert.id}'s time window of {trigger.window} leaves the calendar",
                             hint="send the alert with the time it happened ('at', ISO 8601)") from None
    for name, source in trigger.params.items():
        value = _lookup(alert.payload, source) if source.startswith("$") else source
        if value is None:
            continue
        params[name] = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return params
