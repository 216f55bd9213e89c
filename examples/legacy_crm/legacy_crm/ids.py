"""Opaque public ids for the CRM's integer keys: a keyed permutation, so no mapping table and nothing sequential.

The portal shows ids in URLs; the CRM's keys are 1, 2, 3... A four-round Feistel network over 64 bits, with
HMAC-SHA256 (keyed by a secret of this purpose) as its round function, turns each key into 16 hex characters that
look random and reveal neither the key nor its neighbours, and turns them back without a lookup table. Each kind of
record has its own tweak, so bill 7 and work order 7 get unrelated ids.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_ROUNDS = 4
_MASK = 0xFFFF_FFFF
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_LARGEST = 2**63  # keys are signed 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT)


class PublicIds:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret(cls, secret: str) -> PublicIds:
        return cls(hmac.new(secret.encode(), b"legacy crm public ids v1", hashlib.sha256).digest())

    def _round(self, kind: str, number: int, half: int) -> int:
        digest = hmac.new(self._key, f"{kind}:{number}:{half}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big")

    def public(self, kind: str, key: int) -> str:
        if not 0 <= key < _LARGEST:
            raise ValueError(f"{kind} key {key} does not fit a signed 64-bit column")
        left, right = key >> 32, key & _MASK
        for number in range(_ROUNDS):
            left, right = right, left ^ self._round(kind, number, right)
        return f"{(left << 32) | right:016x}"

    def key(self, kind: str, public_id: str | None) -> int | None:
        """The CRM key behind a public id of this kind; None for anything that is not one."""
        if not public_id or not _HEX16.match(public_id):
            return None
        value = int(public_id, 16)
        left, right = value >> 32, value & _MASK
        for number in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(kind, number, left), left
        key = (left << 32) | right
        # An id of another kind (or a made-up one) decodes to an arbitrary number: most of them past what an
        # integer column holds, which the database would refuse with an error rather than find nothing.
        return key if key < _LARGEST else None
