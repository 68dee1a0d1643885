"""Free-text redaction: PII spans that :class:`~hfit_dagster.masking.text_analysis.TextAnalyzer` finds become
fakes of their kind (:mod:`~hfit_dagster.masking.span_fakes`); repeated values are analyzed once and cached, large
batches of distinct texts can be analyzed in worker processes, and a row's own values found in its text become
exactly their columns' fakes (:mod:`~hfit_dagster.masking.row_context`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import known_spans
from hfit_dagster.masking.catalog import SAME_KIND
from hfit_dagster.masking.json_pii import mask_json_values
from hfit_dagster.masking.row_context import Known, Skeleton, find_known_spans, skeleton, splice
from hfit_dagster.masking.span_fakes import Span, fakes_for_spans, merge_spans, with_fakes
from hfit_dagster.masking.text_analysis import TextAnalyzer

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult


@dataclass
class RedactionStats:
    """Counters for logs and the manifest (never values)."""

    values: int = 0
    analyzed: int = 0
    cache_hits: int = 0
    spans: int = 0
    by_entity: dict[str, int] = field(default_factory=dict)

    def count(self, results: Sequence[Sequence[RecognizerResult]]) -> None:
        for found in results:
            self.analyzed += 1
            self.spans += len(found)
            for r in found:
                self.by_entity[r.entity_type] = self.by_entity.get(r.entity_type, 0) + 1


# Below this many distinct texts per call, worker processes cost more than they save.
PARALLEL_MIN_TEXTS = 64

_WORKER: TextRedactor | None = None


def _worker_init(nlp_model: str, extra: list[dict[str, Any]], language: str, threshold: float, key: bytes,
                 free_text_rules: bool = True, ner_where_undecided: bool = True, direct: bool = True) -> None:
    """Build the analyzer once per worker process (spaCy loaded from the installed package, offline)."""
    global _WORKER
    analyzer = TextAnalyzer(nlp_model, extra, language=language, score_threshold=threshold,
                            free_text_rules=free_text_rules, ner_where_undecided=ner_where_undecided, direct=direct)
    analyzer.analyze("warm up")
    _WORKER = TextRedactor(analyzer, key, cache_size=0)


def _worker_spans(texts: list[str]) -> list[list[tuple[int, int, str, float]]]:
    """Merged PII spans per text, as plain tuples (cheap to send back)."""
    assert _WORKER is not None, "worker not initialised"
    return [[(s.start, s.end, s.entity, s.score) for s in merge_spans(found)]
            for found in _WORKER.analyzer.analyze_many(texts)]


_WORD_RUN = re.compile(r"\w(?:.*\w)?", re.DOTALL)


def _word_part(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The part of a detected span's piece (outside a stand-in) from its first to its last word character,
    or None when there is none or it is the possessive "'s" after a name. A lone initial is kept as a
    piece: "Anna K." names K."""
    m = _WORD_RUN.search(text, start, end)
    if m is None:
        return None
    if m.group() in ("s", "S") and m.start() > 0 and text[m.start() - 1] in "'’":
        return None
    return m.start(), m.end()


class _Found:
    """Stand-in for a RecognizerResult when only the entity type travels back from a worker."""

    __slots__ = ("entity_type",)

    def __init__(self, entity_type: str) -> None:
        self.entity_type = entity_type


