"""A build whose first export has free text to redact reads its next export while the text analyzer is still being
built: the next query does not wait for the first table's notes (about a second of a 1% subset's wall time)."""

from __future__ import annotations

import threading

from hfit_dagster.masking.presidio_engine import ENGINE_LOCK
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import parse_template

TEMPLATE = """
templateName: notes-then-orders
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers ORDER BY id LIMIT 30
  orders:
    provider: PROD_REPLICA
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
masking:
  customers.notes: redact_text
  customers.email: email
  default: keep
"""
HOLD_AT_MOST_S = 60  # the analyzer is let go by then whatever happens, so a build that waits for it still ends


def test_the_next_export_is_queried_while_the_analyzer_is_still_being_built(settings: HfitSettings) -> None:
    """The analyzer's build is held (its engine lock taken here) until the orders export starts: the orders are
    queried meanwhile and the package is complete, its notes redacted once the analyzer is there."""
    held = threading.Event()
    ENGINE_LOCK.acquire()
    held.set()

    def let_go() -> None:
        if held.is_set():
            held.clear()
            ENGINE_LOCK.release()

    timer = threading.Timer(HOLD_AT_MOST_S, let_go)
    timer.start()
    orders_while_held: list[bool] = []

    def progress(message: str) -> None:
        if message == "orders: querying":
            orders_while_held.append(held.is_set())
            let_go()

    try:
        built = build_package(parse_template(TEMPLATE), {}, settings, progress=progress)
    finally:
        timer.cancel()
        let_go()
    assert orders_while_held == [True]
    rows = {table.name: table.rows for table in built.manifest.tables}
    assert rows["customers"] == 30 and rows["orders"] > 0
    notes = next(c for t in built.manifest.tables if t.name == "customers" for c in t.columns if c.name == "notes")
    assert notes.masking["operator"] == "redact_text"
