"""A sealed alert payload opens only where it belongs: with the masking key it was sealed under, for the alert it
was sealed for, and never as a build's sealed parameters (nor those as a payload); a refusal names the alert, never
a value of its payload."""

from __future__ import annotations

import pytest

from hfit_dagster.alerts.sealed_payload import SEALED_PREFIX, open_payload, seal_payload
from hfit_dagster.errors import BuildError
from hfit_dagster.orchestration.sealed_params import SEALED_PREFIX as PARAMS_PREFIX
from hfit_dagster.orchestration.sealed_params import open_params, seal_params

KEY = b"tests-masking-key-not-secret"
PAYLOAD = {"service": "payments", "customer": {"email": "erin.sealed@example.com"}, "customer_ids": [10007]}


def test_a_payload_opens_with_its_key_for_its_alert() -> None:
    """What the API sealed is what the sensor opens, and the sealed text holds none of it."""
    sealed = seal_payload("pd-1", PAYLOAD, KEY)
    assert "erin" not in sealed and "10007" not in sealed
    assert open_payload(7, "pd-1", sealed, KEY) == PAYLOAD


@pytest.mark.parametrize(("source_id", "key"), [("pd-2", KEY), ("pd-1", b"another-masking-key")])
def test_a_payload_moved_to_another_alert_or_opened_with_another_key_is_refused(source_id: str, key: bytes) -> None:
    """A payload copied into another alert's row, or read with another masking key, does not open; the error
    names the alert and how to fix it, not the payload."""
    sealed = seal_payload("pd-1", PAYLOAD, KEY)
    with pytest.raises(BuildError, match="alert 7's sealed payload does not open") as refused:
        open_payload(7, source_id, sealed, key)
    assert "erin" not in str(refused.value) and refused.value.hint


def test_payloads_and_build_parameters_do_not_open_as_each_other() -> None:
    """The two seals derive keys of their own from one masking key (HKDF labels): a payload given as a build's
    sealed parameters, or the other way round, does not open, with the same masking key and the same name."""
    payload = seal_payload("alert-contact", {"contact": "erin.sealed@example.com"}, KEY)
    with pytest.raises(BuildError, match="do not open"):
        open_params("alert-contact", PARAMS_PREFIX + payload.removeprefix(SEALED_PREFIX), KEY)
    params = seal_params("alert-contact", {"contact": "erin.sealed@example.com"}, KEY)
    with pytest.raises(BuildError, match="does not open"):
        open_payload(7, "alert-contact", SEALED_PREFIX + params.removeprefix(PARAMS_PREFIX), KEY)
