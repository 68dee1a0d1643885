"""Subset rules that decide which rows of a table belong in a package (pure functions over Arrow/SQL).

* sampling: a row is kept when a keyed hash of its primary key falls under the rate, so the same rows
  are chosen in every run (and a 10% sample is contained in the 20% sample with the same seed); a sample
  applies where the reference chain starts (:func:`samples_at_roots`): an export that binds a sampled
  export's keys takes every row of the kept parents, so a 10% sample of customers gives ~10% of orders and
  ~10% of their items, each order with all its items;
* children with a cap: ``ROW_NUMBER() OVER (PARTITION BY fk ORDER BY pk) <= cap`` over the parents' keys;
* reference chunking: a query binding another export's keys runs once per chunk of keys when its result
  is the union of the per-chunk results (no LIMIT, aggregate, GROUP BY or NOT around the keys; DISTINCT
  is fine because rows are de-duplicated by primary key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from hfit_dagster.masking.vector_prf import prf_u64
from hfit_dagster.template.query import ExportQuery
from hfit_dagster.template.spec import TemplateSpec

REFERENCE_CHUNK = 5_000
_SCALE = float(1 << 64)


def _unit_interval(seed: int, key: tuple[Any, ...]) -> float:
    digest = hashlib.blake2b(repr((seed, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def _integers_kept(ids: np.ndarray, rate: float, seed: int, purpose: str = "sample") -> np.ndarray:
    """Per integer key (``ids`` as uint64): does a ``rate`` sample with ``seed`` keep it (its SipHash, keyed by
    the seed, below ``rate`` of the hash range)."""
    secret = b"hfit-sample-seed:" + str(seed).encode()
    return prf_u64(secret, purpose, ids) < np.uint64(min(int(rate * _SCALE), (1 << 64) - 1))


def sample_mask(batch: pa.RecordBatch, key_columns: Sequence[str], rate: float, seed: int) -> pa.BooleanArray:
    """Which rows of ``batch`` a deterministic ``rate`` sample keeps (keyed by ``key_columns``).

    A single integer key (the usual surrogate id) is hashed vectorized (SipHash keyed by the seed, far
    cheaper than a Python hash per row); other keys per row with blake2b.
    """
    columns = list(key_columns) or list(batch.schema.names)
    if rate >= 1:
        return pa.array(np.ones(batch.num_rows, dtype=bool), type=pa.bool_())
    if len(columns) == 1 and pa.types.is_integer(batch.schema.field(columns[0]).type):
        key = batch.column(columns[0])
        wide = pa.uint64() if pa.types.is_unsigned_integer(key.type) else pa.int64()
        ids = pc.fill_null(key.cast(wide), 0).to_numpy(zero_copy_only=False).view(np.uint64)
        kept = _integers_kept(ids, rate, seed)
        if key.null_count:  # NULL is a key of its own, not 0
            kept[np.asarray(pc.is_null(key))] = _integers_kept(np.zeros(1, dtype=np.uint64), rate, seed,
                                                               "sample-null")[0]
        return pa.array(kept, type=pa.bool_())
    keys = zip(*(batch.column(c).to_pylist() for c in columns), strict=True)
    return pa.array([_unit_interval(seed, key) < rate for key in keys], type=pa.bool_())


#: the widest key range a sample enumerates instead of reading the keys (8 bytes a key hashed, a chunk at a time)
RANGE_SAMPLE_MAX = 1 << 28
_RANGE_CHUNK = 1 << 22


def sampled_in_range(low: int, high: int, rate: float, seed: int) -> np.ndarray:
    """Every integer key from ``low`` to ``high`` that a ``rate`` sample with ``seed`` keeps (the keys
    :func:`sample_mask` keeps, whether a row has them or not), sorted, as int64."""
    kept = []
    for start in range(low, high + 1, _RANGE_CHUNK):
        ids = np.arange(start, min(start + _RANGE_CHUNK, high + 1), dtype=np.int64)
        kept.append(ids[_integers_kept(ids.view(np.uint64), rate, seed)])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def key_range_sample(sql: str, key_column: str, quote: Callable[[str], str]) -> tuple[str, str] | None:
    """``(smallest key SQL, largest key SQL)`` of ``sql`` when a sample of it may enumerate its key range
    instead of reading its keys: a :func:`keys_first_sample` query without a WHERE (every row of one table), whose
    smallest and largest keys the databases read from the primary key's ends. Each statement returns one column
    named as the key."""
    tree = _one_table_select(sql)
    if tree is None or tree.args.get("where") is not None or keys_first_sample(sql, key_column, quote) is None:
        return None
    key = f"hfit_sample.{quote(key_column)}"
    inner = f"(\n{sql}\n) AS hfit_sample"
    return (f"SELECT MIN({key}) AS {quote(key_column)} FROM {inner}",  # noqa: S608
            f"SELECT MAX({key}) AS {quote(key_column)} FROM {inner}")  # noqa: S608


def samples_at_roots(spec: TemplateSpec, queries: dict[str, ExportQuery] | None = None,
                     order: list[str] | None = None) -> TemplateSpec:
    """``spec`` with no sample on an export that binds the keys of a sampled export (directly or through
    others): its rows are already that share, as the rows of the kept parents, and sampling again would
    compound the share (10% of 10% of 10%) and leave kept parents without some of their children.
    ``queries`` and ``order``: ``spec.queries()`` and ``spec.export_order()`` when the caller has them."""
    queries = queries if queries is not None else spec.queries()
    sampled: set[str] = set()
    dropped: dict[str, Any] = {}
    for name in order if order is not None else spec.export_order():
        export = spec.exports[name]
        if any(ref in sampled for ref, _ in queries[name].references):
            sampled.add(name)
            if export.sample is not None:
                dropped[name] = export.model_copy(update={"sample": None})
        elif export.sample is not None:
            sampled.add(name)
    if not dropped:
        return spec
    return spec.model_copy(update={"exports": {**spec.exports, **dropped}})


SAMPLE_KEYS_BIND = "hfit_sample_keys"
KEYS_FIRST_MAX_RATE = 0.2  # above this, one sequential read costs less than the key lookups
# functions whose value changes between two statements of one snapshot: the WHERE is evaluated by the keys
# statement and again by the rows-by-key statement, so it must give the same answer both times
_VOLATILE_FUNCTIONS = frozenset({
    "NOW", "SYSDATE", "CURDATE", "CURTIME", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME",
    "LOCALTIMESTAMP", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "UNIX_TIMESTAMP", "RAND", "RANDOM", "UUID",
    "UUID_SHORT", "GEN_RANDOM_UUID", "CLOCK_TIMESTAMP", "STATEMENT_TIMESTAMP", "TRANSACTION_TIMESTAMP",
    "TIMEOFDAY", "CONNECTION_ID", "LAST_INSERT_ID", "FOUND_ROWS", "ROW_COUNT", "JULIANDAY", "DATETIME",
})
_VOLATILE_NODES = tuple(getattr(exp, name) for name in (
    "Rand", "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "UtcTimestamp", "UtcDate",
    "UtcTime", "Uuid", "Parameter", "SessionParameter", "UnixSeconds") if hasattr(exp, name))


def _limits_or_aggregates(tree: exp.Expression) -> bool:
    """LIMIT/FETCH, GROUP BY/HAVING, aggregates or window functions anywhere: a query whose rows change
    when it runs on part of its input (a chunk of keys, the sampled keys)."""
    return any(isinstance(node, exp.Limit | exp.Fetch | exp.Group | exp.Having | exp.AggFunc | exp.Window)
               for node in tree.walk())


def _volatile(tree: exp.Expression) -> bool:
    """Whether ``tree`` calls a function whose value is not fixed by the snapshot (time, random, session)."""
    for node in tree.walk():
        if isinstance(node, _VOLATILE_NODES):
            return True
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if name.upper() in _VOLATILE_FUNCTIONS:
                return True
    return False


def keys_first_sample(sql: str, key_column: str, quote: Callable[[str], str]) -> tuple[str, str] | None:
    """``(keys SQL, rows-by-key SQL)`` that sample ``sql`` keys first, or None when that is not exact.

    A sample is a keyed hash of each row's primary key, so every key has to be read, but the rows need
    not be: the first statement reads the query's keys only (an index scan), the second the sampled rows
    by key (``:hfit_sample_keys``, bound in chunks; primary-key lookups). Both wrap the template query as
    a derived table, which the databases merge into it, so its WHERE and bound parameters apply unchanged.
    Only for one table without joins, grouping, aggregates, windows, DISTINCT, LIMIT, ORDER BY or functions
    of the clock, chance or session (the WHERE runs twice), selecting the key (``*``, ``t.*`` or the column
    itself): there, keys-then-rows returns exactly the sampled rows, in key order.
    """
    tree = _one_table_select(sql)
    if tree is None:
        return None

    def selects_key(projection: exp.Expression) -> bool:
        return _every_column(projection) or (isinstance(projection, exp.Column) and projection.name == key_column)

    if not any(selects_key(p) for p in tree.expressions):
        return None
    # the validated template SQL as a derived table, an identifier quoted by the dialect, the keys bound
    key = f"hfit_sample.{quote(key_column)}"
    inner = f"(\n{sql}\n) AS hfit_sample"  # on lines of its own: a trailing -- comment in the template ends there
    return (f"SELECT {key} FROM {inner}",  # noqa: S608
            f"SELECT hfit_sample.* FROM {inner} WHERE {key} IN :{SAMPLE_KEYS_BIND}")  # noqa: S608


_KEYS_MARK = "HFIT_KEYS"  # a bound key list, as sqlglot reads it in place of :name
_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")  # a bound parameter's name (not a PostgreSQL :: cast)
# what a table in FROM may carry for its rows read by key to be its rows: its name, an alias, index hints and a
# partition (whose keys are read first); a version (FOR SYSTEM_TIME) or a sample would give other rows
_PLAIN_TABLE_ARGS = frozenset({"this", "db", "catalog", "alias", "hints", "partition"})


def keys_then_rows(sql: str, bind_names: Sequence[str], table: sa.Table, key_column: str,
                   quote: Callable[[str], str]) -> str | None:
    """The statement that reads only the primary keys of ``sql`` (a reference export bound to other exports'
    keys, ``:bind_names``), for reading its rows by primary key from ``table`` afterwards; None when that is
    not exact.

    Why: the orders of 10,000 sampled customers lie on nearly every page of the orders table, read in the order
    of the customer index; where the table and its index do not fit the server's buffer pool, pages are read
    again and again (24,900 page reads for the 9,300 pages of 3M orders, 3.4 s on the bench's MariaDB). The
    keys come from the index alone (3,200 page reads), and the rows read by sorted primary key visit each page
    once (12,100 reads in all, 1.9 s). Exact for the queries :func:`keys_first_sample` takes that select every
    column (``*`` or ``t.*``, nothing else) of ``table`` itself, named as it is (with its database when it has
    one, without when it is the connection's), without a WITH clause (a CTE, a view or another table of the
    same keys would give other values than the table's): on one snapshot the rows of ``table`` with those keys
    are the query's rows, and rows read by key have its columns, as ``*`` has.
    """
    tree = _one_table_select(_keys_marked(sql, bind_names))
    if tree is None or len(tree.expressions) != 1 or tree.args.get("with_") or tree.args.get("with"):
        return None
    source = (tree.args.get("from_") or tree.args.get("from")).this
    if source.name != table.name or source.catalog or source.db != (table.schema or ""):
        return None
    if {key for key, value in source.args.items() if value} - _PLAIN_TABLE_ARGS:  # FOR SYSTEM_TIME, TABLESAMPLE, ...
        return None
    if not _every_column(tree.expressions[0]):
        return None
    return f"SELECT hfit_keys.{quote(key_column)} FROM (\n{sql}\n) AS hfit_keys"  # noqa: S608


def _keys_marked(sql: str, bind_names: Sequence[str]) -> str:
    """``sql`` with each ``:bind_name`` (an IN list of keys, not SQL sqlglot parses) as the column ``(HFIT_KEYS)``."""
    for name in bind_names:
        sql = sql.replace(f":{name}", f"({_KEYS_MARK})")
    return sql


def _every_column(projection: exp.Expression) -> bool:
    """Whether a select-list entry is ``*`` or ``t.*``."""
    return isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                and isinstance(projection.this, exp.Star))


def _one_table_select(sql: str) -> exp.Select | None:
    """``sql`` parsed, when it is one SELECT from one table without joins, grouping, aggregates, windows,
    DISTINCT, LIMIT, ORDER BY, operation modifiers or functions of the clock, chance or session; else None."""
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    if (not isinstance(tree, exp.Select) or tree.args.get("joins") or tree.args.get("order")
            or tree.args.get("distinct") or tree.args.get("operation_modifiers") or _volatile(tree)):
        return None  # operation modifiers (SQL_NO_CACHE, HIGH_PRIORITY, ...): not allowed in a derived table
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    if _limits_or_aggregates(tree):
        return None
    return tree


def child_foreign_key(child: sa.Table, parent: sa.Table, via: str | None) -> sa.ForeignKeyConstraint:
    """The FK of ``child`` that points at ``parent`` (``via`` picks one when there are several)."""
    candidates = [fk for fk in child.foreign_key_constraints if fk.referred_table is parent
                  and (via is None or [e.parent.name for e in fk.elements] == [via])]
    if len(candidates) != 1:
        found = len(candidates)
        raise ValueError(f"table {child.name!r} has {found} foreign keys to {parent.name!r}"
                         + ("; name one with 'via:'" if found > 1 else ""))
    return candidates[0]


def children_statement(child: sa.Table, fk: sa.ForeignKeyConstraint, cap: int | None) -> sa.Select[Any]:
    """Rows of ``child`` whose FK is in the bound ``:keys``; at most ``cap`` per parent (by primary key)."""
    fk_cols = [child.c[e.parent.name] for e in fk.elements]
    key = fk_cols[0] if len(fk_cols) == 1 else sa.tuple_(*fk_cols)
    condition = key.in_(sa.bindparam("keys", expanding=True))
    if cap is None:
        return sa.select(child).where(condition)
    order = list(child.primary_key.columns) or list(child.columns)
    numbered = sa.select(
        child, sa.func.row_number().over(partition_by=fk_cols, order_by=order).label("hfit_rn")
    ).where(condition).subquery("hfit_children")
    return sa.select(*(numbered.c[c.name] for c in child.columns)).where(numbered.c.hfit_rn <= cap)


def chunks_overlap(sql: str, bind_name: str) -> bool:
    """Whether a row of ``sql`` may match several chunks of its ``:bind_name`` keys (see :func:`overlapping`)."""
    return overlapping(keys_connectives(sql, bind_name))


def overlapping(connectives: list[exp.Expression] | None) -> bool:
    """Whether a row of a chunked query may match several chunks of its keys, given :func:`keys_connectives`: an
    OR above the keys' IN (``x IN :k OR y = 1``: a row with ``y = 1`` matches every chunk); under AND only, a
    row's one value of ``x`` lies in one chunk. True for a query that is not chunked at all."""
    return connectives is None or any(isinstance(node, exp.Or) for node in connectives)


def selects_columns(sql: str, columns: Sequence[str], star: Sequence[str]) -> bool:
    """Whether the rows of ``sql`` (one SELECT) have a column of each of ``columns`` (names compared without
    case): a ``*`` or ``t.*`` gives ``star`` (the columns ``SELECT *`` returns from the export's table), a column
    or an alias its own name. False where ``sql`` does not parse as one SELECT."""
    try:
        binds = sorted(set(_BIND.findall(sql)), key=len, reverse=True)  # :ab marked before :a
        tree = sqlglot.parse_one(_keys_marked(sql, binds), read="mysql")
    except sqlglot.errors.SqlglotError:
        return False
    if not isinstance(tree, exp.Select):
        return False
    names: set[str] = set()
    for projection in tree.expressions:
        if _every_column(projection):
            names.update(c.lower() for c in star)
        elif isinstance(projection, exp.Alias | exp.Column):
            names.add(projection.alias_or_name.lower())
    return all(c.lower() in names for c in columns)


def chunkable_reference(sql: str, bind_name: str) -> bool:
    """Whether running ``sql`` per chunk of ``:bind_name`` keys and concatenating gives the same rows (see
    :func:`keys_connectives`)."""
    return keys_connectives(sql, bind_name) is not None


def keys_connectives(sql: str, bind_name: str) -> list[exp.Expression] | None:
    """The ANDs, ORs and parentheses between the keys' ``IN`` and the query's WHERE where running ``sql`` per
    chunk of ``:bind_name`` keys and concatenating gives the same rows; None where it does not.

    Exactly when the keys appear once, as the list of an ``IN``, in the top-level WHERE under nothing but AND,
    OR and parentheses, in a query without LIMIT, grouping or aggregates: the condition is then monotone in the
    keys, and a row matches the whole key set exactly when it matches one chunk. Anything else is bound as one
    ``IN`` list: NOT, ``= FALSE``, ``IS FALSE``, ``IF``/``CASE``, comparisons or XOR of the predicate (a row
    that fails it for one chunk passes it for another), the keys twice (``a IN :k AND b IN :k`` needs a and
    b in one chunk), in the select list (a flag per chunk), a join's ON (an outer join keeps rows either way)
    or a subquery.
    """
    try:
        tree = sqlglot.parse_one(_keys_marked(sql, [bind_name]), read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree, exp.Select) or _limits_or_aggregates(tree):
        return None
    marks = [node for node in tree.walk() if isinstance(node, exp.Column) and node.name.upper() == _KEYS_MARK]
    if len(marks) != 1 or not isinstance(marks[0].parent, exp.In) or marks[0].arg_key != "expressions":
        return None
    connectives: list[exp.Expression] = []
    node = marks[0].parent.parent
    while isinstance(node, exp.And | exp.Or | exp.Paren):
        connectives.append(node)
        node = node.parent
    return connectives if isinstance(node, exp.Where) and node.parent is tree else None
