"""``make bench``: hfit build beside mysqldump and pg_dump over the same rows, in alternation, each run its own process.

Runs, repeated ``--repeat`` times in alternation (a, b, c, a, b, c, ...):

(a) ``mysqldump --single-transaction`` of customers, orders and order_items: every row, the rows (b) exports;
(b) ``hfit build bench/templates/bench-full.yaml``: the same rows, masked, Parquet and SQL (the real CLI);
(c) ``hfit build bench/templates/bench-subset.yaml``: a deterministic 1% of customers, their orders and items,
    parents followed;
(d) a diagnostic: (b) with the free-text note set to NULL instead of redacted (``bench-full-structured``), so
    the cost of free-text redaction shows apart from the rest of the pipeline;
(e) ``pg_dump`` (plain format: DDL and COPY data) of the same three tables from the same rows in PostgreSQL;
(f) (b) with the provider pointed at that PostgreSQL database;
(g) a diagnostic: (f) on the reference read path (``HFIT_FAST_READ=false``: psycopg rows through SQLAlchemy),
    the PostgreSQL build as it was before its fast path.

``--source mysql`` runs (a)-(d) only, ``--source postgresql`` (e)-(f) only; ``--runs`` picks letters (g: ask).

Each child's wall time, CPU time and peak RSS come from ``os.wait4`` (``ru_maxrss``); the MariaDB server's CPU
time and rows read are sampled around each run, the PostgreSQL server processes of the bench database polled
during it (the servers are shared, so those two are indicative only); the 1-minute load average at each run's
start is kept beside it (the machine is shared too).
Medians are printed and written to ``bench/results/latest.json``; ``ratio_vs_mysqldump`` is
median wall (b) / median wall (a), ``ratio_vs_pg_dump`` (f) / (e), ``subset_share`` (c) / (b); each pair's own
ratio is kept beside the medians. See docs/performance.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataset import (  # noqa: E402
    DATASET_VERSION,
    SCALES,
    Scale,
    connect,
    ensure_dataset,
    ensure_pg_dataset,
    pg_connect,
    pg_url,
)
from results_file import replace_run_results  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
TEMPLATES = BENCH / "templates"
TABLES = ("customers", "orders", "order_items")
MASKING_KEY = "bench-masking-key-not-a-secret-0123456789"
MYSQL_RUNS, PG_RUNS, PG_LETTERS = "abcd", "ef", "efg"  # (g), a diagnostic, runs when asked for


@dataclass
class Run:
    kind: str
    repetition: int
    wall_s: float
    peak_rss_mb: float
    rows: int
    output_bytes: int
    exit_code: int
    server_cpu_s: float | None = None
    server_rows_read: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _server_pid() -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(proc.name)
            except OSError:
                continue
    return None


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rows_read() -> int:
    """Rows the server's storage engines handed out so far (Handler_read_*; all sessions of the server)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Handler_read%'")
        return sum(int(value) for _, value in cur.fetchall())


def _pg_rows_read(database: str) -> int:
    """Rows PostgreSQL's scans returned in ``database`` so far (``pg_stat_database.tup_returned``)."""
    with pg_connect() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT tup_returned FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    return int(row[0]) if row else 0


class PgBackendCpu:
    """CPU time of the PostgreSQL server processes serving ``database`` while a run goes on: each connection has
    its own process, gone when it closes, so their ``/proc`` times are polled (every 0.1 s; a process's last
    tenth of a second may be missed) and the last seen value of each counts. Processes of other databases
    (other people's tests on the same server) are told apart by their title, which names the database."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PgBackendCpu:
        self._scan(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._scan(initial=False)

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)

    def _poll(self) -> None:
        while not self._done.wait(0.1):
            self._scan(initial=False)

    def _scan(self, initial: bool) -> None:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            pid = int(proc.name)
            try:
                if pid not in self.last and (self.marker not in (proc / "cmdline").read_bytes()
                                             or (proc / "comm").read_text().strip() != "postgres"):
                    continue
                cpu = _cpu_seconds(pid)
            except OSError:
                continue
            if cpu is None:
                continue
            if initial:
                self.first[pid] = cpu
            self.last[pid] = cpu


class TreeRss:
    """The summed resident memory of a process and its descendants (hfit's text analyzer runs in a child process
    of its own), sampled every 50 ms while it runs: ``wait4`` reports only the largest single process."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_bytes, self.most_processes = pid, 0, 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo += [int(child) for child in task.read_text().split()]
                except OSError:
                    pass
        return pids

    def _poll(self) -> None:
        while not self._done.wait(0.05):
            total = alive = 0
            for pid in self._tree():
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
                    alive += 1
                except (OSError, ValueError, IndexError):
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self.most_processes = max(self.most_processes, alive)


