"""Template SQL: parsed, proven to be one read-only SELECT over the provider's own tables, run with bound params.

Two kinds of placeholders exist in a template query:

* ``:name`` binds a build parameter (a list parameter expands to ``(v1, v2, ...)`` as bound values);
* ``:export.column`` binds the keys that another export of the same template extracted, e.g.
  ``WHERE customer_id IN :customers.id``. It makes the referenced export an upstream dependency.

Both become SQLAlchemy bind parameters. Nothing from a user is ever formatted into SQL text.

The guard is an allowlist (``template/sql_allowlist.py``): statement shapes, functions and tables that a
read-only SELECT may use. It runs twice. When a template is loaded its source dialect is not known yet, so the
query is checked under every dialect that parses it and refused if any reading of it is refused. When an export
runs, the query is parsed again under the provider's own dialect, checked strictly, and **what runs is the
checked tree rendered back to SQL without comments** (``ExportQuery.sql_for``): code that a server would see
but a parser would not (MariaDB's executable comments, a string whose escaping differs between dialects) is
either refused or never reaches the server. The read-only transaction stays the second wall.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlalchemy import TextClause, bindparam, text
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel
from sqlglot.generator import Generator

from hfit_dagster.errors import QueryRefused
from hfit_dagster.template.sql_allowlist import (
    DIALECTS,
    SYSTEM_SCHEMAS,
    SYSTEM_TABLE_PREFIXES,
    allowed_functions,
    any_dialect_functions,
)

# Same rule SQLAlchemy's text() uses for ":name", extended with an optional ".column" for references.
_PLACEHOLDER = re.compile(r"(?<![:\w\\]):([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(?![:\w])")
# MySQL/MariaDB run the body of /*! ... */ and /*M! ... */; /*+ ... */ carries optimizer hints. Refused wherever
# they appear (a template has no reason to hold one, even inside a string).
_EXECUTABLE_COMMENT = re.compile(r"/\*\s*(?:M?!|\+)", re.IGNORECASE)

_STATEMENT_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.Union, exp.Intersect, exp.Except)
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Into, exp.Lock, exp.Transaction, exp.Commit, exp.Rollback, exp.Set, exp.Use, exp.Grant,
    exp.TruncateTable, exp.LoadData, exp.Pragma, exp.Copy,
)
# User and system variables (@x, @x := 1, @@global.general_log): session state, never fixture data.
_VARIABLE_NODES: tuple[type[exp.Expression], ...] = (exp.Parameter, exp.SessionParameter)
# Operators sqlglot models as functions (AND, OR, ->>, @>, ~, ^, COLLATE): values from their operands only.
_OPERATORS: tuple[type[exp.Expression], ...] = (exp.Connector, exp.Binary)


def reference_bind_name(export: str, column: str) -> str:
    return f"ref__{export}__{column}"


@dataclass(frozen=True)
class TableRef:
    """A table a query reads: its name and the schema (MySQL: database) it names, if any."""

    name: str
    schema: str | None


@dataclass(frozen=True)
class ExportQuery:
    """A template query after validation: SQL with SQLAlchemy bind names, and what it binds."""

    sql: str
    params: tuple[str, ...]
    references: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, query: str, *, where: str = "query") -> ExportQuery:
        params: list[str] = []
        references: list[tuple[str, str]] = []

        def rewrite(match: re.Match[str]) -> str:
            name, column = match.group(1), match.group(2)
            if column is None:
                if name not in params:
                    params.append(name)
                return f":{name}"
            if (name, column) not in references:
                references.append((name, column))
            return f":{reference_bind_name(name, column)}"

        sql = _PLACEHOLDER.sub(rewrite, query.strip().rstrip(";").strip())
        ensure_read_only_select(sql, where=where)
        return cls(sql=sql, params=tuple(params), references=tuple(references))

    def bind_names(self) -> list[str]:
        return list(self.params) + [reference_bind_name(e, c) for e, c in self.references]

    def sql_for(self, dialect: str) -> str:
        """The query checked under ``dialect`` (sqlglot's name) and rendered back to SQL, without comments."""
        return _checked_sql(self.sql, dialect)

    def tables(self, dialect: str) -> tuple[TableRef, ...]:
        """The tables the query reads under ``dialect`` (CTE names left out)."""
        return _checked_tables(self.sql, dialect)

    def to_clause(self, values: dict[str, Any], *, dialect: str | None = None) -> TextClause:
        """A TextClause with every placeholder bound; lists (and reference key sets) are expanding binds.

        With ``dialect`` the statement is the checked rendering for that dialect (``sql_for``).
        """
        binds = []
        for name in self.bind_names():
            value = values[name]
            if isinstance(value, list | tuple | set | frozenset):
                binds.append(bindparam(name, value=list(value), expanding=True))
            else:
                binds.append(bindparam(name, value=value))
        sql = self.sql if dialect is None else self.sql_for(dialect)
        return text(sql).bindparams(*binds)


def ensure_read_only_select(sql: str, *, where: str = "query", dialect: str | None = None) -> None:
    """Refuse anything but one read-only SELECT of allowed functions over non-system tables.

    Without ``dialect``: checked under every dialect that parses ``sql`` (a template before its source is
    known); functions may come from any dialect's list. With ``dialect``: parsed and checked under that one.
    """
    _refuse_executable_comments(sql, where)
    if dialect is not None:
        _check_tree(_parse_single(sql, where, dialect), where, allowed_functions(dialect))
        return
    parsed = 0
    last_error: Exception | None = None
    for candidate in DIALECTS:
        try:
            tree = _parse_single(sql, where, candidate)
        except _Unparsable as exc:
            last_error = exc.cause
            continue
        _check_tree(tree, where, any_dialect_functions())
        parsed += 1
    if not parsed:
        detail = str(last_error).splitlines()[0] if last_error else "unknown"
        raise QueryRefused(f"{where}: SQL does not parse as a single SELECT ({detail})")


class _Unparsable(QueryRefused):
    def __init__(self, where: str, cause: Exception) -> None:
        detail = str(cause).splitlines()[0]
        super().__init__(f"{where}: SQL does not parse as a single SELECT ({detail})")
        self.cause = cause


def _refuse_executable_comments(sql: str, where: str) -> None:
    if _EXECUTABLE_COMMENT.search(sql):
        raise QueryRefused(f"{where}: executable or optimizer-hint comments (/*! */, /*M! */, /*+ */) are not allowed",
                           hint="MySQL and MariaDB run the body of such a comment; write plain SQL")


def _parse_single(sql: str, where: str, dialect: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise _Unparsable(where, exc) from None
    if len(statements) != 1:
        raise QueryRefused(f"{where}: exactly one statement is allowed, found {len(statements)}",
                           hint="remove the extra statements (and any ';' inside the query)")
    return statements[0]


def _check_tree(tree: exp.Expression, where: str, functions: frozenset[str]) -> None:
    if not isinstance(tree, _STATEMENT_ROOTS):
        raise QueryRefused(f"{where}: only a SELECT is allowed, found {tree.key.upper()}",
                           hint="templates read data; write a single SELECT statement")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else (
                "a locking read (FOR UPDATE / LOCK IN SHARE MODE)" if isinstance(node, exp.Lock) else node.key.upper()
            )
            raise QueryRefused(f"{where}: {what} is not allowed in a template query",
                               hint="a template query must be one read-only SELECT")
        if isinstance(node, exp.Placeholder) and not node.this:
            raise QueryRefused(f"{where}: positional placeholders (?) are not allowed",
                               hint="bind template parameters by name (:name)")
        if isinstance(node, _VARIABLE_NODES):
            raise QueryRefused(f"{where}: user and system variables (@name, @@name) are not allowed",
                               hint="pass values as template parameters (:name)")
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise QueryRefused(f"{where}: schema-qualified function calls are not allowed",
                               hint="call built-in functions by their plain name")
        if isinstance(node, exp.Func) and not isinstance(node, _OPERATORS):
            name = function_name(node)
            if name not in functions:
                raise QueryRefused(f"{where}: function {name}() is not allowed in a template query",
                                   hint="template queries may call the built-in functions listed in "
                                        "hfit_dagster/template/sql_allowlist.py (no side effects, no files, "
                                        "no SQL from strings, no server information)")
    for table in _tables(tree):
        _check_table(table, where)


def function_name(node: exp.Func) -> str:
    """sqlglot's canonical name of a function call (its own spelling when sqlglot does not model it)."""
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).upper()


def _tables(tree: exp.Expression) -> list[exp.Table]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found = []
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Func):  # a table function: checked as a function
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        found.append(table)
    return found


