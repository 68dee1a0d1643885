"""Reading ahead: a stream of batches produced by a reader thread while the consumer works on earlier ones."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from hfit_dagster.pipeline.memory import PREFETCH_BATCHES

T = TypeVar("T")


class _End:
    """The end of a prefetched stream (``error`` set when the reader failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(make: Callable[[], Iterator[T]], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """The batches of ``make()``, produced by a reader thread up to ``depth`` batches ahead.

    Why: the socket waits and Arrow's decoding release the GIL, so reading the next batches overlaps
    masking and writing this one. The connection is used by the reader thread only while this iterator
    runs; when it ends (exhausted, failed, or abandoned by the consumer) the thread has closed the result,
    so the connection is free again. A reader error is raised here, in the consumer's thread.
    """
    channel: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        batches = None
        try:
            batches = make()
            for batch in batches:
                if not offer(batch):
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            if batches is not None and hasattr(batches, "close"):
                batches.close()
            offer(_End(exc))
            return
        if batches is not None and hasattr(batches, "close"):
            batches.close()
        offer(_End())

    reader = threading.Thread(target=produce, name="hfit-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = channel.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        reader.join()
