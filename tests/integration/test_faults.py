"""Faults: the database going away and coming back (through a loopback TCP proxy in front of PostgreSQL), a mail
relay that is down or too slow, and a payment provider that is down or answers garbage.

What test_sign_in_web.py (a relay refusing the message, the sender's own timeout) and the Stripe and Telr tests (API
errors, Telr's garbage and timeouts) already prove is not repeated here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.smtp import SmtpEmailSender
from adapters.sqlalchemy.migrate import upgrade
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core import companies, outbox, payment_providers
from portal_core.model.one_time_code import CodeStatus
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.model.payment import PaymentStatus, Provider
from tests.support.fake_providers import serve
from tests.support.portal_app import NOW, SECRET, build_portal, csrf_of, link_token, outbox_code, sign_in
from tests.support.smtp import SmtpServer, free_port
from tests.support.tcp_proxy import TcpProxy

from .conftest import postgres_base_url, postgres_schema

HOMER = "homer@globex.example"
UNAVAILABLE = "The portal is briefly unavailable"
# PostgreSQL's connect timeout (5 s) plus slack: a request never waits longer than this for a vanished database.
FAIL_FAST_SECONDS = 8.0


# ---- the database goes away mid-run and comes back


@pytest.fixture
def proxied_portal() -> Iterator[tuple[Flask, Services, RecordingEmailSender, TcpProxy]]:
    """A portal over a fresh PostgreSQL schema, reached only through a proxy the test controls."""
    with postgres_schema(postgres_base_url()) as url:
        upgrade(url)
        with TcpProxy.in_front_of(url) as proxy:
            sender = RecordingEmailSender()
            app, services = build_portal(email_sender=sender, database_url=proxy.url_for(url))
            try:
                yield app, services, sender, proxy
            finally:
                services.close()


def _timed_get(client: FlaskClient, path: str) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def _request_count(services: Services) -> int:
    with services.uow() as uow:
        company = companies.find_company(uow, "globex")
        return len(uow.requests.list_for_company(company.id))


@pytest.mark.postgres
def test_the_database_going_away_is_a_fast_503_and_service_returns_by_itself(
        proxied_portal: tuple[Flask, Services, RecordingEmailSender, TcpProxy]) -> None:
    app, services, sender, proxy = proxied_portal
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    assert client.get(f"/p/{token}/").status_code == 200
    assert client.get("/readyz").status_code == 200
    form = client.get(f"/p/{token}/requests/new").text
    fields = {"title": "Leaking tap", "details": "Kitchen, since Monday", "csrf_token": csrf_of(form),
              "form_token": re.search(r'name="form_token" value="([^"]+)"', form).group(1)}  # type: ignore[union-attr]
    before = _request_count(services)

    proxy.cut()
    for path in (f"/p/{token}/", f"/p/{token}/invoices", f"/p/{token}/login", "/brand.css"):
        response, elapsed = _timed_get(client, path)
        assert response.status_code == 503, (path, response.status_code)
        assert elapsed < FAIL_FAST_SECONDS, (path, elapsed)
        if path.startswith("/p/"):
            assert UNAVAILABLE in response.text and "Traceback" not in response.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json == {"status": "not ready",
                                                       "reason": "the database cannot be reached"}
    assert client.get("/healthz").status_code == 200  # the process is up: the balancer should not restart it
    sent = client.post(f"/p/{token}/requests/new", data=fields)
    assert sent.status_code == 503 and UNAVAILABLE in sent.text

    proxy.restore()
    # No restart: the pool throws away its dead connections (pre-ping) and the same session works again.
    assert client.get(f"/p/{token}/").status_code == 200
    assert client.get("/readyz").status_code == 200
    # The client sends the form again: it is stored once, however often it is resent.
    first = client.post(f"/p/{token}/requests/new", data=fields)
    again = client.post(f"/p/{token}/requests/new", data=fields)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert _request_count(services) == before + 1


@pytest.mark.postgres
def test_a_database_that_stops_answering_is_a_503_within_the_connect_timeout(
        proxied_portal: tuple[Flask, Services, RecordingEmailSender, TcpProxy]) -> None:
    app, services, sender, proxy = proxied_portal
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    proxy.silence()
    response, elapsed = _timed_get(client, f"/p/{token}/")
    assert response.status_code == 503 and UNAVAILABLE in response.text
    assert elapsed < FAIL_FAST_SECONDS, elapsed
    proxy.restore()
    assert client.get(f"/p/{token}/").status_code == 200


@pytest.mark.postgres
def test_a_database_without_the_latest_migration_is_not_ready() -> None:
    with postgres_schema(postgres_base_url()) as url:
        upgrade(url, "0003")
        # Not seeded: a seed writes today's tables, which an old schema does not have yet.
        services = build_services(Settings.from_env({}, database_url=url, file_dir="memory://", secret_key=SECRET),
                                  email_sender=RecordingEmailSender(), clock=FixedClock(NOW))
        app = create_app(services=services, synchronous_mail=True)
        try:
            ready = app.test_client().get("/readyz")
            assert ready.status_code == 503 and "portal db upgrade" in ready.json["reason"]
            upgrade(url)
            assert app.test_client().get("/readyz").status_code == 200  # no restart needed
        finally:
            services.close()


# ---- the mail relay is down or too slow


def _post_email(client: FlaskClient, token: str) -> Any:
    page = client.get(f"/p/{token}/login")
    return client.post(f"/p/{token}/login", data={"email": HOMER, "csrf_token": csrf_of(page.text)})


def _verify(client: FlaskClient, token: str, code: str) -> Any:
    page = client.get(f"/p/{token}/verify")
    return client.post(f"/p/{token}/verify", data={"code": code, "csrf_token": csrf_of(page.text)})


def _homers_codes(services: Services) -> list[Any]:
    with services.uow() as uow:
        company = companies.find_company(uow, "globex")
        homer = uow.contacts.find(company.id, HOMER)
        assert homer is not None
    # The flow is the test client's own: read the store, every flow's codes.
    return [c for c in uow.store.state.tables.get("codes", {}).values()  # type: ignore[attr-defined]
            if c.contact_id == homer.id]


def _code_mail(services: Services) -> OutboxMessage:
    """The outbox message of Homer's only code."""
    [code] = _homers_codes(services)
    with services.uow() as uow:
        message = uow.outbox.latest_about(outbox.CODE_REF + code.id)
    assert message is not None
    return message


