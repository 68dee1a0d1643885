"""Text sealed with the masking key: what hfit stores or hands to Dagster that may name someone (a build's
parameters, an alert's payload) as text only the holders of ``HFIT_MASKING_KEY`` can open or alter.

AES-256-GCM under a key derived by HKDF-SHA256 from the masking key with a label of each use (so one use's text
never opens as another's), a random 96-bit nonce per text, and the associated data the caller binds it to (the
template, the alert's row): a text moved to another binding does not open. The text is the use's prefix and the
URL-safe base64 of nonce and ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class NotOpened(Exception):
    """The text does not open: another masking key, another binding, or an altered or truncated text."""


@dataclass(frozen=True)
class Sealer:
    """Seals and opens the texts of one use: ``prefix`` marks them, ``key_label`` derives their key."""

    prefix: str
    key_label: bytes

    def _cipher(self, masking_key: bytes) -> AESGCM:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.key_label).derive(masking_key)
        return AESGCM(key)

    def is_sealed(self, text: str) -> bool:
        return text.startswith(self.prefix)

    def seal(self, data: bytes, masking_key: bytes, bound: bytes) -> str:
        """``data`` as sealed text, opening only with ``masking_key`` and the binding ``bound``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher(masking_key).encrypt(nonce, data, bound)
        return self.prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, text: str, masking_key: bytes, *bounds: bytes) -> bytes:
        """The data ``seal`` sealed under the first of ``bounds`` it opens with; NotOpened when none does (or
        ``text`` is not this use's sealed text)."""
        if not self.is_sealed(text):
            raise NotOpened(f"not a text sealed as {self.prefix}...")
        try:
            raw = base64.urlsafe_b64decode(text[len(self.prefix):].encode("ascii"))
        except (ValueError, binascii.Error):
            raise NotOpened("not base64") from None
        cipher = self._cipher(masking_key)
        for bound in bounds:
            try:
                return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound)
            except (InvalidTag, ValueError):
                continue
        raise NotOpened("does not open with this key for this binding")
