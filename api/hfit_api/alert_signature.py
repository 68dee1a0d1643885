"""Signed alert webhooks: ``X-Hfit-Signature: sha256=<hex>`` over ``"<timestamp>." + body``.

The timestamp (``X-Hfit-Timestamp``, Unix seconds) is part of what is signed and must be recent, so a
captured request cannot be replayed later; comparison is constant-time. Senders compute::

    signature = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
"""

from __future__ import annotations

import hashlib
import hmac
import time

from hfit_dagster.errors import AuthError

SIGNATURE_HEADER = "X-Hfit-Signature"
TIMESTAMP_HEADER = "X-Hfit-Timestamp"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, max_skew: int,
           now: float | None = None) -> None:
    """Raise AuthError unless ``signature`` signs ``body`` at a recent ``timestamp`` with ``secret``."""
    if not timestamp or not signature:
        raise AuthError(f"alert is not signed: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required",
                        hint="sign the body with the shared alert secret (see docs/service.md)")
    try:
        sent = int(timestamp)
    except ValueError:
        raise AuthError(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs((now if now is not None else time.time()) - sent) > max_skew:
        raise AuthError("alert signature is too old or from the future", hint="send alerts when they happen")
    if not hmac.compare_digest(sign(secret, sent, body), signature.strip()):
        raise AuthError("alert signature does not match")
