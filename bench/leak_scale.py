"""The leak check at scale: an honest build of 1M customers passes, the same output with one original planted
in it fails, and the check's time and peak memory are printed (a script, not a test).

    .venv/bin/python bench/leak_scale.py [--customers N] [--digests N] [--work DIR]

The source (SQLite) holds customers with names from common name lists (Faker's en_US first and last names,
the lists the fake name pools were drawn from), emails built from those names on real mail domains, and
phones in one national numbering range (French mobiles, ``06 12 34 56 78``: 10 digits, so the phone
operator's digit permutations land on other customers' numbers). Three phases, each in its own process so
its peak RSS is its own:

* ``generate``: the SQLite source (and an Arrow copy of its rows for the ``check`` phase);
* ``build``: ``build_package`` over it (first name, last name, email and phone masked; segment and country
  kept); prints the build time and the manifest's leak check (searched originals, digest bytes, collisions);
* ``check``: the leak check alone, as staging runs it (``LeakScan.collect`` over the source's batches, then
  ``LeakScan.hits`` over the built package's Parquet), timed, with its tracemalloc peak (Python and numpy
  allocations) and the process's peak RSS beside the RSS before it started; then once more with one
  customer's original email planted in a kept column of its own row, which must fail;
* ``digests``: the collecting half alone at ``--digests`` originals (10M phones by default): its time, digest
  bytes and peak memory.

Figures go to stdout and to ``bench/results/leak_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = "bench-leak-scale-key-0123456789abcdef"
DOMAINS = ("gmail.com", "orange.fr", "free.fr", "yahoo.fr", "hotmail.com", "laposte.net")
SEGMENTS = ("standard", "premium", "beta_users", "enterprise")
TEMPLATE = """
templateName: leak-scale
exports:
  customers:
    provider: SRC
    query: SELECT * FROM customers
masking:
  customers.first_name: first_name
  customers.last_name: last_name
  customers.email: email
  customers.phone: phone
  default: keep
"""
MASKED = {"first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone"}
READ_ROWS = 65_536
PLANTED_ROW = 16  # customer 17's own email goes into its kept segment column


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, customers: int) -> None:
    from faker.providers.person.en_US import Provider as People

    rng = random.Random(18)
    first, last = list(People.first_names), list(People.last_names)
    phones: set[str] = set()
    emails: set[str] = set()
    rows = []
    for i in range(1, customers + 1):
        given, family = rng.choice(first), rng.choice(last)
        while True:
            phone = f"0{rng.choice('67')} " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
            if phone not in phones:
                break
        phones.add(phone)
        local = f"{given}.{family}".lower()
        email = f"{local}@{rng.choice(DOMAINS)}"
        if email in emails:
            email = f"{local}{i}@{rng.choice(DOMAINS)}"
        emails.add(email)
        rows.append((i, given, family, email, phone, rng.choice(SEGMENTS), "FR"))
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, first_name VARCHAR(40), last_name VARCHAR(40),"
                     " email VARCHAR(120), phone VARCHAR(20), segment VARCHAR(20), country VARCHAR(2))")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _environment(work: Path, source: Path) -> None:
    os.environ.update({"HFIT_HOME": str(work / "home"), "HFIT_MASKING_KEY": KEY,
                       "HFIT_PROVIDER_SRC_URL": f"sqlite:///{source}"})


def build(work: Path, source: Path) -> dict[str, Any]:
    _environment(work, source)
    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.settings import load_settings
    from hfit_dagster.template.loader import parse_template

    started = time.perf_counter()
    built = build_package(parse_template(TEMPLATE), {}, load_settings())
    seconds = time.perf_counter() - started
    leak = built.manifest.checks["leak"]
    return {"build_seconds": round(seconds, 1), "package": str(built.path), "peak_rss_mb": round(_rss_mb()),
            **{k: leak[k] for k in ("passed", "originals_searched", "digest_bytes", "collisions",
                                    "unchanged_by_masking", "columns_with_hits")}}


def _write_arrow_copy(source: Path, target: Path) -> None:
    """The source's rows as an Arrow IPC file, in id order (the check phase streams it: no Python objects
    per row, so tracemalloc and RSS show the check's own memory)."""
    import pyarrow as pa

    names = ["id", "first_name", "last_name", "email", "phone", "segment", "country"]
    schema = pa.schema([("id", pa.int64())] + [(n, pa.string()) for n in names[1:]])
    with sqlite3.connect(source) as conn, pa.OSFile(str(target), "wb") as sink, \
            pa.ipc.new_file(sink, schema) as writer:
        cursor = conn.execute("SELECT id, first_name, last_name, email, phone, segment, country FROM customers "
                              "ORDER BY id")
        while rows := cursor.fetchmany(READ_ROWS):
            columns = list(zip(*rows, strict=True))
            writer.write_batch(pa.RecordBatch.from_arrays([pa.array(c, t) for c, t in zip(columns, schema.types,
                                                                                          strict=True)], schema=schema))


