"""The mail outbox over every store: queued with the change that causes it, sent once by any number of dispatchers,
retried with backoff, failed for good when its time is up, counted, retried on demand and pruned.

Each rule runs on the in-memory store and on SQLite and PostgreSQL; the parallel dispatchers run on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest
from sqlalchemy import event as sa_event

from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork, RecordingEmailSender, SeededRandomness
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core import outbox
from portal_core.errors import DeliveryFailed
from portal_core.model.mail import Attachment, Email
from portal_core.model.outbox import MailPurpose, OutboxStatus
from portal_core.ports import UnitOfWork
from portal_core.retention import RetentionPolicy, prune
from portal_core.sign_in import SignInPolicy

from .conftest import wipe

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def _email(n: int) -> Email:
    return Email(to=f"client{n}@example.com", subject=f"Notice {n}", text=f"body {n}", html=f"<p>body {n}</p>",
                 reply_to="office@falcon.example")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_uow(request: pytest.FixtureRequest) -> Iterator[Callable[[], UnitOfWork]]:
    """A unit-of-work factory over an empty store: in memory, SQLite, or PostgreSQL."""
    if request.param == "memory":
        store = InMemoryStore()
        yield lambda: InMemoryUnitOfWork(store)
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    upgrade(url)
    engine = create_engine_from_url(url)
    try:
        yield lambda: SqlAlchemyUnitOfWork(engine)
    finally:
        if request.param == "postgres":
            wipe(engine)
        engine.dispose()


def _queue(uow: UnitOfWork, clock: FixedClock, randomness: SeededRandomness, n: int, *, commit: bool = True,
           purpose: MailPurpose = MailPurpose.DOCUMENT_NOTICE) -> str:
    with uow:
        queued = outbox.enqueue(uow, clock=clock, randomness=randomness, email=_email(n), purpose=purpose)
        if commit:
            uow.commit()
    return queued


def test_a_rolled_back_transaction_queues_nothing_and_a_committed_one_is_sent_once(
        new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness, sender = FixedClock(NOW), SeededRandomness(1), RecordingEmailSender()
    _queue(new_uow(), clock, randomness, 1, commit=False)
    kept = _queue(new_uow(), clock, randomness, 2)
    attempts = outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
    assert [(a.message_id, a.delivered) for a in attempts] == [(kept, True)]
    assert [e.to for e in sender.outbox] == ["client2@example.com"]
    assert outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness) == []
    assert outbox.mail_status(new_uow()) == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 1, OutboxStatus.FAILED: 0}
    # One Message-ID, set by the outbox.
    assert sender.outbox[0].message_id and sender.outbox[0].message_id.endswith("@falcon.example>")


def test_a_refused_message_is_retried_with_backoff_for_a_day_then_failed_and_can_be_retried(
        new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness, sender = FixedClock(NOW), SeededRandomness(2), RecordingEmailSender()
    queued = _queue(new_uow(), clock, randomness, 1)
    sender.fail_with = "relay down"
    waits: list[int] = []
    for _ in range(40):
        [attempt] = outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
        assert not attempt.delivered
        if attempt.status == OutboxStatus.FAILED:
            break
        with new_uow() as uow:
            message = uow.outbox.get(queued)
        assert message is not None
        waits.append(int((message.next_attempt_at - clock.now()).total_seconds()))
        clock.advance(seconds=waits[-1] - 1)
        assert outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness) == []  # not yet
        clock.advance(seconds=1)
    assert waits[:5] == [10, 30, 120, 600, 3600] and set(waits[4:]) == {3600}
    assert sum(waits) <= 24 * 3600 < sum(waits) + 3600
    assert outbox.mail_status(new_uow())[OutboxStatus.FAILED] == 1
    sender.fail_with = None
    assert outbox.retry_failed(new_uow(), clock=clock) == 1
    [attempt] = outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
    assert attempt.delivered and len(sender.outbox) == 1
    assert outbox.mail_status(new_uow()) == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 1, OutboxStatus.FAILED: 0}


def test_a_claimed_message_is_left_to_its_dispatcher_until_the_lease_runs_out(
        new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness = FixedClock(NOW), SeededRandomness(3)
    queued = _queue(new_uow(), clock, randomness, 1)
    with new_uow() as uow:  # a dispatcher claims it, then dies before sending
        assert [m.id for m in uow.outbox.claim_due(clock.now(), limit=5)] == [queued]
        uow.commit()
    sender = RecordingEmailSender()
    assert outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness) == []
    clock.advance(minutes=2)
    assert [a.message_id for a in outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)] \
        == [queued]


def test_a_sign_in_codes_mail_is_not_put_back_by_retry(new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness, sender = FixedClock(NOW), SeededRandomness(4), RecordingEmailSender()
    with new_uow() as uow:
        outbox.enqueue(uow, clock=clock, randomness=randomness, email=_email(1), purpose=MailPurpose.SIGN_IN_CODE,
                       give_up_at=NOW + dt.timedelta(minutes=10))
        uow.commit()
    sender.fail_with = "relay down"
    for _ in range(4):
        outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
        clock.advance(minutes=3)
    assert outbox.mail_status(new_uow())[OutboxStatus.FAILED] == 1
    assert outbox.retry_failed(new_uow(), clock=clock) == 0


def test_sent_mail_is_pruned_after_thirty_days_and_nothing_else(new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness, sender = FixedClock(NOW), SeededRandomness(5), RecordingEmailSender()
    _queue(new_uow(), clock, randomness, 1)
    outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
    _queue(new_uow(), clock, randomness, 2)  # still pending
    clock.advance(days=31)
    removed = dict(prune(new_uow(), clock=clock, sign_in_policy=SignInPolicy(), retention=RetentionPolicy()))
    assert removed["sent mail"] == 1
    assert outbox.mail_status(new_uow()) == {OutboxStatus.PENDING: 1, OutboxStatus.SENT: 0, OutboxStatus.FAILED: 0}


def test_attachments_are_kept_with_their_message_through_refusals_and_pruned_with_it(
        new_uow: Callable[[], UnitOfWork]) -> None:
    clock, randomness, sender = FixedClock(NOW), SeededRandomness(6), RecordingEmailSender()
    pdf = Attachment(filename="INV-2001.pdf", content_type="application/pdf", content=b"%PDF-1.7\n" + bytes(range(256)))
    with new_uow() as uow:
        queued = outbox.enqueue(uow, clock=clock, randomness=randomness, purpose=MailPurpose.DOCUMENT_NOTICE,
                                email=attrs.evolve(_email(1), attachments=(pdf,)))
        outbox.enqueue(uow, clock=clock, randomness=randomness, purpose=MailPurpose.DOCUMENT_NOTICE, email=_email(2))
        uow.commit()
    with new_uow() as uow:
        stored = uow.outbox.get(queued)
    assert stored is not None and stored.email.attachments == (pdf,)
    sender.fail_with = "relay down"
    outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
    sender.fail_with = None
    clock.advance(minutes=1)  # past the first backoff: the same message, attachment and all, goes out
    outbox.dispatch(new_uow(), sender=sender, clock=clock, randomness=randomness)
    by_subject = {email.subject: email for email in sender.outbox}
    assert by_subject["Notice 1"].attachments == (pdf,) and by_subject["Notice 2"].attachments == ()
    clock.advance(days=31)
    assert dict(prune(new_uow(), clock=clock, sign_in_policy=SignInPolicy(),
                      retention=RetentionPolicy()))["sent mail"] == 2
    with new_uow() as uow:
        assert uow.outbox.get(queued) is None


class _SlowSender(RecordingEmailSender):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def send(self, email: Email) -> None:
        time.sleep(0.005)
        with self.lock:
            super().send(email)


@pytest.mark.postgres
def test_parallel_dispatchers_send_each_message_exactly_once(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = create_engine_from_url(postgres_url)
    try:
        clock, sender = FixedClock(NOW), _SlowSender()
        for n in range(60):
            _queue(SqlAlchemyUnitOfWork(engine), clock, SeededRandomness(100 + n), n)
        barrier = threading.Barrier(6)

        def dispatcher(seed: int) -> int:
            barrier.wait(10)
            return outbox.dispatch_due(SqlAlchemyUnitOfWork(engine), sender=sender, clock=clock,
                                       randomness=SeededRandomness(seed))

        with ThreadPoolExecutor(6) as pool:
            tried = list(pool.map(dispatcher, range(6)))
        assert sum(tried) == 60
        assert sorted(e.to for e in sender.outbox) == sorted(f"client{n}@example.com" for n in range(60))
        assert sum(1 for t in tried if t) > 1  # the work was shared, not done by one of them
        assert outbox.mail_status(SqlAlchemyUnitOfWork(engine))[OutboxStatus.SENT] == 60
    finally:
        wipe(engine)
        engine.dispose()


def test_delivery_failures_are_an_attempts_problem_never_raised(new_uow: Callable[[], UnitOfWork]) -> None:
    class Refusing(RecordingEmailSender):
        def send(self, email: Email) -> None:
            raise DeliveryFailed("the mail relay did not accept the message (SMTPDataError)")

    clock, randomness = FixedClock(NOW), SeededRandomness(6)
    _queue(new_uow(), clock, randomness, 1)
    [attempt] = outbox.dispatch(new_uow(), sender=Refusing(), clock=clock, randomness=randomness)
    assert attempt.problem and "SMTPDataError" in attempt.problem and attempt.status == OutboxStatus.PENDING
    with new_uow() as uow:
        assert uow.outbox.counts()[OutboxStatus.PENDING] == 1


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_message_is_sent_with_no_statement_it_does_not_need(store: str, request: pytest.FixtureRequest) -> None:
    """Dispatching a message without attachments (a sign-in code's) claims it and records the outcome: no read of
    attachments it has none of, and no second read of the message it claimed (the lease keeps it its own). One with
    attachments costs one read more: theirs."""
    url: str = request.getfixturevalue(f"{store}_url")
    upgrade(url)
    engine = create_engine_from_url(url)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(" ".join(statement.split()[:4]))

    try:
        clock, randomness, sender = FixedClock(NOW), SeededRandomness(8), RecordingEmailSender()
        pdf = Attachment(filename="a.pdf", content_type="application/pdf", content=b"%PDF-1.7\n")
        plain = _queue(SqlAlchemyUnitOfWork(engine), clock, randomness, 1)
        with SqlAlchemyUnitOfWork(engine) as uow:
            attached = outbox.enqueue(uow, clock=clock, randomness=randomness, purpose=MailPurpose.DOCUMENT_NOTICE,
                                      email=attrs.evolve(_email(2), attachments=(pdf,)))
            uow.commit()
        seen = {}
        for queued in (plain, attached):
            statements.clear()
            sa_event.listen(engine, "before_cursor_execute", count)
            try:
                [attempt] = outbox.dispatch(SqlAlchemyUnitOfWork(engine), sender=sender, clock=clock,
                                            randomness=randomness, ids=[queued], limit=1)
            finally:
                sa_event.remove(engine, "before_cursor_execute", count)
            assert attempt.delivered
            seen[queued] = [s for s in statements if s.split()[0] in {"SELECT", "UPDATE", "INSERT", "DELETE"}]
        assert [s.split()[0] for s in seen[plain]] == ["SELECT", "UPDATE", "UPDATE"], seen[plain]
        assert [s.split()[0] for s in seen[attached]] == ["SELECT", "UPDATE", "SELECT", "UPDATE"], seen[attached]
        assert [email.attachments for email in sender.outbox] == [(), (pdf,)]
    finally:
        if store == "postgres":
            wipe(engine)
        engine.dispose()
