"""Mail through the outbox: queued in the transaction that causes it, delivered after commit by any dispatcher.

A transaction that rolls back sends nothing (its messages roll back with it); a process that dies after the commit
loses nothing (the messages are in the database). Any number of dispatchers, in any number of processes and hosts,
may run `dispatch` against one database: each message is claimed by one of them at a time and sent once. A message
the relay refuses is tried again with backoff (model/outbox.py) until its time is up, then marked failed; a sign-in
code's message is tried only while its code is valid, and a code whose message failed for good can never be used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

from portal_core import records
from portal_core.errors import DeliveryFailed
from portal_core.ids import new_id
from portal_core.model.mail import Email
from portal_core.model.one_time_code import CodeStatus
from portal_core.model.outbox import MailPurpose, OutboxMessage, OutboxStatus
from portal_core.ports import Clock, EmailSender, Randomness, UnitOfWork

DISPATCH_BATCH = 20
CODE_REF = "code:"


@attrs.frozen(kw_only=True)
class Attempt:
    """One try of one message: delivered to the relay, or the relay's reason for refusing it."""

    message_id: str  # the outbox id
    contact_id: str | None
    to: str
    problem: str | None = None
    status: OutboxStatus = OutboxStatus.PENDING  # the message's state after this try

    @property
    def delivered(self) -> bool:
        return self.problem is None


def enqueue(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, email: Email, purpose: MailPurpose,
            give_up_at: dt.datetime | None = None, company_id: str | None = None, contact_id: str | None = None,
            subject_ref: str = "", audit_action: str = "", audit_detail: str = "") -> str:
    """Stores a message in the open transaction (it goes out only if that commits); returns its outbox id."""
    message_key = new_id(randomness)
    domain = (email.reply_to or "").rpartition("@")[2] or "portal.invalid"
    uow.outbox.add(OutboxMessage.queue(
        id=message_key, message_id=f"<{message_key}.{new_id(randomness)}@{domain}>", email=email, purpose=purpose,
        now=clock.now(), give_up_at=give_up_at, company_id=company_id, contact_id=contact_id,
        subject_ref=subject_ref, audit_action=audit_action, audit_detail=audit_detail))
    return message_key


def dispatch(uow: UnitOfWork, *, sender: EmailSender, clock: Clock, randomness: Randomness,
             ids: Sequence[str] | None = None, limit: int = DISPATCH_BATCH) -> list[Attempt]:
    """Claims up to limit due messages (only those of ids, when given), tries each once, records each outcome.

    The relay is called outside any transaction: a slow relay holds no lock, and the claim (a lease) keeps other
    dispatchers off the message meanwhile. Raises nothing for a refused message: that is an Attempt's problem.
    """
    attempts: list[Attempt] = []
    with uow:
        now = clock.now()
        claimed = []
        for message in uow.outbox.claim_due(now, limit=limit, ids=ids):
            stale = _stale(uow, message, now)
            if stale:  # never sent: too late, or about a code that can no longer be used
                message.give_up(now, stale)
                uow.outbox.update(message)
                attempts.append(Attempt(message_id=message.id, contact_id=message.contact_id, to=message.email.to,
                                        problem=stale, status=message.status))
            else:
                claimed.append(message)
        uow.commit()
    for message in claimed:
        try:
            sender.send(attrs.evolve(message.email, message_id=message.message_id))
            problem: str | None = None
        except DeliveryFailed as exc:
            problem = str(exc)
        attempts.append(_record(uow, clock=clock, randomness=randomness, message=message, problem=problem))
    return attempts


def _stale(uow: UnitOfWork, message: OutboxMessage, now: dt.datetime) -> str:
    """Why a due message must not be sent at all ('' when it may): its time is up (no dispatcher ran for that
    long), or it carries a sign-in code that was used, replaced or has expired meanwhile."""
    if now > message.give_up_at:
        return "its time ran out before it could be sent"
    if message.subject_ref.startswith(CODE_REF):
        code = uow.codes.get(message.subject_ref[len(CODE_REF):])
        if code is None or not code.is_usable(now):
            return "its sign-in code can no longer be used"
    return ""


def _record(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, message: OutboxMessage,
            problem: str | None) -> Attempt:
    with uow:
        # Recorded on the message as claimed, not read again: the claim (a lease) kept every other dispatcher off it
        # since (a sign-in's mail is two statements fewer).
        now = clock.now()
        if problem is None:
            message.sent(now)
        else:
            message.try_failed(now, problem)
        uow.outbox.update(message)
        if message.audit_action:
            # The detail names the document, never the address (the contact id says who).
            outcome = "_sent" if problem is None else "_failed"
            records.audit(uow, randomness=randomness, at=now, action=message.audit_action + outcome,
                          company_id=message.company_id, contact_id=message.contact_id,
                          detail=message.audit_detail + (f": {problem}" if problem else ""))
        if message.status == OutboxStatus.FAILED and message.subject_ref.startswith(CODE_REF):
            _code_undelivered(uow, randomness=randomness, now=now, code_id=message.subject_ref[len(CODE_REF):])
        uow.commit()
    return Attempt(message_id=message.id, contact_id=message.contact_id, to=message.email.to, problem=problem,
                   status=message.status)


def _code_undelivered(uow: UnitOfWork, *, randomness: Randomness, now: dt.datetime, code_id: str) -> None:
    """Nobody received the code: nobody may use it."""
    code = uow.codes.get(code_id)
    if code is not None and code.status == CodeStatus.ACTIVE:
        code.status = CodeStatus.UNDELIVERED
        uow.codes.update(code)
        records.audit(uow, randomness=randomness, at=now, action="code_undelivered", company_id=code.company_id,
                      contact_id=code.contact_id)


def dispatch_due(uow: UnitOfWork, *, sender: EmailSender, clock: Clock, randomness: Randomness,
                 max_batches: int = 50) -> int:
    """Sends what is due now, batch after batch, until nothing is left (or max_batches); returns how many it tried."""
    tried = 0
    for _ in range(max_batches):
        attempts = dispatch(uow, sender=sender, clock=clock, randomness=randomness)
        tried += len(attempts)
        if len(attempts) < DISPATCH_BATCH:
            break
    return tried


def mail_status(uow: UnitOfWork) -> dict[OutboxStatus, int]:
    """How many messages are pending, sent and failed (every state named, zeros included)."""
    with uow:
        counts = uow.outbox.counts()
    return {status: counts.get(status, 0) for status in OutboxStatus}


def retry_failed(uow: UnitOfWork, *, clock: Clock) -> int:
    """Puts failed messages back in the queue, with a fresh day of tries; returns how many. A sign-in code's mail
    stays failed: its code is long dead, and a new one is a click away for the client."""
    with uow:
        now = clock.now()
        retried = 0
        for message in uow.outbox.list_failed():
            if message.purpose == MailPurpose.SIGN_IN_CODE:
                continue
            message.retry(now)
            uow.outbox.update(message)
            retried += 1
        uow.commit()
    return retried


def code_mail_stuck(uow: UnitOfWork, code_id: str) -> bool:
    """True when a code's message was tried and has not reached the relay (inside an open unit of work)."""
    message = uow.outbox.latest_about(CODE_REF + code_id)
    return message is not None and message.status != OutboxStatus.SENT and message.attempts > 0
