"""The order tables load in: parents before children, so that every foreign key finds its row."""

from __future__ import annotations

import sqlalchemy as sa


def table_key(table: sa.Table) -> str:
    return str(table.fullname)


def referred_table(fk: sa.ForeignKey) -> tuple[str, str]:
    """(fullname, name) of the table a foreign key points at, resolved or parsed from its target."""
    try:
        parent = fk.column.table
        return str(parent.fullname), str(parent.name)
    except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError, AttributeError):
        fullname = fk.target_fullname.rsplit(".", 1)[0]
        return fullname, fullname.rsplit(".", 1)[-1]


def referred_column(fk: sa.ForeignKey) -> str:
    try:
        return str(fk.column.name)
    except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError, AttributeError):
        return fk.target_fullname.rsplit(".", 1)[-1]


def tables_in_dependency_order(tables: list[sa.Table]) -> list[sa.Table]:
    """Parents before children (foreign-key order); among tables free to go, the smallest name first.

    A cycle is broken at its smallest-named table, so the order is the same on every run.
    """
    by_key = {table_key(t): t for t in tables}
    by_name = {str(t.name): table_key(t) for t in tables}
    parents: dict[str, set[str]] = {}
    for key, table in by_key.items():
        refs: set[str] = set()
        for fk in table.foreign_keys:
            fullname, name = referred_table(fk)
            parent = fullname if fullname in by_key else by_name.get(name)
            if parent is not None and parent != key:
                refs.add(parent)
        parents[key] = refs

    def sort_key(key: str) -> tuple[str, str]:
        return str(by_key[key].name), key

    def in_cycle(start: str, remaining: set[str]) -> bool:
        seen: set[str] = set()
        stack = [p for p in parents[start] if p in remaining]
        while stack:
            node = stack.pop()
            if node == start:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(p for p in parents[node] if p in remaining)
        return False

    ordered: list[sa.Table] = []
    remaining = set(by_key)
    while remaining:
        ready = [k for k in remaining if not (parents[k] & remaining)]
        if not ready:
            ready = [k for k in remaining if in_cycle(k, remaining)]
        pick = min(ready, key=sort_key)
        ordered.append(by_key[pick])
        remaining.discard(pick)
    return ordered
