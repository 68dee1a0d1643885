"""Sealed build parameters and sealed alert payloads under tampering: every altered text (a byte flipped, cut,
lengthened, its base64 broken, characters outside ASCII, the prefix alone) is a BuildError naming no value, never
another exception whose message or traceback could carry the text, unless base64 decodes it to the very bytes
sealed (a character it skips, the unused bits of the last one) and it opens to the very values; and sealing the
same values twice gives different texts (a random nonce each), so equal values cannot be told apart in run configs
or the alert table."""

from __future__ import annotations

import random

import pytest

from hfit_dagster.alerts.sealed_payload import SEALED_PREFIX as PAYLOAD_PREFIX
from hfit_dagster.alerts.sealed_payload import open_payload, seal_payload
from hfit_dagster.errors import BuildError
from hfit_dagster.orchestration.sealed_params import SEALED_PREFIX as PARAMS_PREFIX
from hfit_dagster.orchestration.sealed_params import open_params, seal_params

KEY = b"tests-masking-key-not-secret"
EMAIL = "erin.tampered@example.com"


def _alterations(sealed: str, prefix: str, rng: random.Random) -> list[str]:
    body = sealed[len(prefix):]
    out = [prefix, prefix + "=", prefix + body[:10], prefix + body[:-1], prefix + body + "AA", prefix + body + "é",
           prefix + "\x00" + body, prefix + body.replace("A", "-", 1), prefix + body[::-1]]
    for _ in range(150):
        at = rng.randrange(len(body))
        out.append(prefix + body[:at] + rng.choice("ABCDEFGHabcdefgh0123456789-_=+/é ") + body[at + 1:])
    return [text for text in out if text != sealed]


@pytest.mark.parametrize("kind", ["params", "payload"])
def test_every_altered_text_is_a_build_error_naming_no_value(kind: str) -> None:
    """A text altered anywhere fails to open with hfit's own error, which names no value, or opens to the values
    sealed (the alteration was in what base64 ignores)."""
    rng = random.Random(2026)
    if kind == "params":
        values: dict = {"who": EMAIL}
        sealed = seal_params("t", values, KEY)
        texts, opener = _alterations(sealed, PARAMS_PREFIX, rng), lambda text: open_params("t", text, KEY)
    else:
        values = {"customer": {"email": EMAIL}}
        sealed = seal_payload("pd-1", values, KEY, 7)
        texts, opener = _alterations(sealed, PAYLOAD_PREFIX, rng), lambda text: open_payload(7, "pd-1", text, KEY)
    assert len(texts) > 100
    refused = 0
    for text in texts:
        try:
            assert opener(text) == values
        except BuildError as exc:
            assert "erin" not in str(exc) and "erin" not in str(exc.hint)
            refused += 1
    assert refused > 0.9 * len(texts)


def test_sealing_equal_values_twice_gives_different_texts() -> None:
    """Two builds (or alerts) with the same values carry different sealed texts, each opening to the values."""
    first, second = seal_params("t", {"who": EMAIL}, KEY), seal_params("t", {"who": EMAIL}, KEY)
    assert first != second and open_params("t", first, KEY) == open_params("t", second, KEY) == {"who": EMAIL}
    one, other = (seal_payload("pd-1", {"e": EMAIL}, KEY, 7) for _ in range(2))
    assert one != other
