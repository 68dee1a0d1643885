"""The leak scan names rows as entities from the tables' keys: a customer's phone in the note of one of their own
tickets is a leak, the same digits in another customer's ticket a collision (a phone fake may be anyone's
number), and two customers of one country are not one entity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import sqlalchemy as sa

from hfit_dagster.masking import ColumnDecision, TableMaskingPlan
from hfit_dagster.pipeline.leak_scan import LeakScan

METADATA = sa.MetaData()
COUNTRIES = sa.Table("countries", METADATA, sa.Column("code", sa.String(2), primary_key=True))
CUSTOMERS = sa.Table("customers", METADATA, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("country", sa.String(2), sa.ForeignKey("countries.code")),
                     sa.Column("phone", sa.String(20)), sa.Column("notes", sa.Text))
TICKETS = sa.Table("tickets", METADATA, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")), sa.Column("body", sa.Text))


def _plan(table: str, operators: dict[str, str]) -> TableMaskingPlan:
    return TableMaskingPlan(table, {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in operators.items()})


CUSTOMER_PLAN = _plan("customers", {"id": "keep", "country": "keep", "phone": "phone", "notes": "redact_text"})
TICKET_PLAN = _plan("tickets", {"id": "keep", "customer_id": "keep", "body": "redact_text"})


def _scan(staged: dict[str, pa.RecordBatch]) -> LeakScan:
    def staged_text(name: str, rows: int, also: Sequence[str],
                    numbers: Sequence[str]) -> Iterator[pa.RecordBatch]:
        yield staged[name]

    scan = LeakScan(staged_text)
    for table in (CUSTOMERS, TICKETS):
        scan.open_table(table)
    return scan


def _customers(notes: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": [5, 6], "country": ["FR", "FR"],
                                       "phone": ["06 12 34 56 78", "07 11 22 33 44"], "notes": notes})


def _judged(ticket_of: int, body: str, customer_notes: list[str | None] | None = None) -> tuple[set[str], dict]:
    original = _customers([None, None])
    staged_customers = _customers(customer_notes or [None, None]).set_column(
        2, "phone", pa.array(["01 98 76 54 32", "02 99 88 77 66"]))
    tickets = pa.RecordBatch.from_pydict({"id": [1], "customer_id": [ticket_of], "body": [body]})
    scan = _scan({"customers": staged_customers, "tickets": tickets})
    scan.collect("customers", CUSTOMER_PLAN, original)
    scan.collect("tickets", TICKET_PLAN, tickets)
    leaks = scan.hits(["customers", "tickets"], lambda _: None)
    scan.close()
    return leaks, dict(scan.collector.collisions)


def test_an_original_in_the_text_of_its_own_childs_row_is_a_leak() -> None:
    leaks, _ = _judged(5, "customer called from 06 12 34 56 78")
    assert leaks == {"customers.phone in tickets.body (same row or entity)"}


def test_the_same_digits_under_another_customer_are_a_collision() -> None:
    leaks, collisions = _judged(6, "customer called from 06 12 34 56 78")
    assert leaks == set() and collisions == {"customers.phone in tickets.body": 1}


def test_customers_sharing_a_parent_are_not_one_entity() -> None:
    """Customer 6's note holds customer 5's number; both are French customers (one parent row), which does not
    make them one entity."""
    leaks, collisions = _judged(6, "no number", customer_notes=[None, "call 06 12 34 56 78"])
    assert leaks == set() and collisions == {"customers.phone in customers.notes": 1}
    own, _ = _judged(6, "no number", customer_notes=["call 06 12 34 56 78", None])
    assert own == {"customers.phone in customers.notes (same row or entity)"}