def _dispatch(services: Services) -> list[outbox.Attempt]:
    """A dispatcher's round at the services' (fixed) time."""
    return outbox.dispatch(services.uow(), sender=services.email_sender, clock=services.clock,
                           randomness=services.randomness)


def _could_not_email(client: FlaskClient, token: str, code: str) -> bool:
    response = _verify(client, token, code)
    return response.status_code == 400 and "could not email your code" in response.text


def test_a_mail_relay_that_is_down_leaves_no_usable_code_and_a_clear_message() -> None:
    sender = SmtpEmailSender.from_url(f"smtp://127.0.0.1:{free_port()}", from_addr="portal@falcon.example", timeout=2)
    clock = FixedClock(NOW)
    app, services = build_portal(email_sender=sender, clock=clock)
    token = link_token(services, "globex")
    client = app.test_client()
    assert _post_email(client, token).status_code == 303  # the same answer as ever: nothing told about the email
    message = _code_mail(services)
    assert message.status == OutboxStatus.PENDING and message.attempts == 1  # tried once, queued again
    assert [c.status for c in _homers_codes(services)] == [CodeStatus.ACTIVE]  # kept for the retries ...
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", message.email.text)
    assert code is not None
    assert _could_not_email(client, token, "123456")
    assert _could_not_email(client, token, code.group(1))  # ... yet unusable while nobody could have received it
    # The relay stays down for the code's ten minutes: each retry fails, and then the code is dead for good.
    while (message := _code_mail(services)).status == OutboxStatus.PENDING:
        clock.set(message.next_attempt_at)
        assert [a.delivered for a in _dispatch(services)] == [False]
    assert message.status == OutboxStatus.FAILED and message.attempts == 4 and clock.now() < message.give_up_at
    assert [c.status for c in _homers_codes(services)] == [CodeStatus.UNDELIVERED]
    assert _could_not_email(client, token, code.group(1))
    assert _dispatch(services) == []  # failed for good: nothing is left to try
    assert client.get(f"/p/{token}/").status_code == 303


