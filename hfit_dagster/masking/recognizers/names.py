"""Person names beside the NER model: gazetteers, cue words and scripts, in any casing and across line breaks.

Each word is one of: a known name (in the first- or last-name gazetteer and no common English word), an
ambiguous name ("Will", "Rose": a name that is also a common word), a common word, a word of another script
than the text's own (a Cyrillic, Arabic, CJK ... word inside a Latin-script note), or an unknown capitalised
word. Runs of name-like words, joined by a space, a line break or "Last, First", become PERSON when:

- they hold a known name (alone, in any case: "OLGA", "kowalski"); a name that is also a place ("Austin",
  "Florence") is ambiguous;
- they hold an ambiguous name beside another ("Grace Rose"): alone, "Will" or "Georgia" is left to the NER model;
- a cue precedes them ("Mr", "Dear", "customer", "assigned to", "name:"): then even an unknown or lower-case
  word is a name;
- they are words of another script than the text's own.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.gazetteers import words
from hfit_dagster.masking.recognizers.prefilter import TOKEN, folds_oddly

# a word of letters only, not the letters of an identifier ("CUST-12345678", "ef900ac6", "SKU_12")
# combining marks (Devanagari, Thai, Arabic vowel signs ...) are letters of a word here, not word breaks
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff"
    "\u0e31-\u0e3a\u0e47-\u0e4e\u0f18-\u0fbc\u1ab0-\u1aff\u3099\u309a"
)
_WORD = re.compile(rf"(?<![^\W_])(?<![\d][\-/])[^\W\d_](?:[^\W\d_]|[{_MARKS}]|['’\-](?=[^\W\d_]))*(?![^\W_])"
                   r"(?![\-/_]\w*\d)")
_CUE_WORDS = (
    r"mr|mrs|ms|miss|mx|dr|prof|sir|madam|dear|hi|hello|hey|thanks|thank you|regards|cheers|best|cc|attn"
    r"|spoke (?:with|to)|talked to|ask|asked|customer|client|caller|agent|user|patient|tenant|cardholder|holder"
    r"|assigned to|assignee|transferred to|escalated to|on behalf of|per|signed|sent by|from|for|contact|owner"
    r"|name|full name|first name|last name|surname|requester|approved by|herr|frau|señora?|sra?|mme|signora?"
)
# a cue word (whole), its dot or punctuation, then the name's first letter
_CUE = re.compile(rf"\b(?:{_CUE_WORDS})(?![^\W\d_])\.?[ \t]*[:=\-,]?[ \t]*(?:\n[ \t]*)?(?=[^\W\d_])", re.IGNORECASE)
_TITLE_WORDS = r"mr|mrs|ms|miss|mx|dr|prof|herr|frau|sra?|mme|mlle|dear"
_TITLE = re.compile(rf"\b(?:{_TITLE_WORDS})(?![^\W\d_])\.?[ \t]+(?=[^\W\d_])", re.IGNORECASE)
# cues after which even a capitalised common word is a first name ("transferred to Job Marchand")
_PERSON_CUE_WORDS = (
    r"spoke (?:with|to)|talked to|transferred to|assigned to|escalated to|on behalf of|ask|cc|attn|dear|hi"
    r"|hello|thanks|signed by|sent by|approved by|mr|mrs|ms|miss|mx|dr|prof"
)
_PERSON_CUE = re.compile(rf"\b(?:{_PERSON_CUE_WORDS})(?![^\W\d_])\.?[ \t]*,?[ \t]*(?=[^\W\d_])", re.IGNORECASE)


def first_words(alternation: str) -> frozenset[str]:
    """The first words of a cue alternation's phrases ("spoke (?:with|to)" -> "spoke"; "señora?" -> "señor" and
    "señora"): a phrase's match starts at a word the text holds whole."""
    out = set()
    for phrase in re.sub(r"\([^()]*\)", "", alternation).split("|"):  # the groups after a first word dropped
        word = phrase.split(" ")[0]
        out |= {word[:-2], word[:-1]} if word.endswith("?") else {word}
    return frozenset(out)


_CUE_FIRST, _TITLE_FIRST, _PERSON_CUE_FIRST = (first_words(_CUE_WORDS), first_words(_TITLE_WORDS),
                                               first_words(_PERSON_CUE_WORDS))
