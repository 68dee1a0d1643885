"""Alert payloads sealed at rest: the state database keeps an alert's JSON encrypted, never readable.

An alert's payload names whom it is about (an e-mail, customer ids, a summary quoting them). The alert store keeps
it sealed with AES-256-GCM under a key derived by HKDF-SHA256 from the masking key with a label of its own (so a
sealed payload never opens as a build's sealed parameters, nor those as a payload), bound to the alert's row id and
source id (a payload moved or copied to another alert's row, one without a source id too, does not open, so no
alert's runs are asked again under another row); one sealed before the row id was bound (to the source id alone)
still opens until retention empties it. The API seals it as it stores the alert; the alert sensor,
which holds the same masking key, opens it in memory to match templates and derive run parameters.
"""

from __future__ import annotations

import json
from typing import Any

from hfit_dagster.errors import BuildError
from hfit_dagster.sealing import NotOpened, Sealer

SEALER = Sealer("hfit-sealed-alert-v1:", b"hfit/sealed-alert-payload")
SEALED_PREFIX = SEALER.prefix
_HINT = ("give the alert sensor's code location the HFIT_MASKING_KEY of the service that received the alerts, or "
         "have the alerts sent again")


def _bound_to(source_id: str | None, alert_id: int | None) -> bytes:
    if alert_id is None:
        return f"hfit/sealed-alert-payload/{source_id or ''}".encode()
    return json.dumps(["hfit/sealed-alert-payload", alert_id, source_id]).encode()


def is_sealed(stored: str) -> bool:
    return SEALER.is_sealed(stored)


def seal_payload(source_id: str | None, payload: dict[str, Any], masking_key: bytes,
                 alert_id: int | None = None) -> str:
    """``payload`` of the alert known as ``source_id`` (stored in row ``alert_id``, which the store always gives;
    without it, the older text bound to the source id alone) as text only the holders of ``masking_key`` open."""
    plain = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    return SEALER.seal(plain, masking_key, _bound_to(source_id, alert_id))


def open_payload(alert_id: int, source_id: str | None, sealed: str, masking_key: bytes) -> dict[str, Any]:
    """The payload ``seal_payload`` sealed; BuildError (naming the alert, never a value) when it does not open with
    this key for this alert: another masking key, another alert's payload, or an altered text."""
    if not is_sealed(sealed):
        raise BuildError(f"alert {alert_id}'s stored payload is not sealed ({SEALED_PREFIX}...)",
                         hint="start the hfit service once: it seals the payloads stored before they were sealed")
    try:
        # bound to its row, or (sealed before payloads were bound to their row) to the source id alone
        plain = SEALER.open(sealed, masking_key, _bound_to(source_id, alert_id), _bound_to(source_id, None))
    except NotOpened:
        raise BuildError(f"alert {alert_id}'s sealed payload does not open: sealed with another masking key, for "
                         "another alert, or altered", hint=_HINT) from None
    payload = json.loads(plain)
    if not isinstance(payload, dict):
        raise BuildError(f"alert {alert_id}'s sealed payload is not a JSON object", hint=_HINT)
    return payload
