"""Find PII spans in text (column samples, free-text cells, JSON leaves): Presidio, offline, and hfit's own rules.

- **Engine.** Presidio with the spaCy model from an installed package, built once per configuration and process
  (:mod:`~hfit_dagster.masking.presidio_engine`). ``nlp_model`` is an installed spaCy package name, a model
  directory, or ``"regex"`` (pattern recognizers only: no PERSON detection).
- **Batched.** Texts go through ``nlp.pipe`` in batches.
- **Rules beside the model.** hfit's own recognizers (:mod:`hfit_dagster.masking.recognizers`: gazetteers,
  pattern libraries with check digits, cue words, records pasted into text) run on every text after Presidio,
  in regex mode too; ``free_text_rules=False`` leaves Presidio alone (the reference it is measured against).
  With them, the NER model runs only on texts where a capitalised word is left undecided by the gazetteers and
  the rules (``ner_where_undecided``; False runs it on every text, the reference path).
- **Direct** (``direct``, on by default with the rules; :mod:`~hfit_dagster.masking.direct_analysis`): the NER
  model reads only the words around undecided ones, and Presidio's pattern recognizers run without the
  AnalyzerEngine; ``direct=False`` is the engine per text (the engine path, here), the reference.

The entities looked for are the catalog's :data:`~hfit_dagster.masking.catalog.PII_ENTITIES` plus those of
custom recognizers; redaction of what is found is :mod:`~hfit_dagster.masking.text_redactor`'s.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.analyzer_process import AnalyzerProcess, shared_process
from hfit_dagster.masking.catalog import CUSTOM_ENTITY_OPERATORS
from hfit_dagster.masking.direct_analysis import DirectAnalysis
from hfit_dagster.masking.presidio_engine import (
    DEFAULT_NLP_MODEL,
    ENGINE_LOCK,
    REGEX_MODEL,
    build_engine,
    check_model_available,
    clear_engine_cache,
    entities_of,
)
from hfit_dagster.masking.recognizers import find_all
from hfit_dagster.masking.recognizers.names import looks_like_name, main_script, undecided_words

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

# the engine's names callers import from here, with the analyzer
__all__ = ["DEFAULT_NLP_MODEL", "DEFAULT_SCORE_THRESHOLD", "REGEX_MODEL", "RULE_ENTITIES", "TextAnalyzer",
           "clear_engine_cache"]

DEFAULT_SCORE_THRESHOLD = 0.4
# spaCy's default max_length is 1,000,000 chars; longer cells are analyzed in chunks of this size.
_MAX_CHUNK_CHARS = 100_000


def _plausible_ner(text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
    """Presidio's results less the NER guesses that identify no one: a place alone (a city, a country: streets
    with their postcodes are the address rules'), and a "person" with a digit or made of common English words
    only ("Wireless Mouse", "85x84x27 cm", "CHG418686")."""
    main = main_script(text)
    return [r for r in found if r.entity_type != "LOCATION"
            and (r.entity_type != "PERSON" or looks_like_name(text[r.start : r.end], main))]


# entities hfit's own rules find in full (the same numbers, by the same check digits, in more formats), so
# Presidio's recognizers of them are not run beside them
RULE_ENTITIES = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "UK_NINO"})


RECOGNIZER_KEYS = frozenset({"name", "entity", "regex", "score", "operator", "context"})


def _normalize_recognizers(extra: list[dict] | None) -> list[dict[str, Any]]:
    """Validate custom regex recognizers from configuration.

    Each is ``{name, entity, regex, score?, operator?, context?}``. ``operator`` is what a column whose
    sampled values *are* this entity is masked with, and what a span of it in free text becomes; without
    one, columns are hashed and spans become an ``<ENTITY>`` tag (as do ``null``/``fixed`` spans).
    ``context`` words raise the score when they appear just before a match.
    """
    out: list[dict[str, Any]] = []
    for i, spec in enumerate(extra or []):
        label = spec.get("name") if isinstance(spec, dict) else None
        where = f"extra recognizer '{label}'" if label else f"extra recognizer #{i + 1}"
        if not isinstance(spec, dict) or not {"name", "entity", "regex"} <= spec.keys():
            raise MaskingError(
                f"{where} needs name, entity and regex", hint="e.g. {name, entity, regex, score, operator}"
            )
        unknown = set(spec) - RECOGNIZER_KEYS
        if unknown:
            raise MaskingError(f"{where} has unknown keys: {', '.join(sorted(unknown))}",
                               hint="allowed: " + ", ".join(sorted(RECOGNIZER_KEYS)))
        try:
            re.compile(spec["regex"])
        except re.error as exc:
            raise MaskingError(f"{where} has an invalid regex: {exc.msg}") from exc
        score = float(spec.get("score", 0.6))
        if not 0.0 < score <= 1.0:
            raise MaskingError(f"{where} has score {score}; it must be in (0, 1]")
        entity = str(spec["entity"])
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", entity):
            raise MaskingError(f"{where}: entity '{entity}' must be UPPER_SNAKE_CASE, e.g. CUSTOMER_NUMBER")
        operator = spec.get("operator")
        if operator is not None and operator not in CUSTOM_ENTITY_OPERATORS:
            raise MaskingError(f"{where}: operator '{operator}' cannot mask a custom entity",
                               hint="use one of: " + ", ".join(CUSTOM_ENTITY_OPERATORS))
        context = spec.get("context") or []
        if not isinstance(context, list) or not all(isinstance(w, str) for w in context):
            raise MaskingError(f"{where}: context must be a list of words")
        out.append({"name": str(spec["name"]), "entity": entity, "regex": spec["regex"], "score": score,
                    "operator": operator, "context": [w.lower() for w in context]})
    return out


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, chunk) pieces no longer than the spaCy-safe size, cut at whitespace where possible."""
    if len(text) <= _MAX_CHUNK_CHARS:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + _MAX_CHUNK_CHARS, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + _MAX_CHUNK_CHARS // 2, end)
            end = cut if cut > start else end
        pieces.append((start, text[start:end]))
        start = end


