"""Template SQL: parsed once, proven to be one read-only SELECT, executed only with bound parameters.

Two kinds of placeholders exist in a template query:

* ``:name`` binds a build parameter (a list parameter expands to ``(v1, v2, ...)`` as bound values);
* ``:export.column`` binds the keys that another export of the same template extracted, e.g.
  ``WHERE customer_id IN :customers.id``. It makes the referenced export an upstream dependency.

Both become SQLAlchemy bind parameters. Nothing from a user is ever formatted into SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlalchemy import TextClause, bindparam, text
from sqlglot import exp

from hfit_dagster.errors import QueryRefused

# Same rule SQLAlchemy's text() uses for ":name", extended with an optional ".column" for references.
_PLACEHOLDER = re.compile(r"(?<![:\w\\]):([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(?![:\w])")

# Functions that wait, lock, read files or change state even inside a SELECT.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "SLEEP", "BENCHMARK", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "IS_FREE_LOCK", "IS_USED_LOCK",
        "LOAD_FILE", "MASTER_POS_WAIT", "SOURCE_POS_WAIT", "WAIT_FOR_EXECUTED_GTID_SET", "SYS_EXEC", "SYS_EVAL",
        "PG_SLEEP", "PG_SLEEP_FOR", "PG_SLEEP_UNTIL", "PG_READ_FILE", "PG_READ_BINARY_FILE", "PG_LS_DIR",
        "PG_STAT_FILE", "LO_IMPORT", "LO_EXPORT", "LO_UNLINK", "PG_ADVISORY_LOCK", "PG_ADVISORY_XACT_LOCK",
        "PG_TRY_ADVISORY_LOCK", "PG_TERMINATE_BACKEND", "PG_CANCEL_BACKEND", "PG_RELOAD_CONF", "SET_CONFIG",
        "NEXTVAL", "SETVAL", "DBLINK", "DBLINK_EXEC", "COPY", "LOAD_EXTENSION", "WRITEFILE", "READFILE",
        "EDIT", "FTS3_TOKENIZER",
    }
)
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Into, exp.Lock, exp.Transaction, exp.Commit, exp.Rollback, exp.Set, exp.Use, exp.Grant,
    exp.TruncateTable, exp.LoadData, exp.Pragma, exp.Copy,
)
_READ_DIALECTS = ("mysql", "postgres", "sqlite")


def reference_bind_name(export: str, column: str) -> str:
    return f"ref__{export}__{column}"


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

    def to_clause(self, values: dict[str, Any]) -> TextClause:
        """A TextClause with every placeholder bound; lists (and reference key sets) are expanding binds."""
        binds = []
        for name in self.bind_names():
            value = values[name]
            if isinstance(value, list | tuple | set | frozenset):
                binds.append(bindparam(name, value=list(value), expanding=True))
            else:
                binds.append(bindparam(name, value=value))
        return text(self.sql).bindparams(*binds)


def ensure_read_only_select(sql: str, *, where: str = "query") -> None:
    """Refuse anything but exactly one read-only SELECT (set operations and CTEs allowed)."""
    tree = _parse_single(sql, where)
    root = tree
    if not isinstance(root, exp.Select | exp.Union | exp.Intersect | exp.Except):
        raise QueryRefused(
            f"{where}: only a SELECT is allowed, found {root.key.upper()}",
            hint="templates read data; write a single SELECT statement",
        )
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else (
                "a locking read (FOR UPDATE / LOCK IN SHARE MODE)" if isinstance(node, exp.Lock) else node.key.upper()
            )
            raise QueryRefused(f"{where}: {what} is not allowed in a template query",
                               hint="a template query must be one read-only SELECT")
        if isinstance(node, exp.Func):
            fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).upper()
            if fname in FORBIDDEN_FUNCTIONS:
                raise QueryRefused(f"{where}: function {fname}() is not allowed in a template query",
                                   hint="it waits, locks, reads files or changes state")


def _parse_single(sql: str, where: str) -> exp.Expression:
    last_error: Exception | None = None
    for dialect in _READ_DIALECTS:
        try:
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        except sqlglot.errors.SqlglotError as exc:
            last_error = exc
            continue
        if len(statements) != 1:
            raise QueryRefused(f"{where}: exactly one statement is allowed, found {len(statements)}",
                               hint="remove the extra statements (and any ';' inside the query)")
        return statements[0]
    detail = str(last_error).splitlines()[0] if last_error else "unknown"
    raise QueryRefused(f"{where}: SQL does not parse as a single SELECT ({detail})")
