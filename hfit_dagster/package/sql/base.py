"""The shared base of the target dialects: what each one states about itself, with the common answers.

A dialect class says how its script quotes names and values, which column types it creates, what its DDL holds
(CREATE TABLE, primary key, indexes, foreign keys, defaults) and how a load starts and ends. The script writer
(``writer.py``), the table planner (``table_plan.py``) and the Arrow literals (``arrow_literals.py``) are the same
for every target and ask the dialect; no other module branches on a dialect's name.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.types import NullType, TypeEngine

from hfit_dagster.package.sql.column_types import TypeInfo

ForeignKeyPlacement = Literal["inline", "after_indexes", "after_data"]

REFERENTIAL_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"})


class SqlDialect:
    """A target SQL dialect of the package script; subclasses state what differs."""

    name: ClassVar[str]
    load_command: ClassVar[str]  # how the stock client loads the script (named in its header)
    max_identifier_length: ClassVar[int]
    # The compiled row writer's escaping rule for text (``compiled_rows.MYSQL_ESCAPES`` ...); None sends text
    # through the Arrow path.
    compiled_text_escaping: ClassVar[int | None] = None
    # A quoted string loads into a binary column, and bytes into a text or BIT column, as they are.
    accepts_text_for_bytes: ClassVar[bool] = False
    # Where ``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` goes: inside CREATE TABLE, right after the table's
    # indexes, or after all the data (so cycles and self-references load).
    foreign_key_placement: ClassVar[ForeignKeyPlacement] = "after_data"
    # Index names are unique per table (and constraint names per schema); else index, primary key, unique and
    # table names share one namespace per schema.
    index_names_per_table: ClassVar[bool] = False
    names_primary_key: ClassVar[bool] = True  # a same-family primary key keeps its constraint name
    referential_actions: ClassVar[frozenset[str]] = REFERENTIAL_ACTIONS
    native_arrays: ClassVar[bool] = False  # lists into an array column are array literals (else JSON text)
    # Literals of NaN, +infinity and -infinity floats; None writes NULL.
    non_finite_floats: ClassVar[tuple[str | None, str | None, str | None]] = (None, None, None)
    # A DECIMAL/NUMERIC column holds NaN (and, unbounded, infinities); else such a value is written as NULL, or
    # refused when the column is NOT NULL.
    non_finite_decimals: ClassVar[bool] = True
    # Names that differ only in letter case are the same name here (tables; columns of one table).
    case_insensitive_tables: ClassVar[bool] = False
    case_insensitive_columns: ClassVar[bool] = False
    # The largest statement the stock client and server take with their default settings (None: no limit).
    default_statement_limit: ClassVar[int | None] = None
    # A row whose INSERT passes that limit is written as an INSERT without its large values, then one
    # ``append_statement`` per piece of this many bytes of each (None: never split).
    append_piece_bytes: ClassVar[int | None] = None
    # A number written into a text column goes quoted: a bare literal would pass through a double first.
    quotes_numbers_for_text: ClassVar[bool] = False
    # A column fed by a sequence besides the auto-increment one keeps one (an identity column, same family).
    identity_columns: ClassVar[bool] = False

    def __init__(self) -> None:
        self.sqlalchemy = self.sqlalchemy_dialect()
        self._preparer = self.sqlalchemy.identifier_preparer

    @staticmethod
    def sqlalchemy_dialect() -> Dialect:
        """The SQLAlchemy dialect that compiles this target's DDL and quotes its identifiers."""
        raise NotImplementedError

    # ------------------------------------------------------------------ names

    def quote_identifier(self, name: str) -> str:
        return str(self._preparer.quote_identifier(name))

    def compile(self, element: Any, **kwargs: Any) -> str:
        return str(element.compile(dialect=self.sqlalchemy, **kwargs))

    # ------------------------------------------------------------------ load header and footer

    def load_header(self) -> list[str]:
        """Session settings before the DDL: encoding, time zone, checks off while loading, one transaction."""
        raise NotImplementedError

    def load_footer(self, after_data: list[str]) -> list[str]:
        """Statements after the data (deferred foreign keys, sequence resets), the commit, checks back on."""
        return [statement.rstrip() + ";" for statement in after_data] + ["COMMIT;"]

    # ------------------------------------------------------------------ literals (Arrow path)

    def quote_text(self, arr: pa.Array) -> tuple[pa.Array, int]:
        """String literals of a text column (NULL stays NULL) and how many NUL characters had to be removed."""
        raise NotImplementedError

    def bytes_literals(self, values: list[Any]) -> list[str | None]:
        """Binary literals (None stays None)."""
        raise NotImplementedError

    def booleans_as_keywords(self, target_kind: str) -> bool:
        """Whether a flag into a column of `target_kind` is written TRUE/FALSE (else 1/0)."""
        return False

    def finite_float_text(self, text: pa.Array) -> pa.Array:
        """Arrow's text of finite floats, adjusted where the dialect reads it differently."""
        return text

    def timestamp_suffix(self, target: TypeEngine) -> str:
        """Text after a UTC timestamp literal for a column of type `target`."""
        return ""

    def json_column_text(self, text: pa.Array, target: TypeEngine) -> pa.Array:
        """The text of JSON documents going into a column of `target` (a JSON-like type)."""
        return text

    def bit_literal(self, digits: str) -> str:
        """The literal of a bit string (``digits``: '0' and '1') for a BIT column of this dialect."""
        return "'" + digits + "'"

    def append_statement(self, table: str, column: str, literal: str, where: str) -> str:
        """A statement appending ``literal`` to the value of ``column`` in the row ``where`` selects (names quoted;
        dialects with ``append_piece_bytes``)."""
        raise NotImplementedError

    def array_text(self, value: Any) -> str:
        """The text of a list into an array column (dialects with ``native_arrays``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ column types

    def column_type(self, source: TypeEngine, info: TypeInfo, family: str, role: int) -> TypeEngine:
        """The type a column of `source` (from SQL `family`) gets here; a same-family type is kept exactly,
        so unsigned integers, ENUM, SET, YEAR, BIT, JSON, TEXT sizes and collations survive."""
        if family == self.name and not isinstance(source, NullType):  # unknown to SQLAlchemy: no DDL for it
            return self.same_family_type(source)
        return self.portable_type(info, role)

    def same_family_type(self, source: TypeEngine) -> TypeEngine:
        return source

    def portable_type(self, info: TypeInfo, role: int) -> TypeEngine:
        """The type of a column from another family (``role``: ``column_types.ROLE_*``)."""
        raise NotImplementedError

    def representation_note(self, info: TypeInfo, target: TypeEngine) -> str | None:
        """How a value of a column from another family is represented when this dialect has no such type (for
        the manifest's per-column notes); None when the type is kept."""
        return None

    def autoincrement_in_key(self, position: int, key_columns: int) -> bool:
        """Whether the column at `position` of a primary key of `key_columns` columns may auto-increment."""
        return True

    def fit_row(self, types: dict[str, TypeEngine], key_columns: set[str]) -> None:
        """Adapt the column types of a table from another family so that one row fits the target."""

    # ------------------------------------------------------------------ DDL

    def table_options(self, source: sa.Table, same_family: bool) -> dict[str, Any]:
        """SQLAlchemy table keyword arguments (engine, character set, comment)."""
        return {}

    def drop_table(self, quoted: str) -> str:
        return f"DROP TABLE IF EXISTS {quoted}"

    def type_statements(self, target: sa.Table, created: set[str]) -> list[str]:
        """Statements creating the named types `target` uses and `created` lacks (adds them to it)."""
        return []

    def adapt_index(self, unique: bool, columns: list[sa.Column[Any]], kwargs: dict[str, Any]) -> str | None:
        """Fit an index of a table from another family (may add keyword arguments); the reason to leave
        it out, or None to keep it."""
        return None

    def foreign_key_options(self, constraint: sa.ForeignKeyConstraint, family: str) -> dict[str, Any]:
        """ON DELETE / ON UPDATE actions the target knows (and, same family, what else it keeps)."""
        options: dict[str, Any] = {}
        for option in ("ondelete", "onupdate"):
            action = (getattr(constraint, option) or "").upper()
            if action in self.referential_actions:
                options[option] = action
        return options

    def after_data_statements(self, target: sa.Table, autoincrement: sa.Column[Any]) -> list[str]:
        """Statements after the data for an auto-increment column (e.g. a sequence that continues)."""
        return []

    # ------------------------------------------------------------------ defaults carried across families

    def takes_literal_default(self, target: TypeEngine, kind: str) -> bool:
        return True

    def current_timestamp(self, target: TypeEngine) -> str:
        return "CURRENT_TIMESTAMP"

    def boolean_default(self, flag: bool) -> str:
        return "1" if flag else "0"
