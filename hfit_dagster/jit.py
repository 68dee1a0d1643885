"""Compiled loops: numba functions that run without the GIL, for the few places numpy cannot vectorize.

Why numba: a handful of loops (walking MySQL packet headers, SipHash rounds) cost Python ~1 µs a step or
many numpy passes; compiled they take nanoseconds and release the GIL, so the reader, the masking and the
writers run side by side on the cores. numba ships wheels (no compiler at install time); compiled code is
cached on disk next to the module (``__pycache__``) where that is writable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])


def compiled(function: F) -> F:
    """``function`` compiled without the GIL; cached on disk where numba finds a writable place."""
    try:
        return njit(nogil=True, cache=True)(function)  # type: ignore[no-any-return]
    except RuntimeError:  # no writable cache location (a read-only install): compile once per process
        return njit(nogil=True)(function)  # type: ignore[no-any-return]