class TextRedactor:
    """Redacts free text: PERSON, emails, phones, cards, IBANs, ids ... become fakes of the same kind.

    The fakes come from the same operators as structured columns with the same key, so an email that
    appears in ``customers.email`` and inside ``customers.notes`` becomes the same fake in both.

    ``workers`` > 1 analyzes batches of at least ``parallel_min_texts`` distinct texts in that many processes
    (each loads the model once, at first use; results are identical to one process, the in-process path).
    Call :meth:`close` (or use the redactor as a context manager) to stop them; they also stop when the
    redactor is garbage collected.
    """

    def __init__(self, analyzer: TextAnalyzer, key: bytes, cache_size: int = 100_000, workers: int = 1,
                 parallel_min_texts: int = PARALLEL_MIN_TEXTS) -> None:
        if workers < 1:
            raise MaskingError(f"text redaction workers must be at least 1 (got {workers})")
        self.analyzer = analyzer
        self.key = bytes(key)
        self.cache_size = cache_size
        self.workers = workers
        self.parallel_min_texts = parallel_min_texts
        self._span_cache: OrderedDict[str, list[Span]] = OrderedDict()
        self._pool: Any = None
        self._finalizer: Any = None
        self.stats = RedactionStats()

    def __enter__(self) -> TextRedactor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._pool = None

    def redact(self, text: str) -> str:
        """Redact one text."""
        return self.redact_many([text])[0]

    def redact_many(self, values: list[str]) -> list[str]:
        """Redact many texts: repeated and cached values are analyzed once; None/blank pass through."""
        out: list[Any] = list(values)
        at = [i for i, v in enumerate(values) if v is not None and v.strip()]
        self.stats.values += len(at)
        texts = [values[i] for i in at]
        for i, redacted in zip(at, with_fakes(texts, self._spans(texts), self.key, self.analyzer.entity_operators),
                               strict=True):
            out[i] = redacted
        return out

    def mask_json_many(self, values: list[str]) -> list[str]:
        """Mask distinct JSON texts: only their personal leaves are faked (see :mod:`.json_pii`)."""
        return mask_json_values(values, self.key, self.analyzer, self.redact_many)

    def redact_with_row_values(self, values: list[str | None], rows: list[list[Known]]) -> list[str | None]:
        """Redact texts whose row's own values are known (``rows[i]``: (original, fake, operator) triples).

        Each own value found in a text becomes exactly its column's fake; the rest of the text is analyzed
        as a skeleton with stand-ins in their place (see :mod:`row_context`), once per distinct skeleton.
        Texts that name none of their row's values take the plain :meth:`redact_many` path.
        """
        out: list[str | None] = list(values)
        plain: list[int] = []
        with_known = []
        for i, (text, row) in enumerate(zip(values, rows, strict=True)):
            if text is None or not text.strip():
                continue
            known = find_known_spans(text, row) if row else []
            if known:
                with_known.append((i, text, skeleton(text, known)))
            else:
                plain.append(i)
        if plain:
            for i, redacted in zip(plain, self.redact_many([values[i] for i in plain]), strict=True):
                out[i] = redacted
        if not with_known:
            return out
        self.stats.values += len(with_known)
        found_per_text = self._spans([sk.text for _, _, sk in with_known])
        wanted: list[tuple[str, str]] = []
        layouts = [(i, text, self._pieces(text, sk, found, wanted))
                   for (i, text, sk), found in zip(with_known, found_per_text, strict=True)]
        fakes = fakes_for_spans(wanted, self.key, self.analyzer.entity_operators)
        for i, text, pieces in layouts:
            out[i] = splice(text, ((a, b, fake if fake is not None else fakes[index]) for a, b, fake, index in pieces))
        return out

    @staticmethod
    def _pieces(text: str, sk: Skeleton, found: list[Span],
                wanted: list[tuple[str, str]]) -> list[tuple[int, int, str | None, int]]:
        """What replaces what in ``text``: its own values by their fakes (``fake`` set), and each other piece
        of PII the skeleton's analysis found (``fake`` None, ``index`` into ``wanted``, appended here)."""
        pieces: list[tuple[int, int, str | None, int]] = []
        swallowed: set[int] = set()  # known spans inside a detected entity of another kind
        for span in found:
            under = sk.known_under(span.start, span.end)
            if under and any(sk.known[k].operator not in SAME_KIND.get(span.entity, ()) for k in under):
                a, b = sk.to_original_range(span.start, span.end)
                swallowed.update(under)
                pieces.append((a, b, None, len(wanted)))
                wanted.append((span.entity, text[a:b]))
                continue
            for a, b in sk.to_original(span.start, span.end):
                piece = _word_part(text, a, b)
                if piece is not None:
                    pieces.append((*piece, None, len(wanted)))
                    wanted.append((span.entity, text[piece[0] : piece[1]]))
        pieces += [(k.start, k.end, k.fake, -1) for n, k in enumerate(sk.known) if n not in swallowed]
        return sorted(pieces)

    def _names_only_own_values(self, text: str, row: list[Known]) -> bool:
        """Whether redacting ``text`` replaces its row's own values and nothing else."""
        sk = skeleton(text, find_known_spans(text, row))
        wanted: list[tuple[str, str]] = []
        self._pieces(text, sk, self._spans([sk.text])[0], wanted)
        return not wanted

    def redact_rows_in_context(self, texts: Any, context: list[tuple[Any, Any, str]]) -> list[str | None]:
        """:meth:`redact_with_row_values` for Arrow columns: ``texts`` and, per context column, its originals,
        its fakes and its operator (row by row).

        The own values of ASCII rows are located by compiled loops (:mod:`known_spans`); rows with the same
        layout key share a skeleton, so one of them is redacted the Python way to learn whether anything but
        the row's own values gets replaced. Where nothing else does, every row with that key is its text with
        its own values replaced by their fakes, as the loops wrote it; the other rows take the Python path.
        """
        values: list[str | None] = texts.to_pylist()
        found = known_spans.row_context(texts, [c[0] for c in context], [c[1] for c in context])
        out: list[str | None] = list(values)

        def rows_of(indexes: Any) -> list[list[Known]]:
            take = [(orig.take(indexes).to_pylist(), fake.take(indexes).to_pylist()) for orig, fake, _ in context]
            return [[(o[r], f[r], op) for (o, f), (_, _, op) in zip(take, context, strict=True)]
                    for r in range(len(indexes))]

        known = np.flatnonzero(found.status == known_spans.KNOWN)
        python = [int(i) for i in np.flatnonzero(found.status == known_spans.PYTHON)]
        plain = [int(i) for i in np.flatnonzero(found.status == known_spans.NONE)]
        if len(known):
            encoded = found.keys.take(known).dictionary_encode()
            codes = np.asarray(encoded.indices)
            representatives = np.unique(codes, return_index=True)[1]
            rows = rows_of(known[representatives])
            clean = np.array([self._names_only_own_values(values[int(known[r])], row)  # type: ignore[arg-type]
                              for r, row in zip(representatives, rows, strict=True)], dtype=bool)
            done = known[clean[codes]]
            for i, text in zip(done.tolist(), found.replaced.take(done).to_pylist(), strict=True):
                out[i] = text
            self.stats.values += len(done)
            python += known[~clean[codes]].tolist()
        if python:
            python.sort()
            for i, text in zip(python, self.redact_with_row_values([values[i] for i in python],
                                                                   rows_of(np.array(python))), strict=True):
                out[i] = text
        if plain:
            for i, text in zip(plain, self.redact_many([values[i] for i in plain]), strict=True):  # type: ignore[misc]
                out[i] = text
        return out

    def _spans(self, texts: list[str]) -> list[list[Span]]:
        """Merged PII spans per text, each distinct text analyzed once (and remembered): in this process, or
        in ``workers`` processes for many distinct texts."""
        result: list[list[Span] | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        for j, text in enumerate(texts):
            cached = self._span_cache.get(text)
            if cached is not None:
                self._span_cache.move_to_end(text)
                self.stats.cache_hits += 1
                result[j] = cached
            else:
                todo.setdefault(text, []).append(j)
        distinct = list(todo)
        if self.workers > 1 and len(distinct) >= self.parallel_min_texts:
            pool = self._ensure_pool()
            size = max(16, -(-len(distinct) // (self.workers * 4)))
            chunks = [distinct[i : i + size] for i in range(0, len(distinct), size)]
            found = [[Span(*t) for t in spans] for part in pool.map(_worker_spans, chunks) for spans in part]
        else:
            found = [merge_spans(f) if f else [] for f in self.analyzer.analyze_many(distinct)]
        self.stats.count([[_Found(s.entity) for s in spans] for spans in found])  # type: ignore[misc]
        for text, spans in zip(distinct, found, strict=True):
            for j in todo[text]:
                result[j] = spans
            if self.cache_size > 0:
                self._span_cache[text] = spans
                if len(self._span_cache) > self.cache_size:
                    self._span_cache.popitem(last=False)
        return [spans or [] for spans in result]

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing
            import weakref
            from concurrent.futures import ProcessPoolExecutor

            a = self.analyzer
            # spawn, not fork: the parent may hold threads (Dagster) and a loaded model; a fresh
            # interpreter per worker is the portable, safe choice (one model load per worker).
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(a.nlp_model, a.extra_recognizers, a.language, a.score_threshold, self.key,
                          a.free_text_rules, a.ner_where_undecided, a.direct),
            )
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=True, cancel_futures=True)
        return self._pool