def test_a_relay_too_slow_to_answer_in_time_leaves_no_usable_code_and_a_clear_message() -> None:
    with SmtpServer() as smtp:
        smtp.mailbox.delay = 3.0
        sender = SmtpEmailSender.from_url(smtp.url, from_addr="portal@falcon.example", timeout=1)
        clock = FixedClock(NOW)
        app, services = build_portal(email_sender=sender, clock=clock)
        token = link_token(services, "globex")
        client = app.test_client()
        assert _post_email(client, token).status_code == 303
        message = _code_mail(services)
        # Timed out: not known to be delivered, so tried again later, whatever the relay does meanwhile.
        assert message.status == OutboxStatus.PENDING and message.attempts == 1
        assert [c.status for c in _homers_codes(services)] == [CodeStatus.ACTIVE]
        code = re.search(r"(?<!\d)(\d{6})(?!\d)", message.email.text)
        assert code is not None
        assert _could_not_email(client, token, "123456")
        assert _could_not_email(client, token, code.group(1))  # not usable until the relay took its mail
        assert client.get(f"/p/{token}/").status_code == 303

        smtp.mailbox.delay = 0.0  # the relay answers in time again: the retry goes through
        clock.advance(seconds=10)
        assert [a.delivered for a in _dispatch(services)] == [True]
        assert _code_mail(services).status == OutboxStatus.SENT
        # Possibly twice, if the slow relay took the first try after all: one Message-ID, so a mailbox can tell.
        received = smtp.mailbox.wait_for(HOMER)
        assert {m["Message-ID"] for m in received} == {message.message_id}
        response = _verify(client, token, code.group(1))
        assert response.status_code == 303 and client.get(f"/p/{token}/").status_code == 200


# ---- the payment provider is down or answers garbage (Stripe; Telr's cases are in test_telr_payments.py)


def _garbage(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html><body>502 Bad Gateway from some proxy</body></html>"]


@pytest.fixture(params=["down", "garbage"])
def broken_stripe(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "down":
        yield f"http://127.0.0.1:{free_port()}"
        return
    with serve(_garbage) as base:
        yield base


def test_a_payment_provider_down_or_talking_garbage_changes_nothing(broken_stripe: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, clock=FixedClock(NOW), stripe_api_base=broken_stripe,
                                 payment_timeout_seconds=2)
    payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                       randomness=services.randomness, provider=Provider.STRIPE,
                                       credentials={"secret_key": "sk_test_portal_0123456789",
                                                    "webhook_secret": "whsec_test_portal_secret"})
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, HOMER, outbox_code(sender))
    with services.uow() as uow:
        invoice = uow.invoices.get_by_ref("globex-i1")
    assert invoice is not None
    page = client.get(f"/p/{token}/invoices/{invoice.id}")
    response = client.post(f"/p/{token}/invoices/{invoice.id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 502 and "Nothing was charged" in response.text
    with services.uow() as uow:
        after = uow.invoices.get(invoice.id)
        [attempt] = uow.payments.list_for_invoice(invoice.id)
        actions = [e.action for e in uow.audit.list_for_company(invoice.company_id)]
    assert after == invoice
    assert attempt.status == PaymentStatus.FAILED and "payment_start_failed" in actions
