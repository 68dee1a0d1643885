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


def folds_oddly(text: str) -> bool:
    """Whether ``text`` holds a character :data:`FOLD_ODD` lists (then a rule takes its plain path)."""
    return not text.isascii() and _FOLD_ODD.search(text) is not None


def holds_any(lower: str, fragments: tuple[str, ...]) -> bool:
    """Whether ``lower`` (a text in small letters) holds one of ``fragments``: each a piece every match of a rule
    holds, in small letters."""
    return any(f in lower for f in fragments)