def _source_batches(arrow_copy: Path) -> Iterator[Any]:
    import pyarrow as pa

    with pa.memory_map(str(arrow_copy)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _run_check(source: Path, package: Path, plant: bool) -> dict[str, Any]:
    """The leak check alone over the build's output, as staging runs it; ``plant`` puts one customer's
    original email into the kept segment column of its own row in the output."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from hfit_dagster.masking import ColumnDecision, TableMaskingPlan
    from hfit_dagster.pipeline.leak_scan import LeakScan

    parquet = package / "parquet" / "customers.parquet"
    planted_email = None
    if plant:
        with sqlite3.connect(source) as conn:
            planted_email = conn.execute("SELECT email FROM customers WHERE id = ?", (PLANTED_ROW + 1,)).fetchone()[0]

    def staged_text(name: str, rows: int, also: Sequence[str], numbers: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """As the build's table sink reads a staged table back: its text columns, the number columns searched as
        text (``numbers``) and the key columns (``also``)."""
        file = pq.ParquetFile(parquet)
        text = [f.name for f in file.schema_arrow if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        searched = text + [c for c in numbers if c not in text and c in file.schema_arrow.names]
        first = True
        for batch in file.iter_batches(batch_size=rows, columns=searched + [c for c in also if c not in searched]):
            if first and planted_email is not None:
                segment = batch.column("segment").to_pylist()
                segment[PLANTED_ROW] = planted_email
                batch = batch.set_column(batch.schema.get_field_index("segment"), "segment", pa.array(segment))
            first = False
            yield batch

    engine = sa.create_engine(f"sqlite:///{source}")
    metadata = sa.MetaData()
    table = sa.Table("customers", metadata, autoload_with=engine)
    plan = TableMaskingPlan("customers", {c.name: ColumnDecision(c.name, MASKED.get(c.name, "keep"), None, 1.0,
                                                                 "bench", "rule") for c in table.columns})
    rss_before = _rss_mb()
    scan = LeakScan(staged_text)
    scan.open_table(table)
    collect_seconds = 0.0
    tracemalloc.start()
    for batch in _source_batches(source.with_suffix(".arrow")):
        started = time.perf_counter()
        scan.collect("customers", plan, batch)
        collect_seconds += time.perf_counter() - started
    started = time.perf_counter()
    scan.collector.searched()  # the last batches hashed and merged (the rest happened beside the reading)
    merge_seconds = time.perf_counter() - started
    started = time.perf_counter()
    leaks = scan.hits(["customers"], lambda _: None)
    scan_seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    summary = scan.collector.summary()
    scan.close()
    return {"passed": not leaks, "leaks": sorted(leaks), "collisions": summary["collisions"],
            "originals_searched": summary["originals_searched"], "digest_mb": round(summary["digest_bytes"] / 2**20, 1),
            "collect_call_seconds": round(collect_seconds, 2), "merge_wait_seconds": round(merge_seconds, 2),
            "scan_seconds": round(scan_seconds, 2),
            "check_seconds": round(collect_seconds + merge_seconds + scan_seconds, 2),
            "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
            "rss_before_mb": round(rss_before), "peak_rss_mb": round(_rss_mb())}


def _digests_only(originals: int) -> dict[str, Any]:
    """The collecting half alone at ``originals`` phones (``06 12 34 56 78``, one entity each), fed in build
    batches: time, digest bytes, tracemalloc peak and RSS, without reading or writing any table."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from hfit_dagster.checks.leak import LeakCollector

    rng = np.random.default_rng(18)
    rss_before = _rss_mb()
    collector = LeakCollector()
    tracemalloc.start()
    started = time.perf_counter()
    for first in range(0, originals, READ_ROWS):
        n = min(READ_ROWS, originals - first)
        digits = pc.cast(pa.array(rng.integers(600_000_000, 800_000_000, n)), pa.string())
        pairs = [pc.utf8_slice_codeunits(digits, i, i + 2) for i in (1, 3, 5, 7)]
        phones = pc.binary_join_element_wise(pc.binary_join_element_wise("0", pc.utf8_slice_codeunits(digits, 0, 1),
                                                                         ""), *pairs, " ")
        collector.add_column("customers", "phone", "phone", phones,
                             np.arange(first + 1, first + n + 1, dtype=np.uint64)[:, None])
    searched = collector.searched()
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"originals": originals, "searched": searched.patterns.size, "seconds": round(seconds, 1),
            "digest_mb": round(searched.nbytes / 2**20, 1), "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
            "rss_before_mb": round(rss_before), "peak_rss_mb": round(_rss_mb())}


