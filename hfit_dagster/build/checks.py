"""Which package checks must pass before publishing (shared by ``hfit build`` and Dagster)."""

from __future__ import annotations

from typing import Any


def check_outcomes(checks: dict[str, Any], follow_parents: bool) -> dict[str, tuple[bool, str]]:
    """``{check name: (passed, description)}`` for a staged build's recorded check results."""
    leak = checks.get("leak", {})
    fks = checks.get("foreign_keys", {})
    dangling = int(fks.get("dangling_references", 0))
    leak_ok = bool(leak.get("passed", False))
    return {
        "no_pii_leak": (
            leak_ok,
            f"{leak.get('originals_searched', 0)} original values searched"
            + ("" if leak_ok else f"; hits in {', '.join(leak.get('columns_with_hits', []))}"),
        ),
        "foreign_keys_satisfied": (
            dangling == 0 or not follow_parents,
            f"{dangling} referenced keys missing from the package"
            + ("" if follow_parents else " (follow_parents is off: not enforced)"),
        ),
    }


def failed_checks(checks: dict[str, Any], follow_parents: bool) -> list[str]:
    return [f"{name}: {text}" for name, (ok, text) in check_outcomes(checks, follow_parents).items() if not ok]
