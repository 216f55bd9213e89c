"""Opaque public ids: random, url-safe, never sequential, so an id says nothing about other records; and, for a
CRM's integer keys, a keyed permutation that needs no mapping table (OpaqueIds)."""

from __future__ import annotations

import hashlib
import hmac
import re

from portal_core.ports import Randomness

ID_BYTES = 12  # 96 bits, 16 characters


def command_line_safe(token: str) -> str:
    """A leading '-' would make an id read as an option on the command line (`portal file detach -x...`)."""
    return "_" + token[1:] if token.startswith("-") else token


def new_id(randomness: Randomness) -> str:
    return command_line_safe(randomness.token(ID_BYTES))


_ROUNDS = 4
_MASK = 0xFFFF_FFFF
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_LARGEST = 2**63  # keys are signed 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT)


class OpaqueIds:
    """Opaque public ids for a CRM's integer keys: a keyed permutation, so no mapping table and nothing sequential.

    A four-round Feistel network over 64 bits, with HMAC-SHA256 (keyed by a secret of this purpose) as its round
    function, turns each key into 16 hex characters that look random and reveal neither the key nor its neighbours,
    and turns them back without a lookup table. Each kind of record has its own tweak, so bill 7 and work order 7
    get unrelated ids, and an id of one kind is nothing (None) as another. For embedders (docs/embedding.md).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret(cls, secret: str, purpose: str = "portal opaque ids v1") -> OpaqueIds:
        """Ids keyed by a secret (PORTAL_SECRET_KEY will do) for one purpose: another purpose, other ids."""
        return cls(hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest())

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