def _phase(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None, help="kept after the run (default: a temporary folder)")
    parser.add_argument("--digests", type=int, default=10_000_000,
                        help="originals for the collecting half alone (0: skip)")
    parser.add_argument("--phase", choices=["generate", "build", "check", "planted", "digests"], default=None)
    args = parser.parse_args()
    if args.phase == "digests":
        print(json.dumps(_digests_only(args.digests)))
        return
    if args.phase is not None:  # one phase, in its own process; its figures as the last line of stdout
        source = args.work / "source.sqlite"
        if args.phase == "generate":
            started = time.perf_counter()
            generate(source, args.customers)
            _write_arrow_copy(source, source.with_suffix(".arrow"))
            print(json.dumps({"generate_seconds": round(time.perf_counter() - started, 1)}))
        elif args.phase == "build":
            print(json.dumps(build(args.work, source)))
        else:
            package = Path(json.loads((args.work / "build.json").read_text())["package"])
            print(json.dumps(_run_check(source, package, plant=args.phase == "planted")))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="hfit-leak-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["--work", str(work), "--customers", str(args.customers)]
    results: dict[str, Any] = {"customers": args.customers}
    for phase in ("generate", "build", "check", "planted"):
        results[phase] = _phase([*common, "--phase", phase])
        if phase == "build":
            (work / "build.json").write_text(json.dumps(results[phase]))
        print(f"{phase}: {json.dumps(results[phase])}", flush=True)
    check, planted = results["check"], results["planted"]
    print(f"\nhonest build of {args.customers:,} customers: passed={results['build']['passed']} "
          f"collisions={results['build']['collisions']}")
    print(f"leak check alone: {check['check_seconds']} s (collect calls {check['collect_call_seconds']} s, "
          f"last merge {check['merge_wait_seconds']} s, scan {check['scan_seconds']} s); "
          f"{check['originals_searched']:,} originals in {check['digest_mb']} MB of digests; "
          f"tracemalloc peak {check['tracemalloc_peak_mb']} MB; RSS {check['rss_before_mb']} -> "
          f"{check['peak_rss_mb']} MB")
    print(f"planted original: passed={planted['passed']} leaks={planted['leaks']}")
    if args.digests:
        results["digests"] = digests = _phase(["--phase", "digests", "--digests", str(args.digests)])
        print(f"collecting alone: {digests['originals']:,} originals in {digests['seconds']} s, "
              f"{digests['digest_mb']} MB of digests, tracemalloc peak {digests['tracemalloc_peak_mb']} MB, "
              f"RSS {digests['rss_before_mb']} -> {digests['peak_rss_mb']} MB")
    out = Path(__file__).resolve().parent / "results" / "leak_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if not results["build"]["passed"] or not check["passed"] or planted["passed"]:
        raise SystemExit("leak check at scale: unexpected outcome (see above)")


if __name__ == "__main__":
    main()
