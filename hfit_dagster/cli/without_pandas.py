"""``hfit build`` runs without pandas: pyarrow imports it (~0.3 s of CPU) to recognise pandas objects the first
time it infers a type or turns an array into numpy, and tries again at every such call while the import fails;
a build hands it none (hfit never uses pandas). A process that declines pandas saves that import.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


class _DeclinePandas(MetaPathFinder):
    """An import finder under which ``import pandas`` raises ImportError (pyarrow then goes without it)."""

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ImportError("pandas is not imported by an `hfit build` process (hfit_dagster/cli/without_pandas.py)",
                              name=fullname)
        return None


def decline_pandas() -> None:
    """From now on in this process, ``import pandas`` fails unless pandas is imported already (then nothing
    changes). For a process that only builds: a library of its own that needs pandas would fail to import it."""
    if "pandas" in sys.modules or any(isinstance(finder, _DeclinePandas) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeclinePandas())
