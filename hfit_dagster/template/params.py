"""Build parameters: ``key=value`` strings from a user become typed values, or a ParameterError.

Errors name the parameter, the expected type and the accepted parameters; they never echo a value back
beyond a short, printable excerpt, since parameters may hold identifiers from an incident.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hfit_dagster.errors import ParameterError
from hfit_dagster.template.spec import ParamSpec, TemplateSpec

_RELATIVE = re.compile(r"^now(?:\s*([+-])\s*(\d+)\s*([smhdw]))?$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
# what a date or date-time parameter accepts, as the launchpad and the docs say it (parsed by _datetime, _relative)
ACCEPTED_FORMATS = {
    "date": "YYYY-MM-DD, now, now-7d (units s m h d w), last_30_days, last_6_months, last_year",
    "datetime": "YYYY-MM-DD HH:MM[:SS] (ISO 8601; an offset or Z converts to UTC), now, now-30m, now+2h "
                "(units s m h d w), last_7_days, last_6_months, last_year",
}


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x y"]`` → ``{"a": "1", "b": "x y"}``; anything without '=' is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"expected key=value, got {_excerpt(item)!r}",
                                 hint='write parameters as name=value, e.g. start_time="2024-10-15 14:30:00"')
        out[key] = value
    return out


def resolve_params(spec: TemplateSpec, raw: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Typed values for every declared parameter: given ones coerced and checked, the rest defaulted."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    unknown = sorted(set(raw) - set(spec.parameters))
    if unknown:
        accepted = ", ".join(sorted(spec.parameters)) or "none"
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for template "
            f"{spec.name!r}; accepted: {accepted}",
        )
    resolved: dict[str, Any] = {}
    for name, pspec in spec.parameters.items():
        if name in raw and raw[name] is not None:
            resolved[name] = coerce(name, pspec, raw[name], now=now)
        elif pspec.default is not None:
            resolved[name] = coerce(name, pspec, pspec.default, now=now)
        elif pspec.is_required:
            raise ParameterError(f"parameter {name!r} ({pspec.type}) is required by template {spec.name!r}",
                                 hint=f"pass {name}=<{pspec.type}>")
        else:
            resolved[name] = None
    return resolved


def coerce(name: str, pspec: ParamSpec, value: Any, *, now: datetime) -> Any:
    if pspec.type.startswith("list["):
        item_type = pspec.type[5:-1]
        items = list_items(value)
        if not items:
            raise ParameterError(f"parameter {name!r} expects a non-empty {pspec.type} (comma-separated)")
        return [_check(name, pspec, _scalar(name, item_type, item, now)) for item in items]
    return _check(name, pspec, _scalar(name, pspec.type, value, now))


def list_items(value: Any) -> list[Any]:
    """The items of a list parameter: a list as given, or a comma-separated string (empty items dropped)."""
    return list(value) if isinstance(value, list | tuple) else [v for v in str(value).split(",") if v.strip()]


def _scalar(name: str, type_: str, value: Any, now: datetime) -> Any:
    text = value.strip() if isinstance(value, str) else value
    try:
        if type_ == "int":
            if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
                raise ValueError
            return int(text)
        if type_ == "float":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
        if type_ == "str":
            return str(text)
        if type_ == "bool":
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError
        if type_ == "datetime":
            return _datetime(text, now)
        if type_ == "date":
            if isinstance(text, datetime):
                return text.date()
            if isinstance(text, date):
                return text
            relative = _relative(str(text), now)
            return relative.date() if relative else date.fromisoformat(str(text))
    except (ValueError, TypeError, OverflowError):
        pass
    examples = {"int": "42", "float": "0.5", "bool": "true", "date": "2024-10-15 or now-7d",
                "datetime": '"2024-10-15 14:30:00" or now-30m', "str": "text"}
    raise ParameterError(f"parameter {name!r} expects {type_}, got {_excerpt(str(value))!r}",
                         hint=f"for example {name}={examples.get(type_, type_)}")


def _datetime(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    relative = _relative(str(value), now)
    if relative:
        return relative
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


_PERIOD = re.compile(r"^last_(?:(\d+)_)?(day|week|month|year)s?$", re.IGNORECASE)


def _months_back(now: datetime, months: int) -> datetime:
    year, month = divmod(now.year * 12 + (now.month - 1) - months, 12)
    day = min(now.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31,
                        31, 30, 31, 30, 31][month])
    return now.replace(year=year, month=month + 1, day=day)


def _relative(value: str, now: datetime) -> datetime | None:
    """``now``, ``now-30d``, ``now+2h``, and periods: ``last_30_days``, ``last_6_months``, ``last_year``."""
    period = _PERIOD.match(value.strip())
    if period:
        amount, unit = int(period.group(1) or 1), period.group(2).lower()
        if unit == "month":
            return _months_back(now, amount)
        if unit == "year":
            return _months_back(now, 12 * amount)
        return now - timedelta(days=amount * (7 if unit == "week" else 1))
    match = _RELATIVE.match(value.strip())
    if not match:
        return None
    sign, amount, unit = match.groups()
    if not sign:
        return now
    delta = timedelta(**{_UNITS[unit.lower()]: int(amount)})
    return now + delta if sign == "+" else now - delta


def _check(name: str, pspec: ParamSpec, value: Any) -> Any:
    if pspec.choices is not None and value not in pspec.choices:
        raise ParameterError(f"parameter {name!r} must be one of {pspec.choices}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if pspec.min is not None and value < pspec.min:
            raise ParameterError(f"parameter {name!r} must be at least {_num(pspec.min)}")
        if pspec.max is not None and value > pspec.max:
            raise ParameterError(f"parameter {name!r} must be at most {_num(pspec.max)}")
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _excerpt(value: str, limit: int = 40) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in value)
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"
