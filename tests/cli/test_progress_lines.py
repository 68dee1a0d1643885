"""Progress off a terminal: plain timestamped lines, one per phase change or per second, each phase's last
update kept; ``hfit build`` writes them to stderr when stderr is not a terminal."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.cli.progress_lines import PlainProgress, progress_status

LINE = re.compile(r"^\[hfit \d\d:\d\d:\d\d\] \S")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain(clock: FakeClock) -> tuple[PlainProgress, list[str]]:
    lines: list[str] = []
    return PlainProgress(lines.append, clock=clock, wall_clock=lambda: datetime(2026, 1, 2, 12, 1, 3)), lines


def test_a_phase_change_always_prints_and_updates_within_a_second_are_held() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)
    progress.update("customers: querying")
    progress.update("customers: 5000 rows")    # same phase, same second: held
    clock.now = 0.5
    progress.update("customers: 10000 rows")   # held, replaces the one before
    clock.now = 1.2
    progress.update("customers: 15000 rows")   # a second after the last line: printed
    clock.now = 1.4
    progress.update("customers: 20000 rows")   # held ...
    progress.update("orders: querying")        # ... and written before the new phase's first line
    assert lines == [
        "[hfit 12:01:03] customers: querying",
        "[hfit 12:01:03] customers: 15000 rows",
        "[hfit 12:01:03] customers: 20000 rows",
        "[hfit 12:01:03] orders: querying",
    ]


def test_the_last_held_update_is_written_when_the_work_ends() -> None:
    clock = FakeClock()
    progress, lines = plain(clock)
    progress.update("orders: 100 rows")
    progress.update("orders: 200 rows")
    progress.flush()
    progress.flush()
    assert lines == ["[hfit 12:01:03] orders: 100 rows", "[hfit 12:01:03] orders: 200 rows"]


def test_progress_status_writes_plain_lines_to_a_console_that_is_not_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    with path.open("w") as log:
        console = Console(file=log, force_terminal=False)
        with progress_status(console, "building x…") as status:
            status.update("customers: 3 rows")
    lines = path.read_text().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["building x…", "customers: 3 rows"]
    assert all(LINE.match(line) for line in lines)


def test_hfit_build_logs_plain_progress_lines_on_a_non_terminal_stderr(hfit_home: Path) -> None:
    """CliRunner's stderr is not a terminal, as in CI: the build's phases show as lines, the path stays on stdout."""
    result = CliRunner().invoke(app, ["build", "integration-test-suite", "row_limit=5"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("[hfit ")]
    assert lines[0].endswith("] building integration-test-suite…")
    assert all(LINE.match(line) for line in lines)
    assert any(re.search(r"\] customers: \d+ rows$", line) for line in lines), lines
    assert not any("[hfit " in line for line in result.stdout.splitlines())
    assert Path(result.stdout.strip().splitlines()[-1]).is_dir()


def test_hfit_pkg_tmpl_plan_logs_plain_progress_lines_on_a_non_terminal_stderr(hfit_home: Path) -> None:
    """`hfit pkg-tmpl plan` in CI: each export's sampling and each table's classification show as lines on
    stderr while the plans (here JSON) stay alone on stdout."""
    result = CliRunner().invoke(app, ["pkg-tmpl", "plan", "integration-test-suite", "row_limit=5", "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("[hfit ")]
    assert lines[0].endswith("] sampling integration-test-suite and classifying columns…")
    assert all(LINE.match(line) for line in lines)
    assert any(line.endswith("] customers: sampling") for line in lines), lines
    planned = [m.group(1) for line in lines if (m := re.search(r"\] (\w+): \d+ of \d+ columns masked$", line))]
    document = json.loads(result.stdout)
    assert sorted(planned) == sorted(document["tables"])
