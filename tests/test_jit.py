"""Compiled code is cached on disk even where the install and the user's home are read-only: the next process
loads it from hfit's state directory instead of compiling again (seconds per function)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

MODULE = """
from hfit_dagster.jit import compiled


@compiled
def triple(value):
    return 3 * value


print("result", triple(14))
"""
# a directory nobody can create anything in, root included
UNWRITABLE = "/proc/self/hfit-no-such-directory"


def _run(module_dir: Path, hfit_home: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("XDG_CACHE_HOME", "NUMBA_CACHE_DIR")}
    env.update({"HOME": UNWRITABLE, "HFIT_HOME": hfit_home, "NUMBA_DEBUG_CACHE": "1",
                "PYTHONPATH": os.pathsep.join([str(module_dir), str(REPO)])})
    done = subprocess.run([sys.executable, "-c", "import compiled_probe"], capture_output=True, text=True, env=env,
                          cwd=module_dir, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "result 42" in done.stdout
    return done.stdout


@pytest.fixture
def read_only_module(tmp_path: Path) -> Path:
    """A module whose ``__pycache__`` cannot be created (a file has its name), like a read-only install."""
    module_dir = tmp_path / "site"
    module_dir.mkdir()
    (module_dir / "compiled_probe.py").write_text(MODULE)
    (module_dir / "__pycache__").write_text("not a directory")
    return module_dir


def test_compiled_code_goes_to_the_state_directory_when_nothing_else_is_writable(read_only_module: Path,
                                                                                 tmp_path: Path) -> None:
    """With neither the module's directory nor the home writable, the first process compiles and saves under
    ``$HFIT_HOME/numba-cache``; the second loads it from there and compiles nothing."""
    home = tmp_path / "state"
    first = _run(read_only_module, str(home))
    assert "data saved" in first
    assert list((home / "numba-cache").rglob("*.nbi"))
    second = _run(read_only_module, str(home))
    assert "data loaded" in second
    assert "data saved" not in second


def test_compiled_code_still_runs_when_no_place_is_writable(read_only_module: Path) -> None:
    """Without any writable place the function is compiled in each process and still gives its result."""
    output = _run(read_only_module, UNWRITABLE)
    assert "data saved" not in output
