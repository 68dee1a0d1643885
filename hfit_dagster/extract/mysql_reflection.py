"""MySQL/MariaDB reflection with identifiers as the server names them.

SQLAlchemy (2.1.9, pinned in requirements.lock) reflects a MySQL table by parsing ``SHOW CREATE TABLE``, and
its parser keeps a backtick inside a name escaped as the statement writes it: a column ```k``ey``` is reflected
as ``k``ey``, which the dialect quotes again as ```k````ey```, a column the server does not know. Every read
of such a table failed (the classification sample first), and the package's DDL would have named other
columns. The parser here unescapes the names of columns, keys, their columns and constraints, as SQLAlchemy's
own parser does for the table's name. Its foreign-key pattern also took a referenced table or column quoted
with a backtick inside, or a local column with a ``)``, for no foreign key at all (a warning, and the build
followed no parent through it): here every name of a foreign key is a quoted identifier with its quotes
doubled inside.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.dialects.mysql.reflection import MySQLTableDefinitionParser, ReflectedState
from sqlalchemy.engine import Engine


class UnescapingParser(MySQLTableDefinitionParser):
    """``SHOW CREATE TABLE`` parsed with every name unescaped (see the module docstring)."""

    def _unescape(self, name: str) -> str:
        return self.preparer._unescape_identifier(name)

    def _prep_regexes(self) -> None:
        super()._prep_regexes()
        quote = re.escape(self.preparer.final_quote)
        name = f"{quote}(?:{quote}{quote}|[^{quote}])+{quote}"
        names = f"{name}(?: *, *{name})*"
        on = "RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT"
        self._re_fk_constraint = re.compile(
            rf"  CONSTRAINT +{quote}(?P<name>(?:{quote}{quote}|[^{quote}])+){quote} +FOREIGN KEY +"
            rf"\((?P<local>{names})\) REFERENCES +(?P<table>{name}(?:\.{name})?) +\((?P<foreign>{names})\)"
            rf"(?: +(?P<match>MATCH \w+))?(?: +ON DELETE (?P<ondelete>{on}))?(?: +ON UPDATE (?P<onupdate>{on}))?",
            re.I | re.UNICODE)

    def _parse_column(self, line: str, state: ReflectedState) -> None:
        before = len(state.columns)
        super()._parse_column(line, state)
        for column in state.columns[before:]:
            column["name"] = self._unescape(column["name"])

    def _parse_keyexprs(self, identifiers: str) -> list[tuple[str, int | None, str]]:
        return [(self._unescape(name), length, modifiers)
                for name, length, modifiers in super()._parse_keyexprs(identifiers)]

    def _parse_constraints(self, line: str) -> Any:
        kind, spec = super()._parse_constraints(line)
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            spec["name"] = self._unescape(spec["name"])
        return kind, spec


def install_unescaping_parser(engine: Engine) -> None:
    """Make ``engine``'s MySQL dialect reflect through :class:`UnescapingParser` (the dialect memoizes its parser
    in its ``__dict__``; the server's version is read before the first reflection, as the dialect's own does)."""
    dialect = engine.dialect
    dialect.__dict__["_tabledef_parser"] = UnescapingParser(dialect, dialect.identifier_preparer)