def _check_table(table: exp.Table, where: str) -> None:
    if table.args.get("catalog"):
        raise QueryRefused(f"{where}: table {table.sql()} names a catalog; read the provider's own tables",
                           hint="a template reads one provider's database: name its tables without a catalog")
    schema = table.args.get("db")
    if schema is not None and schema.name.lower() in SYSTEM_SCHEMAS:
        raise QueryRefused(f"{where}: table {table.sql()} is in a system schema",
                           hint="system catalogs (information_schema, mysql, pg_catalog, ...) are never exported")
    if table.name.lower().startswith(SYSTEM_TABLE_PREFIXES):
        raise QueryRefused(f"{where}: table {table.name} is a system catalog",
                           hint="system catalogs (pg_*, sqlite_*) are never exported")


@functools.lru_cache(maxsize=256)
def _checked_tree(sql: str, dialect: str) -> exp.Expression:
    ensure_read_only_select(sql, dialect=dialect)
    return _parse_single(sql, "query", dialect)


@functools.cache
def _generator_class(dialect: str) -> type[Generator]:
    """The dialect's SQL generator, writing placeholders as SQLAlchemy bind names (:name) in every dialect."""
    base = Dialect.get_or_raise(dialect).generator_class

    class BindNameGenerator(base):  # type: ignore[misc, valid-type]
        TRANSFORMS = {**base.TRANSFORMS, exp.Placeholder: lambda _self, e: f":{e.name}"}

    return BindNameGenerator


@functools.lru_cache(maxsize=256)
def _checked_sql(sql: str, dialect: str) -> str:
    tree = _checked_tree(sql, dialect)
    generator = _generator_class(dialect)(dialect=dialect, comments=False, unsupported_level=ErrorLevel.RAISE)
    try:
        return generator.generate(tree, copy=True)
    except sqlglot.errors.SqlglotError as exc:
        raise QueryRefused(f"query: cannot render the checked query for {dialect} ({str(exc).splitlines()[0]})",
                           hint="simplify the query to plain SQL the source understands") from None


@functools.lru_cache(maxsize=256)
def _checked_tables(sql: str, dialect: str) -> tuple[TableRef, ...]:
    tree = _checked_tree(sql, dialect)
    refs = {TableRef(name=t.name, schema=(t.args["db"].name if t.args.get("db") else None)) for t in _tables(tree)}
    return tuple(sorted(refs, key=lambda r: (r.schema or "", r.name)))
