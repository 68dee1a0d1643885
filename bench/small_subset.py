"""Small subsets: ``hfit build`` of about 1,000 rows over ten tables, each run a fresh process, timed end to end.

The source is the rental-shop schema of ``rental_dataset.py`` (generated in the local MariaDB once). Two
templates pick the same 18 customers with their rentals and payments, and their copies, films, addresses,
cities, countries, stores and staff (parents followed, the store <-> staff cycle among them), masked, Parquet
and SQL:

* ``small`` (``bench-small-subset``): every text column decided by a rule, its name or its type - the build
  needs no text analyzer (Presidio, spaCy);
* ``classified`` (``bench-small-subset-classified``): three exports, the seven parent tables followed and
  classified by the build, which asks Presidio about three of their text columns (country names, districts,
  film titles).

Runs alternate (small, classified, small, ...), ``--repeat`` times, after one warm-up run of each (the OS file
cache, numba's on-disk cache, the server's buffer pool, Python's bytecode). Every child reads and writes its
bytecode under the run's own ``PYTHONPYCACHEPREFIX``, whatever the environment says: an installed hfit runs from
compiled bytecode (pip compiles a wheel's modules; an editable install's first run writes them), while an
environment with ``PYTHONDONTWRITEBYTECODE`` (this benchmark machine's) would compile ~130 modules from source in
every run, ~0.1 s of CPU no user pays.

Beside them, in the same session: the bare interpreter (``python -c pass``), the import of the libraries every
build needs (the floor under any build), and each template built twice in one process, the second build timed
(``... again``: the build's own work, without a fresh process's start-up). Wall time, CPU (user + system) and
peak RSS come from ``os.wait4``; the time from the command to the published package from the store's directory
(what ``hfit build`` does after publishing - recording the build in the Dagster instance, the summary - counts
in the wall time only). The machine is shared: CPU time is the steadier figure when other work runs beside.

The breakdown (``--breakdown``, on by default): one run of each template under ``python -X importtime``
(time per top-level package, whether Presidio, spaCy or Dagster were imported) with ``NUMBA_DEBUG_CACHE=1``
(numba functions compiled instead of loaded from its cache), and one under ``py-spy`` when it is installed
(hfit's functions by time on each thread).

Medians go to ``bench/results/latest.json`` (keys ``small_subset_s`` and ``small_subset_classified_s``: seconds to
the published package; ``small_subset``: every figure), merged into what is there: ``bench/run.py`` writes other
keys of the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rental_dataset import DATABASE, ensure_dataset  # noqa: E402
from results_file import merge_results  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
TEMPLATES = BENCH / "templates"
MASKING_KEY = "bench-masking-key-not-a-secret-0123456789"
KINDS = {"small": "bench-small-subset", "classified": "bench-small-subset-classified"}
# what every build imports whatever its template: the floor under a build's start-up
FLOOR_IMPORTS = "import numpy, pyarrow, pyarrow.compute, pyarrow.parquet, sqlalchemy, pymysql, pydantic, sqlglot, typer"
HEAVY_PACKAGES = ("presidio_analyzer", "spacy", "dagster", "numba")
# the same build twice in one process: the second one's wall and CPU time is the build's own work, without what a
# fresh process pays first (imports, numba's registries and cached functions, each library's first use)
AGAIN = """
import json, os, sys, time
from hfit_dagster.cli.without_pandas import decline_pandas
decline_pandas()
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import resolve_template
settings = load_settings()
spec = resolve_template(sys.argv[1], settings.templates_dir).spec
build_package(spec, {}, settings)
wall, cpu = time.perf_counter(), time.process_time()
build_package(spec, {}, settings)
again = {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}
print("again", json.dumps(again), flush=True)
os._exit(0)
"""


def _env(work: Path, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**inherited, "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            "HFIT_HOME": str(work / "home"), "HFIT_STORE_DIR": str(work / "store"),
            "HFIT_MASKING_KEY": MASKING_KEY, "HFIT_TEMPLATES_DIR": str(TEMPLATES),
            "HFIT_PROVIDER_RENTAL_URL": f"mysql+pymysql://root@127.0.0.1:3306/{DATABASE}?charset=utf8mb4", **extra}


def _timed(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv`` to its end; its wall time, CPU and peak RSS, and its output (stdout and stderr)."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    assert proc.stdout is not None
    stderr = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise SystemExit(f"{' '.join(argv[-3:])} failed (exit {code}):\n" + "\n".join(tail))
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "load": round(load, 1),
            "stderr": stderr.decode("utf-8", "replace")}


def _build_argv(kind: str, *python_flags: str) -> list[str]:
    return [sys.executable, *python_flags, "-m", "hfit_dagster.cli.main", "build",
            str(TEMPLATES / f"{KINDS[kind]}.yaml")]


def run_build(kind: str, work: Path) -> dict[str, Any]:
    """One build; ``published_s`` is from the command to the package's publication (its rename into the
    store's template directory, whose modification time that sets), ``wall_s`` to the process's end."""
    started = time.time()
    run = _timed(_build_argv(kind), _env(work))
    template = KINDS[kind]
    run["published_s"] = round((work / "store" / template).stat().st_mtime - started, 3)
    package = sorted(p for p in (work / "store" / template).iterdir() if p.is_dir())[-1]
    manifest = json.loads((package / "manifest.json").read_text())
    run.pop("stderr")
    run["rows"] = sum(t["rows"] for t in manifest["tables"])
    run["tables"] = len(manifest["tables"])
    shutil.rmtree(work / "store" / template)
    return run


def run_again(kind: str, work: Path) -> dict[str, Any]:
    """The build's second run in one process (``AGAIN``): its wall and CPU time, the process's peak RSS."""
    run = _timed([sys.executable, "-c", AGAIN, str(TEMPLATES / f"{KINDS[kind]}.yaml")], _env(work))
    shutil.rmtree(work / "store" / KINDS[kind], ignore_errors=True)
    line = next(line for line in run["stderr"].splitlines() if line.startswith("again "))
    return {**json.loads(line.removeprefix("again ")), "peak_rss_mb": run["peak_rss_mb"], "load": run["load"]}


def import_breakdown(kind: str, work: Path) -> dict[str, Any]:
    """One build under ``-X importtime`` with ``NUMBA_DEBUG_CACHE``: import seconds per top-level package
    (self time; threads importing at once inflate each other's), the heavy packages imported, and the numba
    functions compiled in the run instead of loaded from the cache."""
    run = _timed(_build_argv(kind, "-X", "importtime"), _env(work, NUMBA_DEBUG_CACHE="1"))
    shutil.rmtree(work / "store" / KINDS[kind], ignore_errors=True)
    per_package: Counter[str] = Counter()
    imported: set[str] = set()
    for line in run["stderr"].splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|(\s*)(\S+)", line)
        if match:
            top = match.group(3).split(".")[0]
            per_package[top] += int(match.group(1))
            imported.add(top)
    compiled = len(re.findall(r"\[cache\] data saved", run["stderr"]))
    loaded = len(re.findall(r"\[cache\] data loaded", run["stderr"]))
    return {"wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
            "import_s": round(sum(per_package.values()) / 1e6, 3),
            "top_packages_s": {name: round(us / 1e6, 3) for name, us in per_package.most_common(12)},
            "imports": {name: name in imported for name in HEAVY_PACKAGES},
            "numba_compiled": compiled, "numba_loaded_from_cache": loaded}


def spy_breakdown(kind: str, work: Path, py_spy: str, rate: int = 250) -> dict[str, list[tuple[str, float]]]:
    """One build under ``py-spy record --threads``: per thread, hfit's (and the import system's) functions by
    the seconds they were on the stack."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        _timed([py_spy, "record", "-r", str(rate), "-f", "raw", "--threads", "-o", str(raw), "--",
                *_build_argv(kind)], _env(work))
        shutil.rmtree(work / "store" / KINDS[kind], ignore_errors=True)
        lines = raw.read_text().splitlines()
    per_thread: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"^thread \(\d+\): ?", "", frames[0]) or "thread"
        totals[thread] += int(count)
        seen = set()
        for frame in frames[1:]:
            match = re.match(r"(.+?) \((?:.*/)?(hfit_dagster/[^:]+)", frame)
            name = f"{match.group(1)} ({match.group(2)})" if match else None
            if "_find_and_load" in frame:
                name = "(importing modules)"
            if name is not None and name not in seen:
                seen.add(name)
                per_thread[thread][name] += int(count)
    return {f"{thread} ({totals[thread] / rate:.2f} s)": [(name, round(n / rate, 2)) for name, n in
                                                         per_thread[thread].most_common(14)]
            for thread, _ in totals.most_common(3)}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    generated = ensure_dataset()
    print(f"dataset {DATABASE}: " + ("reused" if generated is None else f"generated in {generated:.1f} s"))
    with tempfile.TemporaryDirectory(prefix="hfit-small-subset-") as tmp:
        work = Path(tmp)
        _timed([sys.executable, "-c", FLOOR_IMPORTS], _env(work))  # warm-up: the references' bytecode
        for kind in KINDS:  # warm-up: file cache, numba's cache, buffer pool, bytecode
            run_build(kind, work)
        runs: dict[str, list[dict[str, Any]]] = {"python": [], "floor": [], **{kind: [] for kind in KINDS},
                                                 **{f"{kind} again": [] for kind in KINDS}}
        for rep in range(1, args.repeat + 1):
            runs["python"].append(_timed([sys.executable, "-c", "pass"], _env(work)))
            runs["floor"].append(_timed([sys.executable, "-c", FLOOR_IMPORTS], _env(work)))
            for kind in KINDS:
                run = run_build(kind, work)
                runs[kind].append(run)
                print(f"  [{rep}/{args.repeat}] {kind:10s} {run['wall_s']:6.2f} s wall ({run['published_s']:6.2f} s "
                      f"to the published package) {run['cpu_s']:6.2f} s CPU "
                      f"{run['peak_rss_mb']:7.1f} MB  {run['rows']:,} rows, {run['tables']} tables, load {run['load']}",
                      flush=True)
                again = run_again(kind, work)
                runs[f"{kind} again"].append(again)
                print(f"  [{rep}/{args.repeat}] {kind:10s} again in one process: {again['wall_s']:6.2f} s wall "
                      f"{again['cpu_s']:6.2f} s CPU", flush=True)
        breakdown: dict[str, Any] = {}
        if args.breakdown:
            breakdown = {kind: import_breakdown(kind, work) for kind in KINDS}
            py_spy = shutil.which("py-spy")
            if py_spy is not None:
                for kind in KINDS:
                    breakdown[kind]["py_spy"] = spy_breakdown(kind, work, py_spy)
    summary = {kind: {"wall_s_median": _median(r, "wall_s"), "cpu_s_median": _median(r, "cpu_s"),
                      "wall_s_all": [x["wall_s"] for x in r], "cpu_s_all": [x["cpu_s"] for x in r],
                      "load_all": [x["load"] for x in r], "peak_rss_mb": max(x["peak_rss_mb"] for x in r),
                      **({"published_s_median": _median(r, "published_s"), "rows": r[0]["rows"],
                          "tables": r[0]["tables"]} if "rows" in r[0] else {})}
               for kind, r in runs.items()}
    print(f"\nmedians of {args.repeat} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'run':18s} {'wall s':>8s} {'published s':>12s} {'CPU s':>8s} {'peak MB':>8s}")
    for kind, s in summary.items():
        published = f"{s['published_s_median']:12.2f}" if "published_s_median" in s else f"{'':12s}"
        print(f"{kind:18s} {s['wall_s_median']:8.2f} {published} {s['cpu_s_median']:8.2f} {s['peak_rss_mb']:8.1f}")
    for kind, info in breakdown.items():
        print(f"\n{kind}: imports {info['import_s']:.2f} s of a {info['wall_s']:.2f} s run; "
              + ", ".join(f"{name} {'yes' if seen else 'no'}" for name, seen in info["imports"].items())
              + f"; numba functions compiled {info['numba_compiled']}, loaded {info['numba_loaded_from_cache']}")
        print("  import s by package: " + ", ".join(f"{n} {s:.2f}" for n, s in info["top_packages_s"].items()))
        for thread, functions in info.get("py_spy", {}).items():
            print(f"  {thread}")
            for name, seconds in functions:
                print(f"    {seconds:6.2f}  {name}")
    merge_results(args.out, {
        "small_subset_s": summary["small"]["published_s_median"],
        "small_subset_classified_s": summary["classified"]["published_s_median"],
        "small_subset": {"summary": summary, "breakdown": breakdown, "load_average": os.getloadavg(),
                         "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    })
    print(f"\nsmall_subset_s {summary['small']['published_s_median']:.2f} to the published package (target 1.5; "
          f"{summary['small']['wall_s_median']:.2f} to the process's end), classified "
          f"{summary['classified']['published_s_median']:.2f}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
