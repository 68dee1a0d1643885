"""A reflected source table adapted to the target dialect: its DDL and the type of every column.

DDL is compiled by SQLAlchemy from an adapted copy of each table (types from the dialect), with every identifier
force-quoted by the target's identifier preparer. Names of indexes and constraints are made unique in the
namespace the target gives them and cut to its length limit. Foreign keys to tables outside the package are
left out and reported; indexes the target cannot hold are left out and reported.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable
from sqlalchemy.sql import quoted_name
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_literals import Renderer
from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.defaults import portable_default
from hfit_dagster.package.sql.order import referred_column, referred_table, table_key

_NOT_NULL_PREDICATE = re.compile(r'^\(?\s*[`"\[]?(\w+)[`"\]]?\s+IS\s+NOT\s+NULL\s*\)?$', re.IGNORECASE)


@dataclass
class ColumnPlan:
    name: str
    target: TypeEngine
    target_kind: str
    generated: bool


@dataclass
class TablePlan:
    """One table in the target: its DDL, its columns, and the renderers and INSERT heads made for it so far."""

    name: str
    quoted: str
    columns: dict[str, ColumnPlan]
    ddl: list[str]
    renderers: dict[tuple[str, str], Renderer] = field(default_factory=dict)
    headers: dict[tuple[str, ...], str] = field(default_factory=dict)


class TablePlanner:
    """Plans every table of one script (names are unique across the script, so one planner per script)."""

    def __init__(self, dialect: SqlDialect, *, include_indexes: bool = True) -> None:
        self.dialect = dialect
        self.include_indexes = include_indexes
        self.written: set[str] | None = None
        self.omitted_foreign_keys: list[str] = []
        self.skipped_indexes: list[str] = []
        self.after_data: list[str] = []  # foreign keys and sequence resets that follow the data
        self._plans: dict[str, TablePlan] = {}
        self._schema_names: set[str] = set()  # names that share one namespace per database/schema
        self._created_types: set[str] = set()

    def set_written_tables(self, names: set[str]) -> None:
        self.written = {str(n) for n in names}
        if not self.dialect.index_names_per_table:  # tables and indexes share one namespace
            self._schema_names |= {n.lower() for n in self.written}

    def plan(self, table: sa.Table) -> TablePlan:
        """The table adapted to the target, built once (its DDL, names and reports are fixed then)."""
        plan = self._plans.get(table_key(table))
        if plan is None:
            plan = self._plans[table_key(table)] = self._build(table)
        return plan

    # ------------------------------------------------------------------ names

    def _fit(self, name: str) -> str:
        limit = self.dialect.max_identifier_length
        if len(name) <= limit:
            return name
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a name, not security
        return name[: limit - 9] + "_" + digest

    def _claim(self, name: str | None, scope: set[str]) -> str | None:
        """A constraint/index name unique in `scope` (None stays None: the target names it)."""
        if not name:
            return None
        candidate = self._fit(str(name))
        n = 2
        while candidate.lower() in scope:
            candidate = self._fit(f"{name}_{n}")
            n += 1
        scope.add(candidate.lower())
        return candidate

    # ------------------------------------------------------------------ the table

    def _build(self, source: sa.Table) -> TablePlan:
        dialect = self.dialect
        family = ct.source_family(source)
        same = family == dialect.name
        name = str(source.name)
        pk_names = [str(c.name) for c in source.primary_key.columns]

        unique_sets: list[list[str]] = [pk_names] if pk_names else []
        unique_sets += [[str(c.name) for c in uc.columns] for uc in _unique_constraints(source)]
        unique_sets += [[str(c.name) for c in ix.columns] for ix in source.indexes if ix.unique]
        key_columns = {c for cols in unique_sets for c in cols}
        key_columns |= {str(fk.parent.name) for fk in source.foreign_keys}
        index_columns = {str(c.name) for ix in source.indexes if not ix.unique for c in ix.columns}

        try:
            autoinc = source.autoincrement_column
        except (sa.exc.ArgumentError, sa.exc.CompileError):
            autoinc = None

        infos = {str(c.name): ct.classify(c.type, family) for c in source.columns}
        types: dict[str, TypeEngine] = {}
        for column in source.columns:
            cname = str(column.name)
            role = ct.ROLE_KEY if cname in key_columns else ct.ROLE_INDEX if cname in index_columns else 0
            types[cname] = dialect.column_type(column.type, infos[cname], family, role)
        if not same:
            self._match_foreign_key_types(source, family, types)
            dialect.fit_row(types, key_columns)

        metadata = sa.MetaData()
        target = sa.Table(quoted_name(name, True), metadata, **dialect.table_options(source, same))
        plans: dict[str, ColumnPlan] = {}
        for column in source.columns:
            cname = str(column.name)
            target_type = types[cname]
            is_autoinc = autoinc is not None and column is autoinc and isinstance(target_type, sa.Integer)
            computed = None
            if same and column.computed is not None:
                computed = sa.Computed(column.computed.sqltext, persisted=column.computed.persisted)
            default = None
            if not is_autoinc and computed is None:
                default = self._server_default(column, infos[cname], target_type, same)
            kwargs: dict[str, Any] = {}
            if default is not None:
                kwargs["server_default"] = default
            target.append_column(sa.Column(
                quoted_name(cname, True), target_type, *([computed] if computed is not None else []),
                nullable=bool(column.nullable) and cname not in pk_names,
                autoincrement=is_autoinc,
                comment=column.comment if dialect.keeps_comments else None,
                **kwargs,
            ))
            plans[cname] = ColumnPlan(cname, target_type, ct.classify(target_type, dialect.name).kind,
                                      generated=computed is not None)

        name_scope = set() if dialect.index_names_per_table else self._schema_names
        if pk_names:
            pk_name = self._claim(source.primary_key.name, name_scope) if same and dialect.names_primary_key else None
            target.append_constraint(sa.PrimaryKeyConstraint(
                *[quoted_name(c, True) for c in pk_names], name=_qn(pk_name)))
        for uc in _unique_constraints(source):
            target.append_constraint(sa.UniqueConstraint(
                *[quoted_name(str(c.name), True) for c in uc.columns],
                name=_qn(self._claim(uc.name, name_scope))))

        indexes = self._indexes(source, target, same, name_scope)
        foreign_keys = self._foreign_keys(source, target, family, metadata)

        quoted = dialect.quote_identifier(name)
        statements = dialect.type_statements(target, self._created_types)
        statements.append(dialect.drop_table(quoted))
        inline = dialect.foreign_key_placement == "inline"
        statements.append(dialect.compile(
            CreateTable(target, include_foreign_key_constraints=None if inline else [])).strip())
        statements += [dialect.compile(CreateIndex(ix)) for ix in indexes]
        if not inline:
            fk_ddl = [dialect.compile(AddConstraint(fk)) for fk in foreign_keys]
            if dialect.foreign_key_placement == "after_indexes":
                statements += fk_ddl
            else:
                self.after_data += fk_ddl
        if autoinc is not None:
            self.after_data += dialect.after_data_statements(target, target.c[str(autoinc.name)])

        return TablePlan(name, quoted, plans, statements)

    def _match_foreign_key_types(self, source: sa.Table, family: str, types: dict[str, TypeEngine]) -> None:
        """Across families, an integer foreign key takes its parent's integer type (MySQL insists)."""
        for fk in source.foreign_keys:
            try:
                parent = fk.column
            except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError):
                continue
            child_info = ct.classify(fk.parent.type, family)
            parent_info = ct.classify(parent.type, family)
            if child_info.kind == ct.INT and parent_info.kind == ct.INT:
                types[str(fk.parent.name)] = self.dialect.column_type(parent.type, parent_info, family, ct.ROLE_KEY)

    def _server_default(self, column: sa.Column[Any], info: ct.TypeInfo, target: TypeEngine, same: bool) -> Any:
        server_default = column.server_default
        if server_default is None or isinstance(server_default, sa.Identity) or column.identity is not None:
            return None
        arg = getattr(server_default, "arg", None)
        if arg is None:
            return None
        text = str(arg.text if isinstance(arg, sa.TextClause) else arg).strip()
        if same:
            if "nextval(" in text.lower():
                return None
            return arg if isinstance(arg, sa.TextClause) else sa.literal_column(text)
        return portable_default(text, info, target, self.dialect)

    def _indexes(self, source: sa.Table, target: sa.Table, same: bool, scope: set[str]) -> list[sa.Index]:
        prefix = f"{self.dialect.name}_"
        result: list[sa.Index] = []
        for ix in sorted(source.indexes, key=lambda i: str(i.name or "")):
            if not ix.unique and not self.include_indexes:
                continue
            label = f"{source.name}.{ix.name}"
            exprs = list(ix.expressions)
            columns = [c for c in exprs if isinstance(c, sa.Column)]
            if len(columns) != len(exprs) and not same:
                self.skipped_indexes.append(f"{label}: expression index")
                continue
            kwargs: dict[str, Any] = {}
            where = None
            for key, value in ix.dialect_kwargs.items():
                if key.startswith(prefix) and same:
                    kwargs[key] = value
                elif key.endswith("_where") and value is not None:
                    where = str(value)
            if where is not None and not same:
                if ix.unique and not _NOT_NULL_PREDICATE.match(where.strip()):
                    self.skipped_indexes.append(f"{label}: partial unique index")
                    continue
            if not same:
                reason = self.dialect.adapt_index(bool(ix.unique), [target.c[str(c.name)] for c in columns], kwargs)
                if reason is not None:
                    self.skipped_indexes.append(f"{label}: {reason}")
                    continue
            elements: list[Any] = [
                target.c[str(e.name)] if isinstance(e, sa.Column) else e for e in exprs
            ]
            index_name = self._claim(str(ix.name), scope)
            result.append(sa.Index(_qn(index_name), *elements, unique=bool(ix.unique), _table=target,
                                   **kwargs))
        return result

    def _foreign_keys(self, source: sa.Table, target: sa.Table, family: str,
                      metadata: sa.MetaData) -> list[sa.ForeignKeyConstraint]:
        kept: list[sa.ForeignKeyConstraint] = []
        constraints = sorted(source.foreign_key_constraints,
                             key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))
        for fkc in constraints:
            fullname, parent_name = referred_table(fkc.elements[0])
            child_cols = [str(e.parent.name) for e in fkc.elements]
            parent_cols = [referred_column(e) for e in fkc.elements]
            if self.written is not None and not {parent_name, fullname} & self.written:
                self.omitted_foreign_keys.append(
                    f"{source.name}.{','.join(child_cols)} -> {parent_name}.{','.join(parent_cols)}")
                continue
            if parent_name == str(source.name):
                parent = target
            else:
                found = metadata.tables.get(parent_name)
                parent = found if found is not None else sa.Table(quoted_name(parent_name, True), metadata)
            for col in parent_cols:
                if col not in parent.c:
                    parent.append_column(sa.Column(quoted_name(col, True), sa.Integer()))
            scope = self._schema_names if self.dialect.index_names_per_table else set()
            fk = sa.ForeignKeyConstraint(
                [target.c[c] for c in child_cols], [parent.c[c] for c in parent_cols],
                name=_qn(self._claim(fkc.name, scope)), **self.dialect.foreign_key_options(fkc, family),
            )
            target.append_constraint(fk)
            kept.append(fk)
        return kept


def _unique_constraints(table: sa.Table) -> list[sa.UniqueConstraint]:
    found = [c for c in table.constraints
             if isinstance(c, sa.UniqueConstraint) and not isinstance(c, sa.PrimaryKeyConstraint)]
    return sorted(found, key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))


def _qn(name: str | None) -> Any:
    return quoted_name(name, True) if name else None
