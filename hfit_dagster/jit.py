"""Compiled loops: numba functions that run without the GIL, for the few places numpy cannot vectorize.

Why numba: a handful of loops (walking MySQL packet headers, SipHash rounds) cost Python ~1 µs a step or
many numpy passes; compiled they take nanoseconds and release the GIL, so the reader, the masking and the
writers run side by side on the cores. numba ships wheels (no compiler at install time).

Compiling all of them takes ~20 s of CPU, so compiled code is cached on disk and loaded by later processes:
next to the module (``__pycache__``) where the install is writable, else in the user's cache directory
(``~/.cache/numba``), else in hfit's state directory (``$HFIT_HOME/numba-cache``: a read-only image whose
home is not writable either, with a volume for hfit's state). Only where none of those is writable does
every process compile again. The install compiles them all into that cache (``hfit_dagster.jit_warmup``), so
no build does.

numba itself (~0.1 s of CPU to import, ~0.15 s more for its target registries at the first compiled call, then
each cached function's load) is paid only by a process that calls a compiled function: :func:`compiled` gives a
:class:`LazyCompiled` that imports numba and makes its dispatcher at its first call, so a command that imports
hfit's compiled modules without calling them (``hfit doctor``, a template check, the service) imports no numba.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
STATE_CACHE = "numba-cache"
# every function made by `compiled`, so the install's warm-up can tell which it did not reach
COMPILED: list[LazyCompiled] = []


class LazyCompiled:
    """A compiled function whose numba dispatcher (and numba itself) is made at its first call. Inside another
    compiled function numba types it as that dispatcher (``_numba_type_``), so compiled code calls it compiled."""

    def __init__(self, function: Callable[..., Any]) -> None:
        functools.update_wrapper(self, function)
        self.py_func = function
        self._dispatcher: Any = None
        self._making = threading.Lock()

    @property
    def dispatcher(self) -> Any:
        """The numba dispatcher (numba imported and its cache directory chosen on the first call)."""
        if self._dispatcher is None:
            with self._making:  # threads reading and masking at once make one dispatcher
                if self._dispatcher is None:
                    self._dispatcher = _dispatcher(self.py_func)
        return self._dispatcher

    @property
    def signatures(self) -> list[Any]:
        """The compiled specializations this process has (none until the first call)."""
        return list(getattr(self._dispatcher, "signatures", ()))

    @property
    def _numba_type_(self) -> Any:
        return self.dispatcher._numba_type_

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher(*args)


def state_cache_dir() -> Path:
    """Where compiled code goes when neither the install nor the user's cache directory is writable: under
    hfit's state directory (``HFIT_HOME``, default ``.hfit`` as in the settings)."""
    return Path(os.environ.get("HFIT_HOME") or ".hfit") / STATE_CACHE


def _use_state_cache_dir(numba: Any) -> bool:
    """Point numba's cache at :func:`state_cache_dir` if it can be written; whether it was."""
    directory = state_cache_dir().resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(directory, os.W_OK):
        return False
    numba.config.CACHE_DIR = str(directory)
    return True


def compiled(function: F) -> F:
    """``function`` compiled without the GIL at its first call; its compiled code cached on disk (see the
    module docstring). Registered in :data:`COMPILED`."""
    lazy = LazyCompiled(function)
    COMPILED.append(lazy)
    return lazy  # type: ignore[return-value]


def _dispatcher(function: Callable[..., Any]) -> Any:
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # numba found no writable place of its own
        pass
    if not numba.config.CACHE_DIR and _use_state_cache_dir(numba):
        try:
            return numba.njit(nogil=True, cache=True)(function)
        except RuntimeError:
            pass
    return numba.njit(nogil=True)(function)
