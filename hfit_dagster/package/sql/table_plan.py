"""A reflected source table adapted to the target dialect: its DDL and the type of every column.

DDL is compiled by SQLAlchemy from an adapted copy of each table (types from the dialect), with every identifier
force-quoted by the target's identifier preparer. Names of indexes and constraints are made unique in the
namespace the target gives them and cut to its length limit. Foreign keys to tables outside the package are
left out and reported; indexes the target cannot hold are left out and reported.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, SetColumnComment, SetTableComment
from sqlalchemy.sql import quoted_name
from sqlalchemy.types import TypeEngine

from hfit_dagster.errors import BuildError
from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql import schema_text
from hfit_dagster.package.sql.arrow_literals import Renderer
from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.defaults import portable_default
from hfit_dagster.package.sql.order import referred_column, referred_table, table_key
from hfit_dagster.package.sql.schema_text import structural_name

_NOT_NULL_PREDICATE = re.compile(r'^\(?\s*[`"\[]?(\w+)[`"\]]?\s+IS\s+NOT\s+NULL\s*\)?$', re.IGNORECASE)


# ``sa.Table.info`` keys the pipeline may set on a source table:
EXPORTED_COLUMNS = "hfit_exported_columns"  # the columns the export's query selects (the others are not created)
MASKED_COLUMNS = "hfit_masked_columns"  # columns whose values masking replaces (their DEFAULT is not carried)
# {column: {label: label in the package}}: ENUM/SET labels that are personal data, faked like the column's values
# by masking (the values arrive masked already: only the DDL takes these)
LABEL_FAKES = "hfit_label_fakes"
KEEP_COMMENTS = "hfit_keep_comments"  # the template keeps comments (masking.comments: keep): copied verbatim


@dataclass
class ColumnPlan:
    name: str
    target: TypeEngine
    target_kind: str
    generated: bool
    target_name: str = ""  # the column's name in the target (differs when case-insensitive names collide)
    source: ct.TypeInfo | None = None
    family: str = "generic"
    labels: dict[str, str] | None = None  # ENUM/SET labels replaced in the DDL, applied to the values too
    nullable: bool = True  # the target column takes NULL


@dataclass
class TablePlan:
    """One table in the target: its DDL, its columns, and the renderers and INSERT heads made for it so far."""

    name: str
    quoted: str
    columns: dict[str, ColumnPlan]
    ddl: list[str]
    renderers: dict[tuple[str, str], Renderer] = field(default_factory=dict)
    headers: dict[tuple[str, ...], str] = field(default_factory=dict)
    left_out: frozenset[str] = frozenset()  # source columns the export does not select: not created, not written
    key: tuple[str, ...] = ()  # the primary key's source columns (none when the export leaves one out)


class TablePlanner:
    """Plans every table of one script (names are unique across the script, so one planner per script)."""

    def __init__(self, dialect: SqlDialect, *, include_indexes: bool = True) -> None:
        self.dialect = dialect
        self.include_indexes = include_indexes
        self.written: set[str] | None = None
        self.omitted_foreign_keys: list[str] = []
        self.skipped_indexes: list[str] = []
        self.after_data: list[str] = []  # foreign keys and sequence resets that follow the data
        self.column_notes: dict[str, dict[str, str]] = {}  # table -> column -> how its values are represented
        self.renamed: list[str] = []  # names changed because the target folds letter case
        self._plans: dict[str, TablePlan] = {}
        self._schema_names: set[str] = set()  # names that share one namespace per database/schema
        self._created_types: set[str] = set()
        self._type_labels: dict[str, dict[str, str]] = {}  # PostgreSQL enum type -> {label: label in the package}
        self._table_names: dict[str, str] = {}

    def set_written_tables(self, names: set[str]) -> None:
        self.written = {str(n) for n in names}
        if self.dialect.case_insensitive_tables:
            self._table_names = self._distinct_names(sorted(self.written), "table")
        if not self.dialect.index_names_per_table:  # tables and indexes share one namespace
            self._schema_names |= {n.lower() for n in self.target_table_names()}

    def target_table_names(self) -> set[str]:
        return {self._table_names.get(n, n) for n in self.written or ()}

    def table_name(self, name: str) -> str:
        """A table's name in the target (renamed when the target folds case and another table took it)."""
        return self._table_names.get(name, name)

    def _distinct_names(self, names: list[str], what: str, table: str = "") -> dict[str, str]:
        """Names made distinct ignoring letter case: the first keeps its name, the next get ``_2``, ``_3``."""
        taken: set[str] = set()
        result = {}
        for name in names:
            candidate, n = name, 2
            while candidate.lower() in taken:
                candidate, n = self._fit(f"{name}_{n}"), n + 1
            taken.add(candidate.lower())
            result[name] = candidate
            if candidate != name:
                self.renamed.append(f"{what} {table + '.' if table else ''}{name} -> {candidate}")
        return result

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
        name = self.table_name(str(source.name))
        exported = source.info.get(EXPORTED_COLUMNS)
        kept = [c for c in source.columns if exported is None or str(c.name) in exported]
        left_out = frozenset(str(c.name) for c in source.columns) - {str(c.name) for c in kept}
        pk_names = [str(c.name) for c in source.primary_key.columns]
        if left_out & set(pk_names):
            pk_names = []
        if dialect.case_insensitive_columns:
            names = self._distinct_names([str(c.name) for c in kept], "column", name)
        else:
            names = {str(c.name): str(c.name) for c in kept}

        unique_sets: list[list[str]] = [pk_names] if pk_names else []
        unique_sets += [[str(c.name) for c in uc.columns] for uc in _unique_constraints(source, left_out)]
        unique_sets += [[str(c.name) for c in ix.columns] for ix in source.indexes if ix.unique]
        key_columns = {c for cols in unique_sets for c in cols}
        key_columns |= {str(fk.parent.name) for fk in source.foreign_keys}
        index_columns = {str(c.name) for ix in source.indexes if not ix.unique for c in ix.columns}

        try:
            autoinc = source.autoincrement_column
        except (sa.exc.ArgumentError, sa.exc.CompileError):
            autoinc = None
        if autoinc is not None and str(autoinc.name) in left_out:
            autoinc = None

        infos = {str(c.name): ct.classify(c.type, family) for c in kept}
        types: dict[str, TypeEngine] = {}
        for column in kept:
            cname = str(column.name)
            role = ct.ROLE_KEY if cname in key_columns else ct.ROLE_INDEX if cname in index_columns else 0
            types[cname] = dialect.column_type(column.type, infos[cname], family, role)
        if not same:
            self._match_foreign_key_types(source, family, types, left_out)
            dialect.fit_row(types, key_columns)
        labels: dict[str, dict[str, str]] = {}
        faked = source.info.get(LABEL_FAKES, {})
        for cname, info in infos.items():
            if info.kind not in (ct.ENUM, ct.SET) or not (info.values or cname in faked):
                continue
            # {source label: label in the package}; a masked column's values arrive as the fakes already
            if cname in faked:
                package, values = faked[cname], {}
            else:
                package = schema_text.masked_labels(_label_prefix(source.c[cname]), info.values) or {}
                values = dict(package)
            shared = self._shared_type_labels(source.c[cname], package)
            if shared is not None and shared != package:
                package, values = self._follow_type(f"{name}.{cname}", source.c[cname], info.values, package,
                                                    values, shared)
            if package:
                types[cname] = _relabelled(types[cname], package)
            if values:
                labels[cname] = values

        metadata = sa.MetaData()
        target = sa.Table(quoted_name(name, True), metadata, **dialect.table_options(source, same))
        plans: dict[str, ColumnPlan] = {}
        sequences: list[str] = []  # columns fed by a sequence: the auto-increment one and any other
        for column in kept:
            cname = str(column.name)
            target_type = types[cname]
            is_autoinc = (autoinc is not None and column is autoinc and isinstance(target_type, sa.Integer)
                          and dialect.autoincrement_in_key(_position(pk_names, cname), len(pk_names)))
            computed = None
            if same and column.computed is not None and self._keeps_expression(str(column.computed.sqltext),
                                                                               left_out):
                computed = sa.Computed(column.computed.sqltext, persisted=column.computed.persisted)
            default = None
            identity = None
            if not is_autoinc and computed is None:
                default = self._server_default(column, infos[cname], target_type, same,
                                               masked=cname in source.info.get(MASKED_COLUMNS, ()),
                                               labels=labels.get(cname))
                if same and dialect.identity_columns and _fed_by_sequence(column):
                    identity = sa.Identity(always=False)
                    sequences.append(names[cname])
            if is_autoinc:
                sequences.insert(0, names[cname])
            kwargs: dict[str, Any] = {}
            if default is not None:
                kwargs["server_default"] = default
            if source.info.get(KEEP_COMMENTS) and column.comment:
                kwargs["comment"] = column.comment
            extra = [e for e in (computed, identity) if e is not None]
            nullable = bool(column.nullable)
            if not nullable and family == "mysql" and infos[cname].kind in (ct.DATE, ct.DATETIME):
                nullable = True  # MySQL's zero and invalid dates are read as NULL (docs/fidelity.md)
                self.column_notes.setdefault(str(source.name), {})[cname] = (
                    "nullable: MySQL zero and invalid dates ('0000-00-00', '2024-02-30') are NULL")
            target.append_column(sa.Column(
                quoted_name(names[cname], True), target_type, *extra,
                nullable=nullable and cname not in pk_names,
                autoincrement="auto" if identity is not None else is_autoinc,
                **kwargs,
            ))
            plans[cname] = ColumnPlan(cname, target_type, ct.classify(target_type, dialect.name).kind,
                                      generated=computed is not None, target_name=names[cname],
                                      source=infos[cname], family=family, labels=labels.get(cname),
                                      nullable=nullable and cname not in pk_names)
            note = None if same else dialect.representation_note(infos[cname], target_type)
            if note:
                self.column_notes.setdefault(str(source.name), {})[cname] = note

        name_scope = set() if dialect.index_names_per_table else self._schema_names
        if pk_names:
            pk_name = self._claim(structural_name(name, pk_names, "pkey"), name_scope) \
                if same and dialect.names_primary_key and source.primary_key.name else None
            target.append_constraint(sa.PrimaryKeyConstraint(
                *[quoted_name(names[c], True) for c in pk_names], name=_qn(pk_name)))
        for uc in _unique_constraints(source, left_out):
            target.append_constraint(sa.UniqueConstraint(
                *[quoted_name(names[str(c.name)], True) for c in uc.columns],
                name=_qn(self._claim(structural_name(name, [str(c.name) for c in uc.columns], "key"), name_scope)
                         if uc.name else None)))

        indexes = self._indexes(source, target, same, name_scope, names)
        foreign_keys = self._foreign_keys(source, target, family, metadata, names)

        quoted = dialect.quote_identifier(name)
        statements = dialect.type_statements(target, self._created_types)
        statements.append(dialect.drop_table(quoted))
        inline = dialect.foreign_key_placement == "inline"
        if source.info.get(KEEP_COMMENTS) and source.comment:
            target.comment = source.comment
        statements.append(dialect.compile(
            CreateTable(target, include_foreign_key_constraints=None if inline else [])).strip())
        statements += _comment_statements(dialect, target)
        statements += [dialect.compile(CreateIndex(ix)) for ix in indexes]
        if not inline:
            fk_ddl = [dialect.compile(AddConstraint(fk)) for fk in foreign_keys]
            if dialect.foreign_key_placement == "after_indexes":
                statements += fk_ddl
            else:
                self.after_data += fk_ddl
        for column_name in sequences:
            self.after_data += dialect.after_data_statements(target, target.c[column_name])

        return TablePlan(name, quoted, plans, statements, left_out=left_out, key=tuple(pk_names))

    def _shared_type_labels(self, column: sa.Column[Any], package: dict[str, str]) -> dict[str, str] | None:
        """The labels a PostgreSQL enum type of ``column`` got in the package when an earlier column of it was
        planned (None for the first and for other types); the first one records ``package`` for the type."""
        type_ = column.type
        if not isinstance(type_, postgresql.ENUM) or not type_.name:
            return None
        key = f"{type_.schema or ''}.{type_.name}"
        if key not in self._type_labels:
            self._type_labels[key] = package
            return None
        return self._type_labels[key]

    def _follow_type(self, where: str, column: sa.Column[Any], source_labels: tuple[str, ...],
                     package: dict[str, str], values: dict[str, str],
                     shared: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """A column of a PostgreSQL enum type an earlier column gave other labels in the package: its values follow
        the type's labels when those replace every label this column's replace (no original comes back); else a
        PostgreSQL target, where the type is created once, cannot hold both, and other targets keep the column's
        own labels (each column declares its own ENUM)."""
        if set(package) <= set(shared):
            return shared, {package.get(label, label): shared.get(label, label) for label in source_labels}
        if self.dialect.name == "postgresql":
            raise BuildError(
                f"{where}: labels of the enum type {column.type.name} are masked in this column and kept in another "
                "column of the type, and PostgreSQL creates the type once",
                hint=f"give every column of type {column.type.name} the same masking rule in the template")
        return package, values

    def _match_foreign_key_types(self, source: sa.Table, family: str, types: dict[str, TypeEngine],
                                 left_out: frozenset[str]) -> None:
        """Across families, an integer foreign key takes its parent's integer type (MySQL insists)."""
        for fk in source.foreign_keys:
            if str(fk.parent.name) in left_out:
                continue
            try:
                parent = fk.column
            except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError):
                continue
            child_info = ct.classify(fk.parent.type, family)
            parent_info = ct.classify(parent.type, family)
            if child_info.kind == ct.INT and parent_info.kind == ct.INT:
                types[str(fk.parent.name)] = self.dialect.column_type(parent.type, parent_info, family, ct.ROLE_KEY)

    def _server_default(self, column: sa.Column[Any], info: ct.TypeInfo, target: TypeEngine, same: bool, *,
                        masked: bool, labels: dict[str, str] | None) -> Any:
        """The column's DEFAULT in the target, or None: never a masked column's, nor text holding personal
        data (schema_text); a relabelled ENUM/SET default follows its label."""
        server_default = column.server_default
        if masked or server_default is None or isinstance(server_default, sa.Identity) or column.identity is not None:
            return None
        arg = getattr(server_default, "arg", None)
        if arg is None:
            return None
        text = str(arg.text if isinstance(arg, sa.TextClause) else arg).strip()
        if labels:
            bare = text.strip("'")
            if bare in labels:
                return labels[bare] if not same else sa.literal_column("'" + labels[bare] + "'")
        if schema_text.holds_personal_data(text):
            return None
        if same:
            if "nextval(" in text.lower():
                return None
            return arg if isinstance(arg, sa.TextClause) else sa.literal_column(text)
        return portable_default(text, info, target, self.dialect)

    @staticmethod
    def _keeps_expression(expression: str, left_out: frozenset[str]) -> bool:
        """A generated column keeps its expression when it holds no literal from the source's schema and reads
        no column the export leaves out."""
        if schema_text.expression_has_literal(expression):
            return False
        words = set(re.findall(r"\w+", expression))
        return not (words & left_out)

    def _indexes(self, source: sa.Table, target: sa.Table, same: bool, scope: set[str],
                 names: dict[str, str]) -> list[sa.Index]:
        prefix = f"{self.dialect.name}_"
        result: list[sa.Index] = []
        for ix in sorted(source.indexes, key=lambda i: str(i.name or "")):
            if not ix.unique and not self.include_indexes:
                continue
            if any(isinstance(e, sa.Column) and str(e.name) not in names for e in ix.expressions):
                continue  # over a column the export does not select
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
                reason = self.dialect.adapt_index(bool(ix.unique), [target.c[names[str(c.name)]] for c in columns],
                                                  kwargs)
                if reason is not None:
                    self.skipped_indexes.append(f"{label}: {reason}")
                    continue
            elements: list[Any] = [
                target.c[names[str(e.name)]] if isinstance(e, sa.Column) else e for e in exprs
            ]
            covered = [str(e.name) if isinstance(e, sa.Column) else "expr" for e in exprs]
            index_name = self._claim(structural_name(self.table_name(str(source.name)), covered,
                                                     "key" if ix.unique else "idx"), scope)
            result.append(sa.Index(_qn(index_name), *elements, unique=bool(ix.unique), _table=target,
                                   **kwargs))
        return result

    def _foreign_keys(self, source: sa.Table, target: sa.Table, family: str, metadata: sa.MetaData,
                      names: dict[str, str]) -> list[sa.ForeignKeyConstraint]:
        kept: list[sa.ForeignKeyConstraint] = []
        constraints = sorted(source.foreign_key_constraints,
                             key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))
        for fkc in constraints:
            fullname, parent_name = referred_table(fkc.elements[0])
            child_cols = [str(e.parent.name) for e in fkc.elements]
            parent_cols = [referred_column(e) for e in fkc.elements]
            if any(c not in names for c in child_cols):
                continue  # over a column the export does not select
            if self.written is not None and not {parent_name, fullname} & self.written:
                self.omitted_foreign_keys.append(
                    f"{source.name}.{','.join(child_cols)} -> {parent_name}.{','.join(parent_cols)}")
                continue
            if parent_name == str(source.name):
                parent = target
                parent_cols = [names.get(c, c) for c in parent_cols]
            else:
                parent_name = self.table_name(parent_name)
                found = metadata.tables.get(parent_name)
                parent = found if found is not None else sa.Table(quoted_name(parent_name, True), metadata)
            for col in parent_cols:
                if col not in parent.c:
                    parent.append_column(sa.Column(quoted_name(col, True), sa.Integer()))
            scope = self._schema_names if self.dialect.index_names_per_table else set()
            fk = sa.ForeignKeyConstraint(
                [target.c[names[c]] for c in child_cols], [parent.c[c] for c in parent_cols],
                name=_qn(self._claim(structural_name(self.table_name(str(source.name)), child_cols, "fkey"), scope)
                         if fkc.name else None),
                **self.dialect.foreign_key_options(fkc, family),
            )
            target.append_constraint(fk)
            kept.append(fk)
        return kept