def _measure(kind: str, repetition: int, argv: list[str], env: dict[str, str], stdout: Any,
             pg_database: str | None = None) -> Run:
    if pg_database is not None:
        with PgBackendCpu(pg_database) as backends:
            run = _measure_child(kind, repetition, argv, env, stdout, pg_database)
        run.server_cpu_s = round(backends.seconds, 2)
        return run
    return _measure_child(kind, repetition, argv, env, stdout, pg_database)


def _measure_child(kind: str, repetition: int, argv: list[str], env: dict[str, str], stdout: Any,
                   pg_database: str | None) -> Run:
    server = _server_pid() if pg_database is None else None
    rows_read = _rows_read if pg_database is None else lambda: _pg_rows_read(pg_database)
    cpu0, rows0 = _cpu_seconds(server), rows_read()
    load = os.getloadavg()[0]  # the machine is shared: what else ran shows in the 1-minute load average
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=REPO)
    tree = TreeRss(proc.pid)
    assert proc.stderr is not None
    stderr = proc.stderr.read()  # drained while it runs (hfit prints progress there)
    tree.stop()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu1, rows1 = _cpu_seconds(server), rows_read()
    run = Run(kind=kind, repetition=repetition, wall_s=round(wall, 3), peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
              rows=0, output_bytes=0, exit_code=proc.returncode,
              server_cpu_s=round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None,
              server_rows_read=rows1 - rows0,
              extra={"user_cpu_s": round(usage.ru_utime, 2), "system_cpu_s": round(usage.ru_stime, 2),
                     "load_average_1m": round(load, 2), "peak_tree_rss_mb": round(tree.peak_bytes / 2**20, 1),
                     "processes": tree.most_processes})
    if proc.returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise SystemExit(f"run {kind} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return run


def run_mysqldump(scale: Scale, repetition: int, work: Path) -> Run:
    out = work / "dump.sql"
    argv = ["mysqldump", "-h127.0.0.1", "-P3306", "-uroot", "--single-transaction", scale.database, *TABLES]
    with out.open("wb") as handle:
        run = _measure("a_mysqldump", repetition, argv, dict(os.environ), handle)
    run.rows = scale.rows
    run.output_bytes = out.stat().st_size
    out.unlink()
    return run


def run_pg_dump(scale: Scale, repetition: int, work: Path) -> Run:
    """pg_dump's plain format (the tables' DDL, then each table's rows as one COPY), like mysqldump's."""
    out = work / "dump.sql"
    argv = ["pg_dump", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "--no-password",
            *(arg for table in TABLES for arg in ("-t", table)), scale.database]
    with out.open("wb") as handle:
        run = _measure("e_pg_dump", repetition, argv, dict(os.environ), handle, pg_database=scale.database)
    run.rows = scale.rows
    run.output_bytes = out.stat().st_size
    out.unlink()
    return run


def run_hfit(kind: str, template: str, scale: Scale, repetition: int, work: Path, *, postgres: bool = False,
             fast_read: bool = True) -> Run:
    store = work / "store"
    url = pg_url(scale) if postgres else f"mysql+pymysql://root@127.0.0.1:3306/{scale.database}?charset=utf8mb4"
    env = {**os.environ, "HFIT_HOME": str(work / "home"), "HFIT_STORE_DIR": str(store),
           "HFIT_MASKING_KEY": MASKING_KEY, "HFIT_TEMPLATES_DIR": str(TEMPLATES), "HFIT_PROVIDER_BENCH_URL": url,
           "HFIT_FAST_READ": "true" if fast_read else "false"}
    argv = [sys.executable, "-m", "hfit_dagster.cli.main", "build", str(TEMPLATES / f"{template}.yaml")]
    run = _measure(kind, repetition, argv, env, subprocess.DEVNULL, pg_database=scale.database if postgres else None)
    versions = sorted(p for p in (store / template).iterdir() if p.is_dir())
    package = versions[-1]
    manifest = json.loads((package / "manifest.json").read_text())
    run.rows = sum(t["rows"] for t in manifest["tables"])
    run.output_bytes = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    run.extra.update({
        "tables": {t["name"]: t["rows"] for t in manifest["tables"]},
        "sql_bytes": (package / "package.sql").stat().st_size,
        "checks": {name: bool(info.get("passed", True)) for name, info in manifest["checks"].items()
                   if isinstance(info, dict) and "passed" in info},
        "originals_searched": manifest["checks"].get("leak", {}).get("originals_searched"),
    })
    shutil.rmtree(store / template)
    return run


def summarize(runs: list[Run]) -> dict[str, Any]:
    walls = [r.wall_s for r in runs]
    wall = statistics.median(walls)
    rows = runs[0].rows
    out_bytes = statistics.median(r.output_bytes for r in runs)
    summary: dict[str, Any] = {
        "repetitions": len(runs),
        "wall_s_median": round(wall, 3),
        "wall_s_all": walls,
        "rows": rows,
        "rows_per_s": round(rows / wall) if wall else None,
        "output_bytes": int(out_bytes),
        "output_mb_per_s": round(out_bytes / 2**20 / wall, 1) if wall else None,
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "peak_rss_mb_median": statistics.median(r.peak_rss_mb for r in runs),
        "peak_tree_rss_mb": max(r.extra["peak_tree_rss_mb"] for r in runs),
        "user_cpu_s_median": statistics.median(r.extra["user_cpu_s"] for r in runs),
        "system_cpu_s_median": statistics.median(r.extra["system_cpu_s"] for r in runs),
    }
    if all(r.server_cpu_s is not None for r in runs):
        summary["server_cpu_s_median"] = statistics.median(r.server_cpu_s for r in runs)  # type: ignore[misc]
    summary["server_rows_read_median"] = statistics.median(r.server_rows_read or 0 for r in runs)
    if "tables" in runs[0].extra:
        summary["tables"] = runs[0].extra["tables"]
        summary["checks"] = runs[0].extra["checks"]
    return summary


def pair_ratios(runs: list[Run], numerator: str, denominator: str) -> list[float]:
    """Each repetition's own ratio of two runs made back to back (load changes between repetitions)."""
    walls = {(r.kind, r.repetition): r.wall_s for r in runs}
    reps = sorted({r.repetition for r in runs})
    return [round(walls[numerator, rep] / walls[denominator, rep], 2) for rep in reps
            if (numerator, rep) in walls and (denominator, rep) in walls]


def machine_info(sources: str) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        cpu = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        info["cpu"] = cpu.split(":", 1)[1].strip()
        info["memory_gib"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        import pyarrow

        info["pyarrow"] = pyarrow.__version__
    except ImportError:
        pass
    if any(letter in sources for letter in MYSQL_RUNS):
        with connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
            version, pool = cur.fetchone()
            info["mariadb"] = version
            info["innodb_buffer_pool_mb"] = int(pool) // 2**20
    if any(letter in sources for letter in PG_LETTERS):
        with pg_connect() as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            info["postgresql_shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                            text=True, check=True).stdout.strip()
        info["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--", "hfit_dagster", "bench"],
                                                cwd=REPO, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="default", choices=sorted(SCALES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", default=None, help="which runs: any of a-g (default: those of --source)")
    parser.add_argument("--source", default="both", choices=("mysql", "postgresql", "both"),
                        help="mysql: runs a-d, postgresql: runs e-f, both (default)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = {"mysql": MYSQL_RUNS, "postgresql": PG_RUNS, "both": MYSQL_RUNS + PG_RUNS}[args.source]
    scale = SCALES[args.scale]
    if shutil.which("mysqldump") is None and "a" in args.runs:
        raise SystemExit("mysqldump is not installed (apt-get install mariadb-client)")
    if shutil.which("pg_dump") is None and "e" in args.runs:
        raise SystemExit("pg_dump is not installed (apt-get install postgresql-client)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = RESULTS / "work" / scale.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generation_s = ensure_dataset(scale) if any(letter in args.runs for letter in MYSQL_RUNS) else 0.0
    if any(letter in args.runs for letter in PG_LETTERS):
        generation_s += ensure_pg_dataset(scale)
    plan = [("a", lambda rep: run_mysqldump(scale, rep, work)),
            ("b", lambda rep: run_hfit("b_hfit_full", "bench-full", scale, rep, work)),
            ("c", lambda rep: run_hfit("c_hfit_subset", "bench-subset", scale, rep, work)),
            ("d", lambda rep: run_hfit("d_hfit_structured", "bench-full-structured", scale, rep, work)),
            ("e", lambda rep: run_pg_dump(scale, rep, work)),
            ("f", lambda rep: run_hfit("f_hfit_full_pg", "bench-full", scale, rep, work, postgres=True)),
            ("g", lambda rep: run_hfit("g_hfit_full_pg_reference", "bench-full", scale, rep, work, postgres=True,
                                       fast_read=False))]
    runs: list[Run] = []
    for rep in range(1, args.repeat + 1):
        for letter, run in plan:
            if letter not in args.runs:
                continue
            result = run(rep)
            runs.append(result)
            cpu = result.extra["user_cpu_s"] + result.extra["system_cpu_s"]
            server = "" if result.server_cpu_s is None else f" + server {result.server_cpu_s:5.1f}"
            print(f"  [{rep}/{args.repeat}] {result.kind:18s} {result.wall_s:8.2f} s  {cpu:6.1f} s CPU{server}  "
                  f"{result.peak_rss_mb:7.1f} MB peak ({result.extra['peak_tree_rss_mb']:.0f} MB in "
                  f"{result.extra['processes']} processes)  {result.rows:>10,} rows  "
                  f"load {result.extra['load_average_1m']}",
                  flush=True)
    kinds = sorted({r.kind for r in runs})
    summary = {kind: summarize([r for r in runs if r.kind == kind]) for kind in kinds}
    result: dict[str, Any] = {
        "scale": scale.name,
        "dataset": {**asdict(scale), "database": scale.database, "version": DATASET_VERSION,
                    "generated_in_s": round(generation_s, 1) if generation_s else "reused"},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": summary,
        "all_runs": [asdict(r) for r in runs],
        "machine": machine_info(args.runs),
    }
    a, b, c = summary.get("a_mysqldump"), summary.get("b_hfit_full"), summary.get("c_hfit_subset")
    e, f = summary.get("e_pg_dump"), summary.get("f_hfit_full_pg")
    if a and b:
        result["ratio_vs_mysqldump"] = round(b["wall_s_median"] / a["wall_s_median"], 2)
        result["pair_ratios_vs_mysqldump"] = pair_ratios(runs, "b_hfit_full", "a_mysqldump")
    if b and c:
        result["subset_share"] = round(c["wall_s_median"] / b["wall_s_median"], 3)
    if e and f:
        result["ratio_vs_pg_dump"] = round(f["wall_s_median"] / e["wall_s_median"], 2)
        result["pair_ratios_vs_pg_dump"] = pair_ratios(runs, "f_hfit_full_pg", "e_pg_dump")
    if e and summary.get("g_hfit_full_pg_reference"):
        result["reference_path_ratio_vs_pg_dump"] = round(
            summary["g_hfit_full_pg_reference"]["wall_s_median"] / e["wall_s_median"], 2)
        result["pair_ratios_reference_path_vs_pg_dump"] = pair_ratios(runs, "g_hfit_full_pg_reference", "e_pg_dump")
    if f:
        result["postgresql"] = {"pg_dump_s_median": e["wall_s_median"] if e else None,
                                "hfit_s_median": f["wall_s_median"], "peak_rss_mb": f["peak_rss_mb"],
                                "peak_tree_rss_mb": f["peak_tree_rss_mb"]}
    if b:
        result["peak_rss_mb"] = b["peak_rss_mb"]
        result["peak_tree_rss_mb"] = b["peak_tree_rss_mb"]
        result["rows"] = b["rows"]
    elif runs:
        result["rows"] = runs[0].rows
    replace_run_results(args.out, result)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nscale {scale.name}: customers {scale.customers:,}, orders {scale.orders:,}, "
          f"order_items {scale.order_items:,} (median of {args.repeat})")
    print(f"{'run':18s} {'wall s':>8s} {'rows/s':>12s} {'MB/s':>7s} {'peak RSS MB':>12s} {'all processes':>14s} "
          f"{'rows':>12s}")
    for kind in kinds:
        s = summary[kind]
        print(f"{kind:18s} {s['wall_s_median']:8.2f} {s['rows_per_s']:>12,} {s['output_mb_per_s']:>7} "
              f"{s['peak_rss_mb']:>12} {s['peak_tree_rss_mb']:>14} {s['rows']:>12,}")
    if "ratio_vs_mysqldump" in result:
        print(f"ratio (b)/(a): {result['ratio_vs_mysqldump']:.2f}x (pairs {result['pair_ratios_vs_mysqldump']})   "
              f"peak RSS (b): {result['peak_rss_mb']} MB, {result['peak_tree_rss_mb']} MB with its analyzer process")
    if "subset_share" in result:
        print(f"subset share (c)/(b): {result['subset_share']:.3f}")
    if "ratio_vs_pg_dump" in result:
        print(f"ratio (f)/(e): {result['ratio_vs_pg_dump']:.2f}x (pairs {result['pair_ratios_vs_pg_dump']})   "
              f"peak RSS (f): {result['postgresql']['peak_rss_mb']} MB, {result['postgresql']['peak_tree_rss_mb']} MB "
              "with its analyzer process")
    print(f"written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
