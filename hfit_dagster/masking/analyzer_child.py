"""The text analyzer's process (:mod:`~hfit_dagster.masking.analyzer_process` starts it): the loop that builds the
analyzer of the configuration it is sent and answers each list of texts with the findings, until its request pipe
closes."""

from __future__ import annotations

import io
import os
import pickle
import sys
from typing import Any

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.text_analysis import TextAnalyzer


def _error(exc: BaseException) -> tuple[str, tuple[str, str | None]]:
    """An error for the parent: hfit's own with its message and hint, any other by its type only."""
    if isinstance(exc, MaskingError):
        return "error", (exc.message, exc.hint)
    return "error", (f"text analysis failed in the analyzer process ({type(exc).__name__})", None)


def serve(requests: io.BufferedReader, replies: io.BufferedWriter) -> None:
    """The child's loop: build the analyzer of the configuration read first, say ready (or why not), then answer
    each request, naming it, until the request pipe closes (or the parent is gone: ``watch_parent``)."""
    def reply(message: tuple[int, str, Any]) -> None:
        replies.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        replies.flush()

    try:
        config = pickle.load(requests)
    except (EOFError, pickle.UnpicklingError):
        return  # the parent went away before it sent a whole configuration
    try:
        analyzer = TextAnalyzer(**config)
        analyzer.engine  # noqa: B018 - built and warmed up before the parent's first request
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        reply((0, *_error(exc)))
        return
    reply((0, "ready", None))
    while True:
        try:
            request, texts, batch_size = pickle.load(requests)
        except (EOFError, pickle.UnpicklingError):
            return  # the pipe closed (mid-request when the parent gave up on it): nobody to answer
        try:
            found = analyzer.analyze_many(texts, batch_size)
            reply((request, "ok", [[(r.entity_type, r.start, r.end, r.score) for r in spans] for spans in found]))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            reply((request, *_error(exc)))


def main() -> None:
    """The process's entry (``analyzer_process._CHILD``, which watches the parent first): the pipes' descriptors
    are its first two arguments."""
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    try:
        with os.fdopen(read_fd, "rb") as requests, os.fdopen(write_fd, "wb") as replies:
            serve(requests, replies)
    except (BrokenPipeError, OSError):
        pass  # the parent closed its end: nobody to answer
    os._exit(0)  # nothing of the child's is left to flush: tearing the model down object by object takes time