class TextAnalyzer:
    """Finds PII spans in text with Presidio, offline, with a configurable (or no) spaCy model.

    Construction is cheap (it only checks that the model exists); the engine is built on first use and
    shared by every TextAnalyzer with the same configuration.
    """

    def __init__(
        self,
        nlp_model: str = DEFAULT_NLP_MODEL,
        extra_recognizers: list[dict] | None = None,
        language: str = "en",
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        free_text_rules: bool = True,
        ner_where_undecided: bool = True,
        direct: bool = True,
        process: bool = False,
    ) -> None:
        check_model_available(nlp_model)
        self.nlp_model = nlp_model
        self.free_text_rules = free_text_rules
        self.ner_where_undecided = ner_where_undecided
        self.direct = direct and free_text_rules
        self._direct: DirectAnalysis | None = None
        self.language = language
        self.score_threshold = score_threshold
        self.extra_recognizers = _normalize_recognizers(extra_recognizers)
        self._recognizers_json = json.dumps(self.extra_recognizers, sort_keys=True)
        self._entities: list[str] | None = None
        self.prepared = threading.Event()  # set once a build started by prepare_in_background has ended
        self._preparing: threading.Thread | None = None  # that build's thread while it runs
        # analysis in a process of its own (analyzer_process): these arguments build the same analyzer there
        self.process: AnalyzerProcess | None = shared_process({
            "nlp_model": nlp_model, "extra_recognizers": self.extra_recognizers, "language": language,
            "score_threshold": score_threshold, "free_text_rules": free_text_rules,
            "ner_where_undecided": ner_where_undecided, "direct": direct}) if process else None

    @property
    def entity_operators(self) -> dict[str, str]:
        """Operator of each custom entity that configures one (its column operator and span fake)."""
        return {r["entity"]: r["operator"] for r in self.extra_recognizers if r.get("operator")}

    def column_operator(self, entity: str) -> str | None:
        """The operator for a column whose values are a custom ``entity`` (``hash`` when not configured)."""
        for r in self.extra_recognizers:
            if r["entity"] == entity:
                return r.get("operator") or "hash"
        return None

    @property
    def uses_nlp(self) -> bool:
        """False in regex mode: no NER, so PERSON and LOCATION are never found."""
        return self.nlp_model != REGEX_MODEL

    @property
    def engine(self) -> AnalyzerEngine:
        """The shared Presidio engine for this configuration (built and warmed up on first access, by one
        thread: whoever asks meanwhile, in this process, waits for it)."""
        if self._preparing is not None and self._preparing is not threading.current_thread():
            self.prepared.wait()  # built and warmed up in the background: nobody uses it beside the warm-up
        with ENGINE_LOCK:  # a thread asking meanwhile waits for that build instead of starting its own
            return build_engine(self.nlp_model, self._recognizers_json, self.language)

    def prepare_in_background(self) -> None:
        """Start building the engine on a thread (importing Presidio and spaCy, loading the model: ~1.3 s),
        or in the analyzer's process, so that work done meanwhile (connecting, reading, structured masking)
        overlaps it. The first use waits for it; a failure there is raised again by that use."""
        if self.process is not None:
            self.process.start()

        def build() -> None:
            try:
                if self.process is not None:
                    self.process.wait_ready()
                else:
                    self.engine  # noqa: B018 - built (and warmed up) for its side effect, the cached engine
            except Exception:  # noqa: BLE001, S110 - the first real use builds again and raises it
                pass
            finally:
                self._preparing = None
                self.prepared.set()

        self._preparing = threading.Thread(target=build, name="hfit-analyzer", daemon=True)
        self._preparing.start()

    @property
    def entities(self) -> list[str]:
        """The entities this analyzer asks Presidio for: personal-data entities the engine supports, plus extras.
        With hfit's rules on, phone numbers, cards, IBANs and UK NINOs are theirs (:data:`RULE_ENTITIES`: phones
        in 50 regions instead of 8, in a fraction of the time; the same check digits), so Presidio is not asked
        for them."""
        if self._entities is None:
            entities = entities_of(self.engine, self._recognizers_json, self.language)
            if self.free_text_rules:
                entities = [e for e in entities if e not in RULE_ENTITIES]
            self._entities = entities
        return self._entities

    def analyze(self, text: str) -> list[RecognizerResult]:
        """PII spans in one text (score >= threshold)."""
        return self.analyze_many([text])[0]

    def _direct_analysis(self) -> DirectAnalysis:
        """The direct path of this configuration (its recognizers sorted out on first use)."""
        if self._direct is None:
            self._direct = DirectAnalysis(self.engine, self.entities, self.language, self.score_threshold,
                                          self.uses_nlp, self.ner_where_undecided)
        return self._direct

    def _nlp_artifacts(self, chunks: list[str], rules: list[list[Any]] | None, batch_size: int) -> list[Any]:
        """Presidio's NLP artifacts per chunk. With ``ner_where_undecided``, the NER model runs only on chunks with
        a capitalised word that is neither a known word or name nor inside a rule's finding (the only words it
        could add a person for: :func:`~hfit_dagster.masking.recognizers.names.undecided_words`); the others
        are only tokenized (what context scoring reads), with no entities."""
        nlp_engine = self.engine.nlp_engine
        if rules is None or not self.ner_where_undecided or not self.uses_nlp:
            return [a for _, a in nlp_engine.process_batch(chunks, language=self.language, batch_size=batch_size)]
        ask = [n for n, chunk in enumerate(chunks) if undecided_words(chunk, rules[n])]
        out: list[Any] = [None] * len(chunks)
        asked = nlp_engine.process_batch([chunks[n] for n in ask], language=self.language, batch_size=batch_size)
        for n, (_, artifacts) in zip(ask, asked, strict=True):
            out[n] = artifacts
        tokenizer = nlp_engine.nlp[self.language].make_doc
        for n, chunk in enumerate(chunks):
            if out[n] is None:
                out[n] = nlp_engine._doc_to_nlp_artifact(tokenizer(chunk), self.language)
        return out

    def analyze_many(self, texts: Sequence[str], batch_size: int = 64) -> list[list[RecognizerResult]]:
        """PII spans for many texts, the NLP part batched through ``nlp.pipe``; then hfit's own rules'
        (:class:`~hfit_dagster.masking.recognizers.Finding`, read like a Presidio result), overlaps and all.
        With ``process``, the analyzer's process answers (the same findings, as
        :class:`~hfit_dagster.masking.analyzer_process.FoundSpan`)."""
        if self.process is not None:
            if self._preparing is not None and self._preparing is not threading.current_thread():
                self.prepared.wait()
            return self.process.analyze_many(list(texts), batch_size)  # type: ignore[return-value]
        engine = self.engine
        entities = self.entities
        pieces = [
            (i, off, chunk) for i, t in enumerate(texts) if t and t.strip() for off, chunk in _chunks(t)
        ]
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        rules = [find_all(chunk) for _, _, chunk in pieces] if self.free_text_rules else None
        if self.direct and rules is not None:
            chunks = [chunk for _, _, chunk in pieces]
            direct = self._direct_analysis().analyze(chunks, rules, batch_size)
            for n, ((i, offset, chunk), found) in enumerate(zip(pieces, direct, strict=True)):
                for r in [*_plausible_ner(chunk, found), *rules[n]]:
                    r.start += offset
                    r.end += offset
                    results[i].append(r)
            return results
        try:
            artifacts = self._nlp_artifacts([chunk for _, _, chunk in pieces], rules, batch_size)
            for n, ((i, offset, chunk), nlp_artifacts) in enumerate(zip(pieces, artifacts, strict=True)):
                found = engine.analyze(
                    text=chunk,
                    language=self.language,
                    entities=entities,
                    score_threshold=self.score_threshold,
                    nlp_artifacts=nlp_artifacts,
                )
                if rules is not None:
                    found = [*_plausible_ner(chunk, found), *rules[n]]
                for r in found:
                    r.start += offset
                    r.end += offset
                results[i].extend(found)
        finally:
            forget = getattr(engine.nlp_engine, "forget_keywords", None)
            if forget is not None:  # the words of these texts are not kept in a long-lived engine
                forget()
        return results
