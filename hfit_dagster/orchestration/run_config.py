"""A template's parameters as the typed run config of its tables step: what the launchpad shows and checks.

The config of step ``<template>__tables`` is ``{params: {...}}`` with one field per declared parameter and one
per built-in parameter the template does not declare (``template/builtins.py``):

| hfit type | Dagster config type |
|---|---|
| ``int`` / ``float`` / ``bool`` | ``Int`` / ``Float`` / ``Bool`` |
| ``str`` | ``String``, or an ``Enum`` of the choices when the template lists them |
| ``date`` / ``datetime`` | ``String``, the accepted formats in the description; relative values (``now-30d``) stay
  text and resolve when the run starts, as ``hfit build`` resolves them when it starts |
| ``list[T]`` | an array of ``T``'s config type (``hfit build``'s comma-separated text, split) |

A declared parameter with a default shows it; one without a default that the template requires is required (the
launchpad refuses to launch without it); every other field is optional and may be null. Dagster checks types,
required fields and choices before a run is created; bounds (``min``/``max``) and date formats are in the
description and checked by ``prepare_build`` when the step starts, with the CLI's message.

Beside ``params``, the optional ``sealed_params`` is text only the hfit service writes: the build's parameters
sealed (``sealed_params.py``), because Dagster stores and shows run config as it is and a value may name someone.
When it is set the step builds with the sealed parameters and reads nothing from ``params``, whose required fields
then hold placeholders of their type (``(sealed)``, ``[]``, ``0``, ``false``, an enumeration's first choice) so
that the typed schema, and the launchpad's refusal of a run without a required parameter, stay as they are.
(A selector "``params`` or ``sealed_params``" would say this more strictly, but Dagster then reports a launch
without config as a bare ``<selector>`` instead of naming the missing parameters.)

(No ``from __future__ import annotations``: the config types are Dagster objects built at run time.)
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from hfit_dagster.errors import ParameterError
from hfit_dagster.template.builtins import BUILTINS, prepare_build
from hfit_dagster.template.params import ACCEPTED_FORMATS, coerce, list_items
from hfit_dagster.template.spec import ParamSpec, TemplateSpec

PARAMS_FIELD = "params"
SEALED_FIELD = "sealed_params"
SEALED_TEXT = "(sealed)"  # a required text parameter's placeholder in the params of a run with sealed_params
_TEXT_TYPES = ("str", "date", "datetime")
_SCALARS: dict[str, Any] = {"int": dg.Int, "float": dg.Float, "bool": dg.Bool, "str": dg.String,
                            "date": dg.String, "datetime": dg.String}


def _item_type(pspec: ParamSpec) -> str:
    return pspec.type[5:-1] if pspec.type.startswith("list[") else pspec.type


def _config_type(template: str, name: str, pspec: ParamSpec) -> Any:
    item = _item_type(pspec)
    scalar = _SCALARS[item]
    if item == "str" and pspec.choices and all(isinstance(c, str) for c in pspec.choices):
        # the key of a config type is global in a code location: named after the template's job and parameter
        scalar = dg.Enum(f"{template}__{name}", [dg.EnumValue(c) for c in pspec.choices])
    return dg.Array(scalar) if item != pspec.type else scalar


def _number(value: float) -> str:
    """1 → "1", 0.000001 → "0.000001" (no exponent in the launchpad's text)."""
    return f"{value:.12f}".rstrip("0").rstrip(".")


def _description(pspec: ParamSpec, builtin: bool) -> str:
    """The template's description, then the constraints the config type cannot express."""
    parts = [pspec.description.strip().rstrip(".")] if pspec.description.strip() else []
    if builtin:
        parts.append("built-in parameter (every template accepts it)")
    if pspec.type.startswith("list["):
        parts.append(f"a list of {_item_type(pspec)} (hfit build: comma-separated)")
    if pspec.min is not None:
        parts.append(f"at least {_number(pspec.min)}")
    if pspec.max is not None:
        parts.append(f"at most {_number(pspec.max)}")
    if pspec.choices is not None:
        parts.append("one of " + ", ".join(str(c) for c in pspec.choices))
    if _item_type(pspec) in ACCEPTED_FORMATS:
        parts.append(f"{_item_type(pspec)}: {ACCEPTED_FORMATS[_item_type(pspec)]}")
    if builtin and pspec.default is not None:
        parts.append(f"default {str(pspec.default).lower() if isinstance(pspec.default, bool) else pspec.default}")
    return "; ".join(parts) + "."


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def config_value(name: str, pspec: ParamSpec, value: Any) -> Any:
    """A parameter's value (``hfit build`` text, or a YAML value) as its config type holds it.

    Numbers and flags are parsed as the CLI parses them; text, dates and date-times stay text, so relative
    ones resolve when the run starts. Lossless: ``prepare_build`` reads the result as it reads the text.
    """
    if _item_type(pspec) not in _TEXT_TYPES:
        return coerce(name, pspec, value, now=datetime.now(UTC).replace(tzinfo=None))
    if pspec.type.startswith("list["):
        return [_text(item) for item in list_items(value)]
    return _text(value)


def _field(template: str, name: str, pspec: ParamSpec, *, builtin: bool) -> dg.Field:
    config_type = _config_type(template, name, pspec)
    description = _description(pspec, builtin)
    if not builtin and pspec.default is not None:
        try:
            default = config_value(name, pspec, pspec.default)
        except ParameterError:
            # a default the parser refuses: the field stays optional and the step reports the CLI's error
            return dg.Field(dg.Noneable(config_type), is_required=False, description=description)
        return dg.Field(config_type, default_value=default, description=description)
    if not builtin and _is_required(pspec):
        return dg.Field(config_type, is_required=True, description=description)
    return dg.Field(dg.Noneable(config_type), is_required=False, description=description)


def tables_config_schema(spec: TemplateSpec, config_key: str) -> dict[str, dg.Field]:
    """The tables step's config schema: ``params`` with a field per declared, then per built-in, parameter."""
    fields = {name: _field(config_key, name, pspec, builtin=False) for name, pspec in spec.parameters.items()}
    fields.update({name: _field(config_key, name, pspec, builtin=True) for name, pspec in BUILTINS.items()
                   if name not in spec.parameters})
    return {PARAMS_FIELD: dg.Field(fields, description=f"Build parameters of template {spec.name}, "
                                                       "as `hfit build` takes them"),
            SEALED_FIELD: dg.Field(dg.Noneable(dg.String), is_required=False, default_value=None,
                                   description="Set by the hfit service, never by hand: the build's parameters "
                                               "sealed with a key derived from the masking key. When set, the step "
                                               "builds with them and ignores params (placeholders).")}


def _is_required(pspec: ParamSpec) -> bool:
    """What ``_field`` makes a required config field: a declared parameter the template requires, without default."""
    return pspec.default is None and pspec.is_required


def _placeholder(pspec: ParamSpec) -> Any:
    """A value of the parameter's config type that says nothing: what a required field holds beside sealed_params."""
    if pspec.type.startswith("list["):
        return []
    if pspec.type == "str" and pspec.choices and all(isinstance(c, str) for c in pspec.choices):
        return pspec.choices[0]
    return {"int": 0, "float": 0.0, "bool": False}.get(pspec.type, SEALED_TEXT)


def sealed_config(spec: TemplateSpec, params: Mapping[str, Any], sealed: str) -> dict[str, Any]:
    """The tables step's config of a run whose parameters are ``sealed`` (``sealed_params.seal_params`` of
    ``params``): checked first as ``hfit build`` checks them, so an unknown, missing or malformed parameter raises
    the CLI's ParameterError; ``params`` holds placeholders for the required fields only."""
    prepare_build(spec, dict(params))
    placeholders = {name: _placeholder(pspec) for name, pspec in spec.parameters.items() if _is_required(pspec)}
    return {PARAMS_FIELD: placeholders, SEALED_FIELD: sealed}


def params_config(spec: TemplateSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` (``hfit build NAME key=value`` strings) as values of the typed config.

    Checked first as ``hfit build`` checks them (``prepare_build``), so an unknown, missing or malformed
    parameter raises the CLI's ParameterError.
    """
    prepare_build(spec, dict(params))
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or (name not in spec.parameters and value == ""):
            continue  # an empty built-in means "not given", as prepare_build reads it
        out[name] = config_value(name, spec.parameters.get(name) or BUILTINS[name], value)
    return out


def params_from_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """The typed config back as ``prepare_build``'s input: the parameters that have a value."""
    return {name: value for name, value in values.items() if value is not None}
