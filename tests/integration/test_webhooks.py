"""Webhooks out, on SQLite and PostgreSQL, to a real HTTP receiver on loopback: every event the issue names, signed
and verified as a CRM would; a receiver that fails, hangs or is down gets the same event again; two dispatchers
at once deliver each event once; `portal mail run` killed with SIGKILL mid-delivery loses nothing; and
`portal webhook add/list/remove` as a subprocess."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.jinja import JinjaEmailTemplates
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.webhook_http import HttpWebhookTransport
from entrypoints.bootstrap import build_services
from entrypoints.settings import Settings
from portal_core import ledger, webhooks
from portal_core.errors import DeliveryFailed
from portal_core.model.money import Money
from portal_core.model.outbox import OutboxStatus
from portal_core.model.payment import OutcomeKind, Payment, PaymentOutcome, PaymentStatus, Provider
from portal_core.model.webhook import EventType
from tests.support.webhook_receiver import Call, WebhookReceiver

from .conftest import wipe
from .files_fixtures import csrf_of, form_token_of
from .test_cli import PORTAL
from .web_fixtures import WebPortal, make_portal

ALL_EVENTS = ",".join(e.value for e in EventType)


def verify(secret: str, call: Call, *, now: float, tolerance: float = 300) -> dict[str, Any]:
    """What docs/api.md tells a CRM to do: check the HMAC of "<t>.<raw body>" and that t is recent."""
    parts = dict(item.split("=", 1) for item in call.headers["Portal-Signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + call.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "the signature does not verify"
    assert abs(now - int(parts["t"])) <= tolerance
    event: dict[str, Any] = json.loads(call.body)
    assert call.headers["Portal-Event-Id"] == event["id"]
    return event


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def portal(database_url: str) -> Iterator[WebPortal]:
    portal = make_portal(database_url=database_url, webhook_allow_private=True)
    yield portal
    portal.services.close()


def add(portal: WebPortal, url: str, events: str = ALL_EVENTS) -> str:
    s = portal.services
    _webhook, secret = webhooks.add_webhook(s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets,
                                            randomness=s.randomness, clock=s.clock, url=url, events=events)
    return secret


def deliver(portal: WebPortal, transport: HttpWebhookTransport | None = None) -> list[webhooks.DeliveryAttempt]:
    s = portal.services
    return webhooks.deliver(s.uow(), transport=transport or s.webhook_transport, secrets=s.webhook_secrets,
                            clock=s.clock, limit=50)


def pay(portal: WebPortal, invoice_ref: str, minor: int, n: int) -> None:
    """A card payment of `minor` confirmed by the provider, through the ledger."""
    invoice_id = portal.id_of("invoices", invoice_ref)
    s = portal.services
    with s.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        assert invoice is not None
        uow.payments.add(Payment(
            id=f"pay{n}", invoice_id=invoice.id, company_id=invoice.company_id, contact_id=None,
            provider=Provider.STRIPE, amount=Money(minor, invoice.total.currency), status=PaymentStatus.PENDING,
            attempt_key=f"attempt-{n}", created_at=s.clock.now(), provider_ref=f"cs_test_{n}"))
        uow.commit()
    ledger.confirm_payment(s.uow(), clock=s.clock, randomness=s.randomness, templates=JinjaEmailTemplates(),
                           provider=Provider.STRIPE, source="test",
                           outcome=PaymentOutcome(provider_ref=f"cs_test_{n}", kind=OutcomeKind.PAID, paid_minor=minor,
                                                  paid_currency=invoice.total.currency))


def test_every_event_reaches_the_receiver_signed_and_naming_its_record(portal: WebPortal,
                                                                      receiver: WebhookReceiver) -> None:
    secret = add(portal, receiver.url)
    # contact.signed_in, through the real sign-in flow
    homer = portal.sign_in("globex", "homer@globex.example")
    # request.created, through the form
    page = homer.get("/requests/new").text
    sent = homer.client.post(f"/p/{homer.token}/requests/new", buffered=True, data={
        "csrf_token": csrf_of(page), "form_token": form_token_of(page), "title": "Ceiling leak",
        "details": "Water above the server room."})
    assert sent.status_code == 303, sent.text
    portal.clock.advance(seconds=1)  # deliveries go out oldest first (same-second events in no promised order)
    # file.downloaded
    file_id = portal.id_of("files", "globex-f1")
    assert homer.client.get(f"/p/{homer.token}/files/{file_id}/download", buffered=True).status_code == 200
    portal.clock.advance(seconds=1)
    # invoice.partially_paid, then invoice.paid
    invoice_id = portal.id_of("invoices", "globex-i1")
    with portal.services.uow() as uow:
        total = uow.invoices.get(invoice_id).total  # type: ignore[union-attr]
    pay(portal, "globex-i1", 1000, 1)
    portal.clock.advance(seconds=1)
    pay(portal, "globex-i1", total.minor - 1000, 2)

    attempts = deliver(portal)
    assert [a.status for a in attempts] == [OutboxStatus.SENT] * 5, attempts
    now = portal.clock.now().timestamp()
    events = [verify(secret, call, now=now) for call in receiver.calls]
    assert [e["type"] for e in events] == ["contact.signed_in", "request.created", "file.downloaded",
                                           "invoice.partially_paid", "invoice.paid"]
    assert len({e["id"] for e in events}) == 5
    assert all(call.path == "/hooks/portal?token=crm-side" for call in receiver.calls)
    signed_in, created, downloaded, partly, paid = (e["data"] for e in events)
    assert signed_in == {"company": "globex", "contact": "homer"}
    assert created["title"] == "Ceiling leak" and created["company"] == "globex"
    assert created["submitted_by"] == "homer" and created["status"] == "new"
    globex = portal.id_of("companies", "globex")
    with portal.services.uow() as uow:
        assert [r.id for r in uow.requests.list_for_company(globex) if r.title == "Ceiling leak"] == [created["id"]]
    assert downloaded == {"id": file_id, "name": "site-survey.pdf", "company": "globex", "contact": "homer",
                          "job": "globex-j1", "inline": False}
    assert partly["invoice"] == "globex-i1" and partly["amount"] == "10.00" and partly["provider"] == "stripe"
    assert partly["provider_reference"] == "cs_test_1"
    assert paid["number"] == partly["number"] and paid["amount_paid"] == paid["total"] == total.decimal_string()
    assert deliver(portal) == [] and len(receiver.calls) == 5


def test_a_receiver_that_fails_or_hangs_gets_the_same_event_again(portal: WebPortal,
                                                                  receiver: WebhookReceiver) -> None:
    secret = add(portal, receiver.url, "contact.signed_in")
    portal.sign_in("globex", "homer@globex.example")
    transport = HttpWebhookTransport(allow_private=True, timeout=1.0)
    receiver.script = [500, 2.5, 302, 200]  # an error, then longer than the portal waits, then a redirect, then OK
    problems = []
    for _ in range(4):
        [attempt] = deliver(portal, transport)
        problems.append(attempt.problem)
        assert deliver(portal, transport) == [], "a failed try waits for its backoff"
        portal.clock.advance(minutes=15)
    assert problems == ["the receiver answered 500", "the receiver did not answer within 1 s",
                        "the receiver answered 302", None]
    bodies = {call.body for call in receiver.wait_for(4)}
    assert len(receiver.calls) == 4 and len(bodies) == 1, "the same event, byte for byte, on every try"
    for call in receiver.calls:  # each try signed at its own time
        verify(secret, call, now=json.loads(call.body)["created"], tolerance=3600)
    assert len({call.headers["Portal-Signature"] for call in receiver.calls}) == 4


def test_the_timeout_bounds_the_whole_try_even_for_a_receiver_that_trickles(receiver: WebhookReceiver) -> None:
    assert HttpWebhookTransport().timeout == 5.0  # the limit, by default
    receiver.script = ["trickle"]  # six seconds of answer, never more than 0.1 s of silence
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="did not answer within 1 s"):
        HttpWebhookTransport(allow_private=True, timeout=1.0).post(receiver.url, b"{}", {})
    assert time.monotonic() - started < 2.5


def test_the_transport_connects_to_the_addresses_it_checked_under_the_real_host_name(
        receiver: WebhookReceiver) -> None:
    """Without PORTAL_WEBHOOK_ALLOW_PRIVATE the name is resolved, every address checked, and the connection made to
    a checked address, in turn until one answers (here the first refuses), with the URL's host in Host. The check
    itself is swapped for one that passes loopback, so the receiver can be on this machine."""
    port = receiver.url.split(":")[2].split("/")[0]
    looked_up: list[str] = []

    def resolve(host: str, port_: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        looked_up.append(host)
        return [(2, 1, 6, "", ("127.0.0.2", port_)), (2, 1, 6, "", ("127.0.0.1", port_))]

    transport = HttpWebhookTransport(resolve=resolve, public=lambda address: address.startswith("127."))
    transport.post(f"http://crm.test:{port}/hooks?token=crm-side", b'{"ok":1}', {"Content-Type": "application/json"})
    [call] = receiver.calls
    assert looked_up == ["crm.test"] and call.headers["Host"] == f"crm.test:{port}"
    assert call.path == "/hooks?token=crm-side" and call.body == b'{"ok":1}'
    # The same name resolving elsewhere on the next try (DNS rebinding) is checked again, and refused.
    strict = HttpWebhookTransport(resolve=resolve)
    with pytest.raises(DeliveryFailed, match="loopback or a private network"):
        strict.post(f"http://crm.test:{port}/hooks", b"{}", {})
    assert len(receiver.calls) == 1


def test_a_receiver_that_is_down_gets_the_event_when_it_is_back(portal: WebPortal, receiver: WebhookReceiver) -> None:
    secret = add(portal, receiver.url, "contact.signed_in")
    receiver.stop()
    portal.sign_in("globex", "homer@globex.example")
    [attempt] = deliver(portal)
    assert attempt.problem is not None and attempt.problem.startswith("the receiver could not be reached")
    assert receiver.url not in attempt.problem
    receiver.start()  # the same port
    portal.clock.advance(seconds=10)  # the first retry: within a minute
    [attempt] = deliver(portal)
    assert attempt.problem is None
    verify(secret, receiver.calls[0], now=portal.clock.now().timestamp())


@pytest.mark.postgres
def test_two_dispatchers_at_once_deliver_each_event_once(postgres_url: str, receiver: WebhookReceiver) -> None:
    upgrade(postgres_url)
    portal = make_portal(database_url=postgres_url, webhook_allow_private=True)
    try:
        add(portal, receiver.url, "request.created")
        s = portal.services
        with s.uow() as uow:
            for n in range(40):
                webhooks.emit(uow, clock=s.clock, randomness=s.randomness, event=EventType.REQUEST_CREATED,
                              data={"id": f"r{n}"})
            uow.commit()
        start = threading.Barrier(2)

        def dispatcher() -> None:
            start.wait()
            webhooks.deliver_due(s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets, clock=s.clock)

        threads = [threading.Thread(target=dispatcher) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ids = [json.loads(call.body)["id"] for call in receiver.calls]
        assert len(ids) == 40 and len(set(ids)) == 40
    finally:
        portal.services.close()
        engine = create_engine_from_url(postgres_url)
        wipe(engine)  # the session's schema, emptied for the next test
        engine.dispose()


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_FILE_DIR": str(tmp_path / "files"),
            "PORTAL_BASE_URL": "https://portal.example", "PORTAL_SECRET_KEY": "cli-test-secret-0123456789", **extra}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PORTAL, *args], env=env, capture_output=True, text=True, timeout=120)


def test_webhooks_are_added_listed_and_removed_on_the_command_line(database_url: str, tmp_path: Path,
                                                                   receiver: WebhookReceiver) -> None:
    env = _env(database_url, tmp_path, PORTAL_WEBHOOK_ALLOW_PRIVATE="1")
    added = _run(env, "webhook", "add", receiver.url, "--events", "invoice.paid,request.created")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert added.stdout == secret + "\n" and secret.startswith("whsec_") and len(secret) > 40
    listed = _run(env, "webhook", "list")
    assert listed.returncode == 0 and secret not in listed.stdout + listed.stderr
    [line] = listed.stdout.splitlines()
    webhook_id, url, events = line.split("\t")
    assert url == receiver.url and events == "invoice.paid,request.created"
    # The secret printed is the one deliveries are signed with.
    services = build_services(Settings.from_env(env))
    try:
        assert services.webhook_secrets.for_webhook(webhook_id) == secret
    finally:
        services.close()
    removed = _run(env, "webhook", "remove", webhook_id)
    assert removed.returncode == 0 and webhook_id in removed.stdout
    assert _run(env, "webhook", "list").stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (["add", "http://127.0.0.1:9/hook", "--events", "invoice.paid"], "loopback or a private network"),
    (["add", "http://10.1.2.3/hook", "--events", "invoice.paid"], "loopback or a private network"),
    (["add", "ftp://crm.example/hook", "--events", "invoice.paid"], "only http:// and https://"),
    (["add", "https://crm.example/hook", "--events", "invoice.paid,payment.made"], "'payment.made' is not an event"),
    (["add", "https://crm.example/hook"], "--events"),
    (["remove", "nosuchwebhook"], "no webhook has the id"),
])
def test_a_refused_webhook_command_is_one_line_and_exit_2(database_url: str, tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    done = _run(_env(database_url, tmp_path), "webhook", *args)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and message in done.stderr and done.stdout == ""
    assert _run(_env(database_url, tmp_path), "webhook", "list").stdout == ""


def test_a_dispatcher_killed_mid_delivery_loses_nothing(database_url: str, tmp_path: Path,
                                                        receiver: WebhookReceiver) -> None:
    """`portal mail run` is killed with SIGKILL while the receiver is still answering: the event stays claimed
    until its lease runs out (here: wound back), then the next dispatcher delivers it again, with the same id."""
    env = _env(database_url, tmp_path, PORTAL_WEBHOOK_ALLOW_PRIVATE="1")
    assert _run(env, "db", "upgrade").returncode == 0
    added = _run(env, "webhook", "add", receiver.url, "--events", "request.created")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    services = build_services(Settings.from_env(env))
    try:
        s = services
        with s.uow() as uow:
            webhooks.emit(uow, clock=s.clock, randomness=s.randomness, event=EventType.REQUEST_CREATED,
                          data={"id": "r1", "title": "Leak"})
            uow.commit()
        receiver.script = [4.0]  # the first try hangs for 4 s: the dispatcher dies meanwhile

        def run_dispatcher() -> subprocess.Popen[bytes]:
            with (tmp_path / "mail-run.log").open("ab") as log:  # the child keeps its own descriptor
                return subprocess.Popen([PORTAL, "mail", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

        first = run_dispatcher()
        receiver.wait_for(1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        engine = sa.create_engine(database_url)
        try:
            with engine.begin() as connection:
                [row] = connection.execute(sa.select(t.webhook_deliveries)).mappings()
                assert row["status"] == "pending" and row["claimed_until"] is not None
                # The lease (two minutes) runs out: wound back here rather than waited for.
                connection.execute(t.webhook_deliveries.update().values(
                    claimed_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
            second = run_dispatcher()
            try:
                calls = receiver.wait_for(2)
            finally:
                os.killpg(second.pid, signal.SIGTERM)
                assert second.wait(20) == 0
            with engine.connect() as connection:
                [row] = connection.execute(sa.select(t.webhook_deliveries)).mappings()
        finally:
            engine.dispose()
        assert len(calls) == 2 and calls[0].body == calls[1].body, "delivered again, the same event"
        assert row["status"] == "sent"
        verify(secret, calls[1], now=time.time())
    finally:
        services.close()
