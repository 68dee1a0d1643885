"""Turning HfitError into a clear message and an exit code, without a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hfit_dagster.errors import HfitError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
# piped output (a file, less, a test) is not squeezed into 80 columns
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
P = ParamSpec("P")
R = TypeVar("R")


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HfitError as exc:
            stderr.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True)
            if exc.hint:
                stderr.print(f"[dim]hint:[/] {escape(exc.hint)}", markup=True, soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper
