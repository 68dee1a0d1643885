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

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hfit_dagster.errors import BuildError

SEALED_PREFIX = "hfit-sealed-alert-v1:"
_KEY_LABEL = b"hfit/sealed-alert-payload"
_NONCE_BYTES = 12
_HINT = ("give the alert sensor's code location the HFIT_MASKING_KEY of the service that received the alerts, or "
         "have the alerts sent again")


def _cipher(masking_key: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(masking_key)
    return AESGCM(key)


def _bound_to(source_id: str | None, alert_id: int | None) -> bytes:
    if alert_id is None:
        return f"hfit/sealed-alert-payload/{source_id or ''}".encode()
    return json.dumps(["hfit/sealed-alert-payload", alert_id, source_id]).encode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seal_payload(source_id: str | None, payload: dict[str, Any], masking_key: bytes,
                 alert_id: int | None = None) -> str:
    """``payload`` of the alert known as ``source_id`` (stored in row ``alert_id``, which the store always gives;
    without it, the older text bound to the source id alone) as text only the holders of ``masking_key`` open."""
    nonce = os.urandom(_NONCE_BYTES)
    plain = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    sealed = _cipher(masking_key).encrypt(nonce, plain, _bound_to(source_id, alert_id))
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_payload(alert_id: int, source_id: str | None, sealed: str, masking_key: bytes) -> dict[str, Any]:
    """The payload ``seal_payload`` sealed; BuildError (naming the alert, never a value) when it does not open with
    this key for this alert: another masking key, another alert's payload, or an altered text."""
    if not is_sealed(sealed):
        raise BuildError(f"alert {alert_id}'s stored payload is not sealed ({SEALED_PREFIX}...)",
                         hint="start the hfit service once: it seals the payloads stored before they were sealed")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX):].encode("ascii"))
        cipher = _cipher(masking_key)
        try:
            plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(source_id, alert_id))
        except InvalidTag:  # sealed before payloads were bound to their row: bound to the source id alone
            plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(source_id, None))
    except (InvalidTag, ValueError, binascii.Error):
        raise BuildError(f"alert {alert_id}'s sealed payload does not open: sealed with another masking key, for "
                         "another alert, or altered", hint=_HINT) from None
    payload = json.loads(plain)
    if not isinstance(payload, dict):
        raise BuildError(f"alert {alert_id}'s sealed payload is not a JSON object", hint=_HINT)
    return payload
