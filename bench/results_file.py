"""``bench/results/latest.json``, which several benchmarks write: each owns some keys and keeps the others.

``bench/run.py`` owns every key but those of the other benchmarks (prefixes in ``OTHER_BENCHMARKS``), so a
new ``make bench`` replaces its own figures whole and keeps, say, ``small_subset_s`` from
``bench/small_subset.py``; the other benchmarks update only their own keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# key prefixes written by benchmarks other than bench/run.py
OTHER_BENCHMARKS = ("small_subset", "unique_texts")


def read_results(path: Path) -> dict[str, Any]:
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return current if isinstance(current, dict) else {}


def merge_results(path: Path, updates: dict[str, Any]) -> None:
    """Write ``updates`` into the JSON object at ``path``, keeping its other keys (read, update, replace)."""
    current = read_results(path)
    current.update(updates)
    _replace(path, current)


def replace_run_results(path: Path, result: dict[str, Any]) -> None:
    """Write ``bench/run.py``'s ``result`` as the whole file but for the other benchmarks' keys."""
    kept = {key: value for key, value in read_results(path).items() if key.startswith(OTHER_BENCHMARKS)}
    _replace(path, {**result, **kept})


def _replace(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n")
    temporary.replace(path)
