"""Prints the fidelity matrix's figures after the run: per source x target, whether the package loaded and how
many kept values came back exactly."""

from __future__ import annotations

import pytest

from tests.fidelity.test_matrix import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fidelity matrix")
    loaded = sum(1 for f in FIGURES if f["loaded"])
    terminalreporter.write_line(f"packages loaded: {loaded}/{len(FIGURES)}")
    for f in sorted(FIGURES, key=lambda f: (f["source"], f["target"])):
        terminalreporter.write_line(
            f"{f['source']:>20} -> {f['target']:<10} loaded={'yes' if f['loaded'] else 'NO '} "
            f"values {f['equal']}/{f['compared']} equal; known {f['known']} (source side or target limit); "
            f"other {f['other']}"
            + (f" {sorted(f['known_columns'])}" if f.get("known_columns") else "")
            + (f"  ({f['note']})" if f.get("note") else ""))
