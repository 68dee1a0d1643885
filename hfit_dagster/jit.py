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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numba
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])
STATE_CACHE = "numba-cache"
# every function made by `compiled` (numba dispatchers), so the install's warm-up can tell which it did not reach
COMPILED: list[Any] = []


def state_cache_dir() -> Path:
    """Where compiled code goes when neither the install nor the user's cache directory is writable: under
    hfit's state directory (``HFIT_HOME``, default ``.hfit`` as in the settings)."""
    return Path(os.environ.get("HFIT_HOME") or ".hfit") / STATE_CACHE


def _use_state_cache_dir() -> bool:
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
    """``function`` compiled without the GIL; its compiled code cached on disk (see the module docstring).
    Registered in :data:`COMPILED`."""
    dispatcher = _dispatcher(function)
    COMPILED.append(dispatcher)
    return dispatcher  # type: ignore[no-any-return]


def _dispatcher(function: Callable[..., Any]) -> Any:
    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:  # numba found no writable place of its own
        pass
    if not numba.config.CACHE_DIR and _use_state_cache_dir():
        try:
            return njit(nogil=True, cache=True)(function)
        except RuntimeError:
            pass
    return njit(nogil=True)(function)
