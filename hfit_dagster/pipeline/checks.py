"""Which package checks must pass before publishing (shared by ``hfit build`` and Dagster)."""

from __future__ import annotations

from typing import Any


def check_outcomes(checks: dict[str, Any], follow_parents: bool) -> dict[str, tuple[bool, str]]:
    """``{check name: (passed, description)}`` for a staged build's recorded check results."""
    leak = checks.get("leak", {})
    fks = checks.get("foreign_keys", {})
    dangling = int(fks.get("dangling_references", 0))
    leak_ok = bool(leak.get("passed", False))
    counts = checks.get("row_counts", {"passed": True})
    return {
        "row_counts_within_bounds": (
            bool(counts.get("passed", True)),
            "rows per export within the template's min_rows/max_rows"
            + "".join(f"; {name}: {info['rows']} rows" for name, info in counts.get("outside_bounds", {}).items()),
        ),
        "no_pii_leak": (
            leak_ok,
            f"{leak.get('originals_searched', 0)} original values searched"
            + ("" if leak_ok else f"; hits in {', '.join(leak.get('columns_with_hits', []))}"),
        ),
        "foreign_keys_satisfied": (
            dangling == 0 or not follow_parents,
            f"{dangling} referenced keys missing from the package"
            + "".join(f"; {count} of {parent}" for parent, count in sorted(fks.get("by_parent", {}).items()))
            + ("" if follow_parents else " (follow_parents is off: not enforced)"),
        ),
    }


def drift_note(checks: dict[str, Any]) -> str:
    """The schema-drift check (a warning, never blocking): new source columns held masked."""
    drift = checks.get("schema_drift", {})
    new = drift.get("new_columns", {})
    if not drift.get("compared"):
        return "no previous package to compare with"
    if not new:
        return "same columns as the previous package"
    return "new columns masked until reviewed: " + ", ".join(f"{t}.{c}" for t, cols in new.items() for c in cols)


def failed_checks(checks: dict[str, Any], follow_parents: bool) -> list[str]:
    return [f"{name}: {text}" for name, (ok, text) in check_outcomes(checks, follow_parents).items() if not ok]
