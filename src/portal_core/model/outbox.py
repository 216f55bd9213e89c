"""The mail outbox: every email the portal sends, stored in the transaction that causes it and delivered after.

A message is claimed by one dispatcher at a time (a lease), tried, and then either sent, or scheduled again with
backoff, or failed for good once its time is up. It keeps one Message-ID across every try, so a relay or a mailbox
that sees it twice (a dispatcher killed between the relay's "OK" and the commit) can tell.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

import attrs

from portal_core.model.mail import Email

# After the first failed try, the next ones come after these waits; then hourly until the message's time is up.
BACKOFF = (dt.timedelta(seconds=10), dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10))
THEN_EVERY = dt.timedelta(hours=1)
RETRY_FOR = dt.timedelta(hours=24)  # how long an ordinary message is retried
# How long a claimed message is left to its dispatcher: longer than any relay timeout, so a slow send is never
# taken over by a second dispatcher; a dispatcher that died gives its messages back when its lease runs out.
CLAIM_LEASE = dt.timedelta(minutes=2)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class MailPurpose(enum.StrEnum):
    SIGN_IN_CODE = "sign_in_code"
    DOCUMENT_NOTICE = "document_notice"
    OVERDUE_REMINDER = "overdue_reminder"
    NEW_REQUEST = "new_request"
    PAYMENT_RECEIPT = "payment_receipt"


def next_wait(attempts: int) -> dt.timedelta:
    """The wait after the attempts-th failed try (1 for the first)."""
    return BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else THEN_EVERY


@attrs.define(kw_only=True)
class Tries:
    """What every outbox entry shares (a message here, a webhook delivery in model/webhook.py): claimed by one
    dispatcher at a time, tried, then done, or scheduled again with backoff, or failed once its time is up."""

    created_at: dt.datetime
    give_up_at: dt.datetime  # no try after this
    next_attempt_at: dt.datetime
    status: OutboxStatus = attrs.field(default=OutboxStatus.PENDING, converter=OutboxStatus)
    attempts: int = 0
    claimed_until: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    last_error: str = ""
    retry_for: ClassVar[dt.timedelta] = RETRY_FOR  # how long a failed entry put back in the queue is tried again

    def is_due(self, now: dt.datetime) -> bool:
        return (self.status == OutboxStatus.PENDING and self.next_attempt_at <= now
                and (self.claimed_until is None or self.claimed_until <= now))

    def claim(self, now: dt.datetime) -> None:
        self.claimed_until = now + CLAIM_LEASE

    def sent(self, now: dt.datetime) -> None:
        self.status, self.sent_at, self.claimed_until = OutboxStatus.SENT, now, None
        self.attempts += 1

    def try_failed(self, now: dt.datetime, problem: str) -> None:
        """Schedules the next try, or fails the entry for good when the next one would come too late."""
        self.attempts += 1
        self.last_error = problem
        self.claimed_until = None
        following = now + next_wait(self.attempts)
        if following > self.give_up_at:
            self.status = OutboxStatus.FAILED
        else:
            self.next_attempt_at = following

    def give_up(self, now: dt.datetime, reason: str) -> None:
        """Failed without a try: it must not be sent any more."""
        self.status, self.last_error, self.claimed_until = OutboxStatus.FAILED, reason, None

    def retry(self, now: dt.datetime) -> None:
        """A failed entry back in the queue, with a fresh day of tries."""
        self.status, self.next_attempt_at, self.claimed_until = OutboxStatus.PENDING, now, None
        self.give_up_at = max(self.give_up_at, now + self.retry_for)


@attrs.define(kw_only=True)
class OutboxMessage(Tries):
    id: str
    message_id: str  # the RFC 5322 Message-ID, the same on every try
    email: Email
    purpose: MailPurpose = attrs.field(converter=MailPurpose)
    # What the message is about, for the audit entry of each try and for the sign-in flow (never an address).
    company_id: str | None = None
    contact_id: str | None = None
    subject_ref: str = ""  # e.g. "code:<id>", "invoice:<id>"
    audit_action: str = ""  # "<action>_sent" / "<action>_failed" is audited after each try, when set
    audit_detail: str = ""

    @classmethod
    def queue(cls, *, id: str, message_id: str, email: Email, purpose: MailPurpose, now: dt.datetime,
              give_up_at: dt.datetime | None = None, company_id: str | None = None, contact_id: str | None = None,
              subject_ref: str = "", audit_action: str = "", audit_detail: str = "") -> OutboxMessage:
        return cls(id=id, message_id=message_id, email=email, purpose=purpose, created_at=now,
                   give_up_at=give_up_at or now + RETRY_FOR, next_attempt_at=now, company_id=company_id,
                   contact_id=contact_id, subject_ref=subject_ref, audit_action=audit_action,
                   audit_detail=audit_detail)
