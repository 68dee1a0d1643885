"""Signed alert webhooks: ``X-Hfit-Signature: sha256=<hex>`` over ``"<timestamp>." + body``.

The timestamp (``X-Hfit-Timestamp``, Unix seconds) is part of what is signed and must be recent (at most
``max_skew`` seconds old, and at most ``MAX_FUTURE_SKEW`` seconds ahead of this server's clock), so a captured
request cannot be replayed later; comparison is constant-time. Within that window a replay is caught by the
receiver: an alert without an ``id`` is stored under its signature, so the same signed alert is stored once.
Senders compute::

    signature = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
"""

from __future__ import annotations

import hashlib
import hmac
import time

from hfit_dagster.errors import AuthError

SIGNATURE_HEADER = "X-Hfit-Signature"
TIMESTAMP_HEADER = "X-Hfit-Timestamp"
MAX_FUTURE_SKEW = 5  # seconds a sender's clock may run ahead of ours


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
    age = (now if now is not None else time.time()) - sent
    if age > max_skew:
        raise AuthError("alert signature is too old", hint="send alerts when they happen")
    if age < -MAX_FUTURE_SKEW:
        raise AuthError(f"alert timestamp is more than {MAX_FUTURE_SKEW} s in the future",
                        hint="check the sender's clock (NTP)")
    if not hmac.compare_digest(sign(secret, sent, body), signature.strip()):
        raise AuthError("alert signature does not match")
