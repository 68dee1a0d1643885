"""The direct analysis path (``TextAnalyzer(direct=True)``, the default with hfit's rules): what Presidio's
``AnalyzerEngine.analyze`` reports per text, found without the engine. The NER model reads only the words around
the ones hfit's rules and gazetteers leave undecided, through ``nlp.pipe``; Presidio's pattern recognizers run with
their own patterns, validation and context scoring, without explanation objects or per-match logging, and only on
texts holding a character every match of theirs holds. The engine per text is the reference
(:meth:`~hfit_dagster.masking.text_analysis.TextAnalyzer.analyze_many` with ``direct=False``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hfit_dagster.masking.recognizers.names import undecided_spans, windows_around

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult


# a character every match of a recognizer's patterns holds (a necessary condition, checked before its patterns
# run): an email its "@"; an IPv4 address a digit, a dot and a digit, an IPv6 one two colons with at most four hex
# digits between them ("::", "fe80:0:...")
_NEEDS: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile("@"),
    "IP_ADDRESS": re.compile(r"\d\.\d|:[0-9A-Fa-f]{0,4}:"),
}


# the NER model reads the words this many characters around each undecided word, not the whole text: about five
# words each side, what en_core_web_sm's NER sees around a token (its encoder: four layers of one-token windows)
NER_REACH = 28

# Presidio's LemmaContextAwareEnhancer defaults: a supporting word among the five before a match adds 0.35 to
# its score, and a supported match scores at least 0.4
_CONTEXT_BOOST, _CONTEXT_MIN_SCORE, _CONTEXT_WORDS = 0.35, 0.4, 5
_CONTEXT_TOKEN = re.compile(r"\w+")


class DirectPatterns:
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


class CalledRecognizer:
    """A recognizer with an ``analyze`` of its own, called without NLP artifacts; results under the threshold
    dropped."""

    def __init__(self, recognizer: Any, entities: list[str], threshold: float) -> None:
        self.recognizer, self.entities, self.threshold = recognizer, entities, threshold

    def analyze(self, text: str, lower: str | None = None) -> list[RecognizerResult]:
        found = self.recognizer.analyze(text, self.entities, None) or []
        return [r for r in found if r.score >= self.threshold]


def direct_patterns(engine: AnalyzerEngine, entities: list[str], language: str, threshold: float,
                     stop_words: frozenset[str] | None) -> list[DirectPatterns | CalledRecognizer]:
    """The engine's recognizers of ``entities`` but the NER one, to run directly: pattern recognizers by
    :class:`DirectPatterns`, others (an ``analyze`` of their own) called as they are."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    out: list[DirectPatterns | CalledRecognizer] = []
    for r in engine.registry.get_recognizers(language=language, entities=entities):
        if isinstance(r, SpacyRecognizer):
            continue
        if isinstance(r, PatternRecognizer) and type(r).analyze is PatternRecognizer.analyze:
            out.append(DirectPatterns(r, threshold, stop_words))
        else:
            out.append(CalledRecognizer(r, entities, threshold))
    return out



class DirectAnalysis:
    """The direct path for one analyzer's configuration: its engine's recognizers of ``entities`` run directly and
    its NER model on the words around undecided ones (on every chunk without ``ner_where_undecided``)."""

    def __init__(self, engine: AnalyzerEngine, entities: list[str], language: str, threshold: float,
                 uses_nlp: bool, ner_where_undecided: bool) -> None:
        self.engine, self.entities, self.language, self.threshold = engine, entities, language, threshold
        self.uses_nlp, self.ner_where_undecided = uses_nlp, ner_where_undecided
        stop_words = frozenset(engine.nlp_engine.nlp[language].Defaults.stop_words) if uses_nlp else None
        self.patterns = direct_patterns(engine, entities, language, threshold, stop_words)

    def analyze(self, chunks: list[str], rules: list[list[Any]], batch_size: int) -> list[list[RecognizerResult]]:
        """What ``engine.analyze`` reports per chunk (``rules[n]``: hfit's findings in chunk ``n``): the NER model's
        persons from ``nlp.pipe`` over the pieces around undecided words, and the pattern recognizers' results.
        Context scoring is left out, so a pattern scored below the threshold (one that only context could raise: a
        bare 9-digit "passport") is not run; hfit's cue rules find those values after their cue words."""
        from presidio_analyzer import RecognizerResult

        found: list[list[RecognizerResult]] = [[] for _ in chunks]
        for n, chunk in enumerate(chunks):
            lower = chunk.lower()
            for patterns in self.patterns:
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
                for lo, hi in windows_around(chunk, undecided_spans(chunk, rules[n]), NER_REACH):
                    pieces.append((n, lo))
                    texts.append(chunk[lo:hi])
            docs = nlp_engine.nlp[self.language].pipe(texts, batch_size=batch_size)
            for (n, offset), doc in zip(pieces, docs, strict=True):
                entities, scores = nlp_engine._get_updated_entities(nlp_engine._get_entities(doc),
                                                                    nlp_engine._get_scores_for_entities(doc))
                found[n] += [RecognizerResult("PERSON", offset + e.start_char, offset + e.end_char, score)
                             for e, score in zip(entities, scores, strict=True)
                             if e.label_ == "PERSON" and score >= self.threshold]
        return found