_ANY_FIRST = _CUE_FIRST | _TITLE_FIRST | _PERSON_CUE_FIRST


def cue_positions(text: str, plain: bool = False) -> tuple[set[int], set[int], set[int]]:
    """Where the ``_CUE``, ``_TITLE`` and ``_PERSON_CUE`` matches in ``text`` end. Each pattern is tried only at
    the words that start one of its phrases (each starts at a word boundary and its first word is whole), unless
    ``plain`` (the reference: each pattern scans the text)."""
    if plain or folds_oddly(text):
        return ({m.end() for m in _CUE.finditer(text)}, {m.end() for m in _TITLE.finditer(text)},
                {m.end() for m in _PERSON_CUE.finditer(text)})
    out: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    last = [0, 0, 0]  # as finditer: no match starts inside the one before
    for word in TOKEN.finditer(text):
        lower = word.group().lower()
        if lower not in _ANY_FIRST:
            continue
        for n, (pattern, firsts) in enumerate(((_CUE, _CUE_FIRST), (_TITLE, _TITLE_FIRST),
                                               (_PERSON_CUE, _PERSON_CUE_FIRST))):
            if lower in firsts and word.start() >= last[n]:
                m = pattern.match(text, word.start())
                if m is not None:
                    out[n].add(m.end())
                    last[n] = m.end()
    return out
# name particles between a first and a last name ("Hendrik van den Berg", "Ali bin Omar")
_PARTICLES = frozenset("van von der den de da di du del della dos das le la bin ibn al el ben ter zu".split())
_SCRIPT_CACHE: dict[str, str] = {}
# cue words, labels of ids and the words support tickets are made of are never part of a name, whatever a
# gazetteer says ("Ask", "Nino", "Pan"; "Data", a rare first name, opens "Data from export:" and "Data is missing")
_NEVER_NAMES = frozenset(
    "mr mrs ms miss mx dr prof sir madam dear hi hello hey thanks regards cheers best cc attn ask asked customer "
    "client caller agent user patient tenant holder per signed sent from for contact owner name surname herr frau "
    "sr sra mme ssn nino pan iban dob vat tin ein itin bsn nif nie dni cpf pesel aadhaar id tel fax email mail "
    "phone mobile passport born on by at is or and the to of in re fw fwd ticket case note update monday tuesday "
    "wednesday thursday friday saturday sunday january february march april may june july august september "
    "october november december team all everyone colleagues friends partner valued support sales data".split()
)

NAME, AMBIGUOUS, COMMON, FOREIGN, UNKNOWN = "name", "ambiguous", "common", "foreign", "unknown"


def _script(ch: str) -> str:
    """The script of a letter, by the first word of its Unicode name (LATIN, CYRILLIC, CJK, HANGUL ...)."""
    script = _SCRIPT_CACHE.get(ch)
    if script is None:
        script = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
        if script in ("HIRAGANA", "KATAKANA", "CJK"):
            script = "CJK"
        _SCRIPT_CACHE[ch] = script
    return script


_ASCII_LETTERS = re.compile(r"[A-Za-z]+")


