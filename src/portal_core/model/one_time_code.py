"""One-time sign-in codes: six digits, kept only as a keyed hash, valid 10 minutes, once, for 5 tries."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac

import attrs

CODE_LIFETIME = dt.timedelta(minutes=10)
MAX_FAILED_ATTEMPTS = 5
CODE_DIGITS = 6


class CodeStatus(enum.StrEnum):
    ACTIVE = "active"
    USED = "used"
    DEAD = "dead"  # superseded by a newer code, or too many wrong tries
    UNDELIVERED = "undelivered"  # the mail relay refused it: nobody received it, so nobody may use it


@attrs.frozen
class CodeHasher:
    """Keyed hash of codes (HMAC-SHA256). The key is this purpose's own, derived from the portal secret."""

    key: bytes = attrs.field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> CodeHasher:
        return cls(hmac.new(secret.encode(), b"portal one-time sign-in code v1", hashlib.sha256).digest())

    def hash(self, code_id: str, code: str) -> str:
        return hmac.new(self.key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def matches(self, code_id: str, code: str, code_hash: str) -> bool:
        return hmac.compare_digest(self.hash(code_id, code), code_hash)


@attrs.define(kw_only=True)
class OneTimeCode:
    id: str
    contact_id: str
    company_id: str
    # A keyed hash of the sign-in flow (the browser's form cookie) that asked for it: only that flow may use it.
    flow_key: str = attrs.field(repr=False)
    code_hash: str = attrs.field(repr=False)
    issued_at: dt.datetime
    expires_at: dt.datetime
    failed_attempts: int = 0
    status: CodeStatus = CodeStatus.ACTIVE

    @classmethod
    def issue(cls, *, id: str, contact_id: str, company_id: str, flow_key: str, code: str, hasher: CodeHasher,
              now: dt.datetime) -> OneTimeCode:
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise ValueError("a code is six digits")
        return cls(id=id, contact_id=contact_id, company_id=company_id, flow_key=flow_key,
                   code_hash=hasher.hash(id, code), issued_at=now, expires_at=now + CODE_LIFETIME)

    def is_usable(self, now: dt.datetime) -> bool:
        return self.status == CodeStatus.ACTIVE and now < self.expires_at and self.failed_attempts < MAX_FAILED_ATTEMPTS

    def try_code(self, code: str, hasher: CodeHasher, now: dt.datetime) -> bool:
        """One attempt: True uses the code up; False counts a wrong try (the fifth kills the code)."""
        if not self.is_usable(now):
            return False
        if hasher.matches(self.id, code, self.code_hash):
            self.status = CodeStatus.USED
            return True
        self.failed_attempts += 1
        if self.failed_attempts >= MAX_FAILED_ATTEMPTS:
            self.status = CodeStatus.DEAD
        return False

    def end(self) -> None:
        if self.status == CodeStatus.ACTIVE:
            self.status = CodeStatus.DEAD
