"""Secrets at rest: provider credentials sealed with Fernet (AES-CBC + HMAC), keyed from PORTAL_SECRET_KEY."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal_core.errors import CredentialsUnreadable

# One key per purpose: the same PORTAL_SECRET_KEY signs forms and keys the throttle; HKDF keeps them apart.
_PURPOSE = b"portal payment provider credentials v1"


class FernetCredentialVault:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_secret(cls, secret: str, purpose: bytes = _PURPOSE) -> FernetCredentialVault:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode("utf-8"))
        return cls(base64.urlsafe_b64encode(derived))

    def seal(self, plain: bytes) -> str:
        return self._fernet.encrypt(plain).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            return self._fernet.decrypt(sealed.encode("ascii"))
        except (InvalidToken, ValueError):
            raise CredentialsUnreadable("the stored payment credentials cannot be read (was PORTAL_SECRET_KEY "
                                        "changed?); connect the provider again") from None

    def __repr__(self) -> str:
        return "FernetCredentialVault(<key hidden>)"