@functools.lru_cache(maxsize=256)
def main_script(text: str) -> str:
    """The script most of the text's letters are written in (LATIN for a text without letters). An ASCII text
    is Latin without a look at each character; in others the ASCII letters are counted by runs."""
    if text.isascii():
        return "LATIN"
    counts: dict[str, int] = {"LATIN": sum(len(run) for run in _ASCII_LETTERS.findall(text))}
    if not counts["LATIN"]:
        del counts["LATIN"]
    for ch in text:
        if ch > "\x7f" and ch.isalpha():
            s = _script(ch)
            counts[s] = counts.get(s, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else "LATIN"


def word_class(word: str, script: str) -> str:
    """``script`` is the text's own: hfit's analyzer reads English, so a Latin word is never foreign, and a word
    of another script is, even in a text mostly of that script (a note pasting a Cyrillic address)."""
    if _script(word[0]) not in (script, "LATIN") or (script != "LATIN" and _script(word[0]) != "LATIN"):
        return FOREIGN
    lower = word.lower()
    if lower in _NEVER_NAMES:
        return COMMON
    first, last, ambiguous, common = (words("first_names"), words("last_names"), words("ambiguous_names"),
                                      words("common_words"))
    if lower in ambiguous:
        return AMBIGUOUS
    if lower in first or lower in last:
        return AMBIGUOUS if lower in words("places") else NAME
    if lower in common or len(word) < 2:
        return COMMON
    return UNKNOWN


def _capitalised_like(word: str, previous: str) -> bool:
    """Written as the name before it: Title case after Title case, all capitals after all capitals."""
    if previous.isupper() and len(previous) > 1:  # in capitals only a word no common one can be a surname
        return word.isupper() and word.lower() not in words("common_words")
    return word[0].isupper() and not word.isupper() and word[1:].islower()


def _capitalised(word: str) -> bool:
    return word[0].isupper() and (len(word) == 1 or not word[1:].isupper() or len(word) <= 3)


def looks_like_name(text: str, script: str = "LATIN") -> bool:
    """Whether a span another recognizer calls a person could be one: no digit, and a word that is not a common
    English word ("Wireless Mouse" is not; "Zoë Ødegård", "Will Grant" may be)."""
    if any(c.isdigit() for c in text):
        return False
    return any(word_class(m.group(), script) != COMMON for m in _WORD.finditer(text))


def undecided_words(text: str, findings: list[Finding]) -> list[str]:
    """Capitalised words (not all capitals) outside ``findings`` that are neither a common word nor a listed name:
    the words only a named-entity model could still call a person ("Nomalanga", "Technic")."""
    return [text[a:b] for a, b in undecided_spans(text, findings)]


def undecided_spans(text: str, findings: list[Finding]) -> list[tuple[int, int]]:
    """Where the :func:`undecided_words` are (start and end offsets). A word that is a record's key in one of the
    languages :mod:`.records` reads ("Kunde", "Anschrift", "Geburtsdatum") labels a value, it names no one."""
    from hfit_dagster.masking.recognizers.records import key_entity

    main = main_script(text)
    out = []
    for m in _WORD.finditer(text):
        word = m.group()
        if not (word[0].isupper() and not word.isupper()) or word_class(word, main) not in (UNKNOWN, AMBIGUOUS):
            continue
        if key_entity(word) is not None:
            continue
        if not any(f.start <= m.start() < f.end for f in findings):
            out.append(m.span())
    return out


def windows_around(text: str, spans: list[tuple[int, int]], reach: int) -> list[tuple[int, int]]:
    """Pieces of ``text`` reaching ``reach`` characters (widened to whole words) around each span, overlapping
    ones merged: where a named-entity model still has something to decide, with the words around it."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        lo, hi = a - reach, b + reach
        lo = 0 if lo <= 0 else max(text.rfind(" ", 0, lo + 1), text.rfind("\n", 0, lo + 1)) + 1
        if hi >= len(text):
            hi = len(text)
        else:
            cuts = [i for i in (text.find(" ", hi - 1), text.find("\n", hi - 1)) if i != -1]
            hi = min(cuts) if cuts else len(text)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def find_names(text: str, plain: bool = False) -> list[Finding]:
    """Person names (see the module docstring); ``plain``: cues found by scanning (:func:`cue_positions`)."""
    main = main_script(text)
    cue_ends, title_ends, person_cue_ends = cue_positions(text, plain)
    found: list[Finding] = []
    run: list[tuple[int, int, str, str]] = []  # (start, end, class, word)
    held: tuple[int, int, str, str] | None = None  # an unknown word left out just before, in capitals or small letters

    def close() -> None:
        if run:
            _judge(text, run, found, cue_ends)
            run.clear()

    last_end = 0
    for m in _WORD.finditer(text):
        word = m.group()
        cls = word_class(word, main)
        if cls == COMMON and word.lower() not in _NEVER_NAMES and (
            m.start() in title_ends  # "Mrs. Mare", "MR WHITE", "Dear caldwell": after a title, a word is a name
            or (m.start() in person_cue_ends and _capitalised(word) and not word.isupper())
            or (run and run[-1][3].lower() in _PARTICLES)  # "sienna van luxemburg"
            or (run and run[-1][2] in (NAME, FOREIGN) and _capitalised_like(word, run[-1][3])
                and text[last_end : m.start()] in (" ", "\n"))  # "Éléonore Masse", "KALERVO RANTALA"
        ):
            cls = UNKNOWN
        if word.lower() in _PARTICLES and run and run[-1][2] in (NAME, AMBIGUOUS, UNKNOWN) and word.islower():
            cls = AMBIGUOUS  # "van", "den", "bin" inside a name
        gap = text[last_end : m.start()]
        joined = bool(run) and (gap in (" ", "\n", " \n", "\n ", ", ", ",\n", ", \n", "\t")
                                or (gap == "" and cls == FOREIGN))
        if not joined:
            close()
        if cls == COMMON or (cls == UNKNOWN and not _capitalised(word) and m.start() not in cue_ends
                             and not run):
            close()
            held = (m.start(), m.end(), cls, word) if cls == UNKNOWN and len(word) >= 3 else None
        else:
            if (not run and held is not None and cls == NAME and gap in (" ", "\n", ", ", ",\n")
                    and held[1] == last_end and _same_case(held[3], word)):
                run.append(held)  # "DIONIGI CRESPI", "kovalčíková, františek": an unknown name beside a known one
            run.append((m.start(), m.end(), cls, word))
            held = None
        last_end = m.end()
    close()
    return found


def _same_case(a: str, b: str) -> bool:
    """Both in capitals or both in small letters (how a name is written throughout in a note typed that way)."""
    return (a.isupper() and b.isupper()) or (a.islower() and b.islower())


def _judge(text: str, run: list[tuple[int, int, str, str]], found: list[Finding], cue_ends: set[int]) -> None:
    """Keep the part of a run of name-like words that is a person's name (see the module docstring)."""
    # ", " only joins a known name to a known name ("Kowalski, Anna"); split elsewhere
    parts: list[list[tuple[int, int, str, str]]] = [[run[0]]]
    for prev, cur in zip(run, run[1:], strict=False):
        gap = text[prev[1] : cur[0]]
        if "," in gap and not (prev[2] == NAME and cur[2] == NAME):
            parts.append([cur])
        else:
            parts[-1].append(cur)
    previous_kept = False
    previous_single: tuple[int, int, str, str] | None = None
    for part in parts:
        classes = [c for _, _, c, _ in part]
        cued = part[0][0] in cue_ends
        words_in_name = 3 + sum(1 for *_, w in part if w.lower() in _PARTICLES)
        if cued and len(part) > words_in_name and FOREIGN not in classes:
            part = part[:words_in_name]
            classes = classes[:words_in_name]
        keep = (
            NAME in classes
            or (AMBIGUOUS in classes and classes.count(AMBIGUOUS) + classes.count(FOREIGN) >= 2)
            or FOREIGN in classes
            or (cued and any(c in (UNKNOWN, AMBIGUOUS) for c in classes))
            or (previous_kept and len(part) == 1 and classes[0] in (NAME, UNKNOWN, FOREIGN, AMBIGUOUS)
                and (_capitalised(part[0][3]) or classes[0] == NAME))  # "Kowalski, Anna", "toft, curt"
        )
        previous_kept = keep
        if not keep:
            single = part[0] if len(part) == 1 and part[0][2] in (UNKNOWN, AMBIGUOUS) else None
            previous_single = single if single and (_capitalised(single[3]) or single[3].isupper()
                                                    or (single[3].islower() and len(single[3]) >= 3)) else None
            continue
        if not cued and len(part) >= 2:
            # trim capitalised unknown or ambiguous words at the ends that no name stands beside
            while len(part) > 1 and part[-1][2] == UNKNOWN and part[-2][2] not in (NAME, AMBIGUOUS, FOREIGN):
                part = part[:-1]
        found.append(Finding("PERSON", part[0][0], part[-1][1], 0.75 if cued else 0.65))
        if len(part) == 1 and part[0][2] == NAME and previous_single is not None \
                and (not previous_single[3].islower() or part[0][3].islower()):
            # "Giannuzzi, Tiziana": a single capitalised word, a comma, then a first name: Last, First
            found.append(Finding("PERSON", previous_single[0], previous_single[1], 0.6))
        previous_single = None