def _unique_constraints(table: sa.Table, left_out: frozenset[str] = frozenset()) -> list[sa.UniqueConstraint]:
    found = [c for c in table.constraints
             if isinstance(c, sa.UniqueConstraint) and not isinstance(c, sa.PrimaryKeyConstraint)
             and not {str(x.name) for x in c.columns} & left_out]
    return sorted(found, key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))


def _qn(name: str | None) -> Any:
    return quoted_name(name, True) if name else None


def _position(key: list[str], name: str) -> int:
    return key.index(name) if name in key else -1


def _fed_by_sequence(column: sa.Column[Any]) -> bool:
    """An identity column, or one whose default takes the next value of a sequence (a SERIAL)."""
    if column.identity is not None:
        return True
    default = column.server_default
    arg = getattr(default, "arg", None) if default is not None else None
    return arg is not None and "nextval(" in str(getattr(arg, "text", arg)).lower()



def _label_prefix(column: sa.Column[Any]) -> str:
    """What a replaced label of ``column`` is named after: the column, or the PostgreSQL enum type when another
    column reflected with it has that type too (one type, one set of labels, whichever column comes first)."""
    type_ = column.type
    if not isinstance(type_, postgresql.ENUM) or not type_.name or column.table.metadata is None:
        return str(column.name)
    users = [c for t in column.table.metadata.tables.values() for c in t.columns
             if isinstance(c.type, postgresql.ENUM) and c.type.name == type_.name and c.type.schema == type_.schema]
    return str(type_.name) if len(users) > 1 else str(column.name)


def _relabelled(type_: TypeEngine, labels: dict[str, str]) -> TypeEngine:
    """An ENUM/SET type with some labels replaced (a copy; other types are returned as they are)."""
    values = getattr(type_, "enums", None)
    attribute = "enums"
    if values is None:
        values, attribute = getattr(type_, "values", None), "values"
    if values is None:
        return type_
    if isinstance(type_, postgresql.ENUM):
        return postgresql.ENUM(*[labels.get(v, v) for v in values], name=type_.name, create_type=False)
    relabelled: Any = copy.copy(type_)
    setattr(relabelled, attribute, type(values)(labels.get(v, v) for v in values))
    return relabelled


def _comment_statements(dialect: SqlDialect, target: sa.Table) -> list[str]:
    """COMMENT ON statements for a target that does not write comments inside CREATE TABLE (PostgreSQL); none
    where comments are inline (MySQL) or unsupported (SQLite)."""
    engine = dialect.sqlalchemy
    if not engine.supports_comments or engine.inline_comments:
        return []
    statements = [dialect.compile(SetTableComment(target))] if target.comment else []
    return statements + [dialect.compile(SetColumnComment(column)) for column in target.columns if column.comment]
