"""numba is imported by the first call of a compiled loop, not by importing hfit: a command that loads the build's
modules without running a compiled loop (``hfit doctor``, a template check) does not pay numba's ~0.1 s import and
its ~0.15 s of target registries, while a loop that calls other compiled loops still runs compiled and gives the
same result as with compilation off (``NUMBA_DISABLE_JIT=1``)."""

from __future__ import annotations

import pytest

from tests.fresh_process import run_python

pytestmark = pytest.mark.slow

# SipHash-2-4 of the bytes 00..0e under the key 00..0f: the reference vector of the SipHash paper (appendix A)
PROBE = """
import json, sys
import numpy as np
import hfit_dagster.cli.main, hfit_dagster.extract.source, hfit_dagster.pipeline.local_build
from hfit_dagster.masking import vector_prf
before = "numba" in sys.modules
message = bytes(range(15))
words = np.array([[int.from_bytes(message[:8], "little"),
                   int.from_bytes(message[8:] + bytes([len(message)]), "little")]], dtype=np.uint64)
key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
digest = int(vector_prf.siphash_words(key, words)[0])
print(json.dumps({"before": before, "after": "numba" in sys.modules, "digest": f"{digest:016x}",
                  "compiled": bool(vector_prf._siphash_rows.signatures)}))
"""


def _probe(**env: str) -> dict[str, object]:
    return run_python(PROBE, env=env)


def test_importing_the_build_imports_no_numba_until_a_compiled_loop_runs() -> None:
    """The CLI, the sources and the build import no numba; SipHash (a compiled loop calling compiled rounds) then
    loads it, runs compiled and matches the paper's vector."""
    result = _probe()
    assert result == {"before": False, "after": True, "digest": "a129ca6149be45e5", "compiled": True}


def test_the_same_loop_with_compilation_off_gives_the_same_digest() -> None:
    """With ``NUMBA_DISABLE_JIT=1`` the loops run as plain Python through the same lazy functions."""
    result = _probe(NUMBA_DISABLE_JIT="1")
    assert result["before"] is False
    assert result["digest"] == "a129ca6149be45e5"
