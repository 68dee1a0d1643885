"""A build whose first export has free text to redact reads its next export while the text analyzer is still being
built: the next query, and the next chunk of its keys, do not wait for the first table's notes (about a second of a
1% subset's wall time)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hfit_dagster.extract.source import stream_query
from hfit_dagster.masking.analyzer_process import AnalyzerProcess
from hfit_dagster.masking.presidio_engine import ENGINE_LOCK
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.pipeline.staging import StageOptions
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


@pytest.fixture(params=[False, True], ids=["analyzer-in-build", "analyzer-process"])
def settings(request: pytest.FixtureRequest, settings: HfitSettings) -> HfitSettings:
    """The analyzer built on a thread of the build and in a process of its own (``analyzer_process``)."""
    return settings.model_copy(update={"analyzer_process": request.param})


@pytest.fixture
def analyzer_held(settings: HfitSettings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``hold(build)``: ``build(held, let_go)`` with the analyzer's build held until ``let_go()``, or
    ``HOLD_AT_MOST_S`` at most: its engine lock taken here, or its process's readiness withheld."""

    def hold(build: Callable[[Callable[[], bool], Callable[[], None]], Any]) -> Any:
        held = threading.Event()
        released = threading.Event()
        if settings.analyzer_process:
            ready = AnalyzerProcess.wait_ready

            def wait_ready(process: AnalyzerProcess) -> None:
                released.wait(HOLD_AT_MOST_S)
                ready(process)

            monkeypatch.setattr(AnalyzerProcess, "wait_ready", wait_ready)
        else:
            ENGINE_LOCK.acquire()
        held.set()

        def let_go() -> None:
            if held.is_set():
                held.clear()
                released.set()
                if not settings.analyzer_process:
                    ENGINE_LOCK.release()

        timer = threading.Timer(HOLD_AT_MOST_S, let_go)
        timer.start()
        try:
            return build(held.is_set, let_go)
        finally:
            timer.cancel()
            let_go()

    return hold


def test_the_next_export_is_queried_while_the_analyzer_is_still_being_built(
        settings: HfitSettings, analyzer_held: Callable[..., Any]) -> None:
    """The analyzer's build is held until the orders export starts: the orders are queried meanwhile and the
    package is complete, its notes redacted once the analyzer is there."""
    orders_while_held: list[bool] = []

    def build(held: Callable[[], bool], let_go: Callable[[], None]) -> Any:
        def progress(message: str) -> None:
            if message == "orders: querying":
                orders_while_held.append(held())
                let_go()

        return build_package(parse_template(TEMPLATE), {}, settings, progress=progress)

    built = analyzer_held(build)
    assert orders_while_held == [True]
    rows = {table.name: table.rows for table in built.manifest.tables}
    assert rows["customers"] == 30 and rows["orders"] > 0
    notes = next(c for t in built.manifest.tables if t.name == "customers" for c in t.columns if c.name == "notes")
    assert notes.masking["operator"] == "redact_text"


def test_the_next_chunk_of_keys_is_queried_while_the_analyzer_is_still_being_built(
        settings: HfitSettings, analyzer_held: Callable[..., Any]) -> None:
    """The orders bind the customers' 30 keys in chunks of 5: the second chunk's query is sent while the first
    chunk's rows wait for the analyzer (held until then), and the package has every order of the 30 customers,
    as with one chunk."""
    whole = build_package(parse_template(TEMPLATE), {}, settings).manifest
    second_chunk_while_held: list[bool] = []

    def build(held: Callable[[], bool], let_go: Callable[[], None]) -> Any:
        orders_runs = 0

        def spying_stream_query(conn: Any, table: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:  # the real query
            nonlocal orders_runs
            if table.name == "orders":
                orders_runs += 1
                if orders_runs == 2:
                    second_chunk_while_held.append(held())
                    let_go()
            return stream_query(conn, table, *args, **kwargs)

        options = StageOptions(reference_chunk=5, read_query=spying_stream_query)
        return build_package(parse_template(TEMPLATE), {}, settings, stage_options=options)

    chunked = analyzer_held(build).manifest
    assert second_chunk_while_held == [True]
    assert [(t.name, t.rows) for t in chunked.tables] == [(t.name, t.rows) for t in whole.tables]
