"""Python code run in a fresh interpreter, for tests about what a process imports or compiles: which modules a
command or a build loaded is only visible in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import REPO


def run_python(code: str, *argv: str, env: dict[str, str] | None = None, stdin: str | None = None,
               timeout: float = 300) -> Any:
    """Run ``code`` (``python -c``, with ``argv``) from the repository with this environment plus ``env``; it must
    exit 0 and print JSON on its last line, which is returned."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run([sys.executable, "-c", code, *argv], input=stdin, capture_output=True, text=True,
                          env=environment, cwd=REPO, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
