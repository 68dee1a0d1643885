"""Checks beyond the schema, for ``hfit pkg-tmpl validate``: what would fail or do nothing at build time.

The schema (``spec.py``, through ``loader.parse_template``) already refuses malformed templates. These
findings need more than the template's own shape, and each names the file and line it is about:

* an unknown masking operator (the registry, ``masking/operators/registry.py``): an error, the build would stop;
* a ``:name`` placeholder no parameter declares: an error, the query would have nothing to bind. Built-in
  parameters (``template/builtins.py``) are not bound into SQL, so a query binds them only when declared;
* a ``schedule.params`` or ``triggers.alerts.params`` key that is neither declared nor built in: an error;
* a declared parameter no query binds: a warning, it is accepted and changes nothing (built-in names are
  exempt: declaring one gives it a default and a description);
* a provider the settings do not configure: an error when providers are configured, a warning when none
  are (this machine cannot tell).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from hfit_dagster.masking.operators.registry import OPERATORS
from hfit_dagster.template.builtins import BUILTINS
from hfit_dagster.template.loader import line_of, parse_template_nodes
from hfit_dagster.template.spec import TemplateSpec

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem of a template, located as ``source:line`` (line 1-based; None when it has no place)."""

    severity: Severity
    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.severity}: {self.field}: {self.message}"


def lint_template(text: str, source: str, providers: Mapping[str, str]) -> tuple[TemplateSpec, list[Finding]]:
    """The validated template and its findings, in file order. Schema errors raise ``TemplateError`` as in
    ``parse_template``; ``providers`` are the configured ones (names upper-case, as in settings)."""
    spec, root = parse_template_nodes(text, source)
    findings = [
        *_operators(spec, root, source),
        *_parameters(spec, root, source),
        *_providers(spec, root, source, providers),
    ]
    return spec, sorted(findings, key=lambda f: (f.line or 0, f.field))


def _operators(spec: TemplateSpec, root: yaml.Node | None, source: str) -> list[Finding]:
    found = []
    for column, operator in spec.masking.items():
        if column in ("default", "comments") or operator in OPERATORS:
            continue
        close = difflib.get_close_matches(operator, OPERATORS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(sorted(OPERATORS))
        found.append(Finding("error", source, line_of(root, ("masking", column)), f"masking.{column}",
                             f"unknown masking operator {operator!r} ({hint})"))
    return found


def _parameters(spec: TemplateSpec, root: yaml.Node | None, source: str) -> list[Finding]:
    found = []
    bound: set[str] = set()
    for export, query in spec.queries().items():
        bound.update(query.params)
        node = _node_at(root, ("exports", export, "query"))
        for name in query.params:
            if name in spec.parameters:
                continue
            why = (f"{name!r} is a built-in parameter, which is not bound into SQL; declare it under "
                   "'parameters:' to use it in a query") if name in BUILTINS else \
                f"placeholder :{name} is not a declared parameter (declare it under 'parameters:')"
            found.append(Finding("error", source, _placeholder_line(node, name) or
                                 line_of(root, ("exports", export, "query")), f"exports.{export}.query", why))
    for name in spec.parameters:
        if name not in bound and name not in BUILTINS:
            found.append(Finding("warning", source, line_of(root, ("parameters", name)), f"parameters.{name}",
                                 "declared but no query binds it (:" + name + "), so it changes nothing"))
    passed: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    if spec.schedule is not None:
        passed.append((("schedule", "params"), spec.schedule.params))
    if spec.triggers is not None and spec.triggers.alerts is not None:
        passed.append((("triggers", "alerts", "params"), spec.triggers.alerts.params))
    for where, params in passed:
        for name in params:
            if name not in spec.parameters and name not in BUILTINS:
                found.append(Finding("error", source, line_of(root, (*where, name)), ".".join((*where, name)),
                                     f"{name!r} is neither a declared nor a built-in parameter"))
    return found


def _providers(spec: TemplateSpec, root: yaml.Node | None, source: str,
               providers: Mapping[str, str]) -> list[Finding]:
    """One finding per provider the settings lack, at its first export (every export names its provider)."""
    configured = {name.upper() for name in providers}
    first_use: dict[str, tuple[str, list[str]]] = {}
    for export, spec_export in spec.exports.items():
        name = spec_export.provider
        if name.upper() not in configured:
            first_use.setdefault(name.upper(), (export, []))[1].append(export)
    found = []
    for name, (export, exports) in first_use.items():
        line = line_of(root, ("exports", export, "provider"))
        used_by = f"read by {', '.join(exports)}"
        if configured:
            found.append(Finding("error", source, line, f"exports.{export}.provider",
                                 f"provider {name!r} ({used_by}) is not configured "
                                 f"(configured: {', '.join(sorted(configured))})"))
        else:
            found.append(Finding("warning", source, line, f"exports.{export}.provider",
                                 f"provider {name!r} ({used_by}) cannot be checked: no providers are configured "
                                 "here (HFIT_PROVIDER_<NAME>_URL or 'providers:' in the config file)"))
    return found


def _node_at(root: yaml.Node | None, loc: tuple[str, ...]) -> yaml.Node | None:
    node = root
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((value for key, value in node.value if key.value == part), None)
    return node


def _placeholder_line(node: yaml.Node | None, name: str) -> int | None:
    """1-based line of the first ``:name`` in a query scalar: exact for block scalars (``|``), the scalar's
    first line for the others (a plain or quoted scalar folds its line breaks)."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    match = re.search(rf"(?<![:\w\\]):{re.escape(name)}(?![:\w.])", node.value)
    if match is None:
        return None
    if node.style in ("|", ">"):
        return node.start_mark.line + 2 + node.value.count("\n", 0, match.start())
    return node.start_mark.line + 1
