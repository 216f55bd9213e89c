"""Sending documents end to end: notices through a real SMTP server on loopback, the portal through the test client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock
from adapters.smtp import SmtpEmailSender
from entrypoints.bootstrap import Services
from portal_core import companies, invoices, outbox, sending
from portal_core.model.outbox import OutboxStatus
from portal_core.model.payment import Provider, ProviderConnection
from tests.support.portal_app import NOW, build_portal, link_token, sign_in
from tests.support.smtp import SmtpServer, code_in, html_of, text_of

BASE = "https://portal.example"
HOMER, MARGE = "homer@globex.example", "marge@globex.example"
PENDING, SENT, FAILED = OutboxStatus.PENDING, OutboxStatus.SENT, OutboxStatus.FAILED


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def demo(smtp: SmtpServer) -> tuple[Flask, Services]:
    sender = SmtpEmailSender(host="127.0.0.1", port=smtp.port, from_addr="portal@falcon.example", timeout=5)
    return build_portal(email_sender=sender, base_url=BASE)


def _client(app: Flask, services: Services, smtp: SmtpServer) -> FlaskClient:
    client = app.test_client()
    sign_in(client, link_token(services, "globex"), HOMER, lambda email: code_in(smtp.mailbox.wait_for(email)[-1]))
    return client


def _invoice(services: Services, ref: str):  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        invoice = uow.invoices.get_by_ref(ref)
    assert invoice is not None
    return invoice


def _send(services: Services, ref: str) -> sending.SendOutcome:
    s = services
    return sending.send_invoice(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                                randomness=s.randomness, base_url=BASE, ref=ref)


def _take_actions(html: str) -> str:
    found = re.search(r"Take Actions</h2>(.*?)</section>", html, re.S)
    assert found, "no Take Actions section"
    return found.group(1)


def test_a_sent_draft_appears_in_the_portal_and_in_every_contacts_mailbox(demo: tuple[Flask, Services],
                                                                         smtp: SmtpServer) -> None:
    app, services = demo
    with services.uow() as uow:  # a provider is connected: sent invoices get Pay Now
        uow.payment_providers.save(ProviderConnection(provider=Provider.STRIPE, sealed_credentials="unused",
                                                      connected_at=NOW))
        uow.commit()
    client = _client(app, services, smtp)
    token = link_token(services, "globex")
    draft = _invoice(services, "globex-i4")
    assert client.get(f"/p/{token}/invoices/{draft.id}").status_code == 404
    assert "INV-2003" not in client.get(f"/p/{token}/invoices").text
    before = {HOMER: len(smtp.mailbox.to(HOMER)), MARGE: len(smtp.mailbox.to(MARGE))}

    outcome = _send(services, "globex-i4")

    assert outcome.changed and all(d.delivered for d in outcome.deliveries)
    page = client.get(f"/p/{token}/invoices/{draft.id}")
    assert page.status_code == 200 and "INV-2003" in page.text and "Pay Now" in page.text
    assert "INV-2003" in client.get(f"/p/{token}/invoices").text

    sent = _invoice(services, "globex-i4")
    link = f"{BASE}/p/{token}/login"
    for address in (HOMER, MARGE):
        message = smtp.mailbox.wait_for(address, before[address] + 1)[-1]
        assert message["Subject"] == f"Invoice INV-2003 from Falcon Facilities: {sent.outstanding} to pay"
        assert message["Reply-To"] == "office@falcon.example"
        text, html = text_of(message), html_of(message)
        for part in (text, html):
            assert link in part and str(sent.total) in part and str(sent.outstanding) in part
            assert re.search(r"(?<!\d)\d{6}(?!\d)", part) is None  # never a code
        assert f'href="{link}"' in html
        assert re.findall(r"https?://\S+", text) == [link]  # no other link, nothing that signs anyone in


def test_a_voided_invoice_leaves_take_actions(demo: tuple[Flask, Services], smtp: SmtpServer) -> None:
    app, services = demo
    client = _client(app, services, smtp)
    token = link_token(services, "globex")
    assert "INV-2001" in _take_actions(client.get(f"/p/{token}/").text)

    invoices.void_invoice(services.uow(), clock=services.clock, randomness=services.randomness, ref="globex-i1")

    home = client.get(f"/p/{token}/").text
    assert "INV-2001" not in _take_actions(home) and "INV-2001" not in home
    invoice = _invoice(services, "globex-i1")
    assert client.get(f"/p/{token}/invoices/{invoice.id}").status_code == 404


def test_overdue_reminders_through_smtp_list_the_outstanding_amounts(demo: tuple[Flask, Services],
                                                                     smtp: SmtpServer) -> None:
    _, services = demo
    s = services
    report = sending.remind_overdue(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                                    randomness=s.randomness, base_url=BASE)
    overdue = _invoice(services, "globex-i1")
    [globex] = [c for c in report.companies if c.invoices]
    assert [i.number for i in globex.invoices] == ["INV-2001"]
    token = link_token(services, "globex")
    for address in (HOMER, MARGE):
        [message] = smtp.mailbox.wait_for(address)
        assert "INV-2001" in message["Subject"] and str(overdue.outstanding) in message["Subject"]
        text = text_of(message)
        assert f"INV-2001: {overdue.outstanding} outstanding of {overdue.total}" in text
        assert f"{BASE}/p/{token}/login" in text and f"{BASE}/p/{token}/login" in html_of(message)


def test_with_access_disabled_the_notice_says_to_contact_the_business(demo: tuple[Flask, Services],
                                                                      smtp: SmtpServer) -> None:
    _, services = demo
    companies.set_portal_access(services.uow(), "globex", enabled=False)
    outcome = _send(services, "globex-i4")
    assert outcome.portal_link is None and _invoice(services, "globex-i4").status.value == "sent"
    for address in (HOMER, MARGE):
        [message] = smtp.mailbox.wait_for(address)
        text, html = text_of(message), html_of(message)
        assert "/p/" not in text and "/p/" not in html and "href" not in html
        assert "Please contact Falcon Facilities at office@falcon.example" in text


def test_a_refusing_relay_is_reported_and_the_invoice_is_still_sent(demo: tuple[Flask, Services],
                                                                    smtp: SmtpServer) -> None:
    _, services = demo
    clock = services.clock
    assert isinstance(clock, FixedClock)
    smtp.mailbox.refuse = True
    outcome = _send(services, "globex-i4")
    assert [d.delivered for d in outcome.deliveries] == [False, False]
    assert all(d.problem for d in outcome.deliveries)  # the relay's refusal, reported per contact
    assert _invoice(services, "globex-i4").status.value == "sent"
    assert outbox.mail_status(services.uow()) == {PENDING: 2, SENT: 0, FAILED: 0}  # kept for a retry
    smtp.mailbox.refuse = False
    again = _send(services, "globex-i4")  # the queued notices will still reach them: no second one today
    assert again.held_back_until == NOW + sending.REMIND_EVERY and again.deliveries == ()
    assert smtp.mailbox.messages == []
    clock.advance(seconds=10)  # the first retry is due; a dispatcher's round delivers both notices
    attempts = outbox.dispatch(services.uow(), sender=services.email_sender, clock=clock,
                               randomness=services.randomness)
    assert [a.delivered for a in attempts] == [True, True]
    assert len(smtp.mailbox.wait_for(HOMER)) == 1 and len(smtp.mailbox.wait_for(MARGE)) == 1
    assert outbox.mail_status(services.uow()) == {PENDING: 0, SENT: 2, FAILED: 0}
