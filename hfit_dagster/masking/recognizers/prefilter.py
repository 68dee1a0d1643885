"""Cheap checks that let a rule skip a text, or a part of it, its regular expressions could find nothing in.

A rule's fast path looks up words in sets and literal cue fragments in the text in small letters instead of
scanning the text with a case-insensitive alternation. That finds the same as the scan wherever ``str.lower``
agrees with the regular expression's case folding; :data:`FOLD_ODD` holds the characters where they part (the
dotted and dotless i, the long s, Greek sigma and symbol forms, old Cyrillic letter forms), and a text holding one
of them takes the plain path. Every rule keeps its plain path (``plain=True``) as the reference the fast one is
tested against.
"""

from __future__ import annotations

import re

# characters a case-insensitive pattern matches to a letter of the rules' literals although their ``str.lower``
# is not that letter (computed over every code point: tests/masking/test_recognizer_prefilter.py); the ASCII "i"
# and "I", which match the dotless "ı" of "bulvarı", are handled by listing the word with an "i" too
FOLD_ODD = "\u0130\u0131\u017f\u03a3\u03c3\u03d5\u03f1\u03f5\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85"
_FOLD_ODD = re.compile(f"[{FOLD_ODD}]")
# a run of word characters, as the rules' ``(?<![\w])`` and ``(?![\w])`` bound a word
TOKEN = re.compile(r"\w+")
# what ends a phrase's first run of letters
_SEGMENT = re.compile(r"[\W_]")


def folds_oddly(text: str) -> bool:
    """Whether ``text`` holds a character :data:`FOLD_ODD` lists (then a rule takes its plain path)."""
    return not text.isascii() and _FOLD_ODD.search(text) is not None


def holds_any(lower: str, fragments: tuple[str, ...]) -> bool:
    """Whether ``lower`` (a text in small letters) holds one of ``fragments``: each a piece every match of a rule
    holds, in small letters."""
    return any(f in lower for f in fragments)


def first_segments(alternation: str) -> frozenset[str]:
    """The first runs of letters (in small letters) of every phrase a cue alternation matches: the phrases are
    finite (literals, ``[...]`` classes, ``(?:...)`` groups, ``|``, ``?``, escaped punctuation), so they are
    written out; "d\\.?o\\.?b" gives "d", "do" and "dob", "api[_ \\-]?key" gives "api" and "apikey"."""
    return frozenset(_SEGMENT.split(phrase, maxsplit=1)[0] for phrase in _phrases(alternation))


def _phrases(pattern: str) -> set[str]:
    """Every string ``pattern`` (the finite subset of regular expressions :func:`first_segments` reads) matches,
    in small letters."""
    alternatives, pos = _alternation(pattern.lower(), 0)
    if pos != len(pattern):
        raise ValueError(f"unbalanced group in cue pattern at {pos}: {pattern!r}")
    return alternatives


def _alternation(p: str, pos: int) -> tuple[set[str], int]:
    out: set[str] = set()
    current = {""}
    while pos < len(p) and p[pos] != ")":
        if p[pos] == "|":
            out |= current
            current, pos = {""}, pos + 1
            continue
        if p.startswith("(?:", pos):
            atom, pos = _alternation(p, pos + 3)
            pos += 1  # the closing parenthesis
        elif p[pos] == "[":
            end = p.index("]", pos)
            body = p[pos + 1 : end].replace("\\", "")
            atom, pos = set(body), end + 1
        elif p[pos] == "\\":
            atom, pos = {p[pos + 1]}, pos + 2
        elif p[pos] in "(*+{.^$":
            raise ValueError(f"cue pattern {p!r} has {p[pos]!r} at {pos}: only literals, classes, groups and ? "
                             "are read")
        else:
            atom, pos = {p[pos]}, pos + 1
        if pos < len(p) and p[pos] == "?":
            atom, pos = atom | {""}, pos + 1
        current = {a + b for a in current for b in atom}
    return out | current, pos
