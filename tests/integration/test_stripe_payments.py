"""Stripe payments through the real stripe SDK, pointed at a local fake Stripe; webhooks signed with Stripe's scheme
and verified by the SDK; the whole flow through Flask's test client."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.stripe import StripePaymentGateway
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from portal_core import ledger, outbox, payment_providers
from portal_core.errors import InvalidSignature, PaymentError
from portal_core.model.documents import InvoiceStatus
from portal_core.model.money import Money
from portal_core.model.payment import CheckoutRequest, OutcomeKind, PaymentStatus, Provider, provider_accepts
from tests.support.fake_providers import FakeStripe, serve, stripe_event, stripe_signature
from tests.support.portal_app import NOW, SECRET, build_portal, csrf_of, link_token, outbox_code, sign_in

SECRET_KEY = "sk_test_portal_0123456789"
WEBHOOK_SECRET = "whsec_test_portal_secret"


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def stripe_base(fake: FakeStripe) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def _gateway(base: str, timeout: int = 5) -> StripePaymentGateway:
    settings = Settings.from_env({}, database_url="memory://", file_dir="memory://", stripe_api_base=base,
                                 payment_timeout_seconds=timeout)
    return StripePaymentGateway.from_settings(settings, {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET})


def _request(amount: Money, key: str = "attempt-key-1", expires_at: dt.datetime | None = None) -> CheckoutRequest:
    return CheckoutRequest(payment_id="pay123", attempt_key=key, invoice_id="inv456", invoice_number="INV-2001",
                           amount=amount, description="Invoice INV-2001", customer_email="homer@globex.example",
                           success_url="http://portal.test/p/t/invoices/inv456/paid",
                           cancel_url="http://portal.test/p/t/invoices/inv456/cancelled",
                           declined_url="http://portal.test/p/t/invoices/inv456/cancelled", expires_at=expires_at)


# ---- the gateway against the fake


@pytest.mark.parametrize("amount,unit_amount,currency", [
    (Money(37800, "AED"), "37800", "aed"),
    (Money(5000, "JPY"), "5000", "jpy"),  # zero-decimal: whole yen
    (Money(12340, "KWD"), "12340", "kwd"),  # three decimals, last digit 0: fils
    # Stripe's special cases (docs.stripe.com/currencies#special-cases):
    (Money(5000, "ISK"), "500000", "isk"),  # zero-decimal, but written with two decimals at Stripe: ISK 5,000
    (Money(7000, "UGX"), "700000", "ugx"),  # the same for UGX 7,000
    (Money(150000, "HUF"), "150000", "huf"),  # two decimals, whole forint only: HUF 1,500.00
    (Money(250000, "TWD"), "250000", "twd"),  # two decimals, whole dollars only: TWD 2,500.00
])
def test_checkout_session_carries_amount_currency_metadata_and_idempotency_key(
        fake: FakeStripe, stripe_base: str, amount: Money, unit_amount: str, currency: str) -> None:
    checkout = _gateway(stripe_base).start_checkout(_request(amount))
    [sent] = fake.creates()
    assert sent.headers["Idempotency-Key"] == "attempt-key-1"
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    form = sent.form
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == unit_amount
    assert form["line_items[0][price_data][currency]"] == currency
    assert form["line_items[0][price_data][product_data][name]"] == "INV-2001"
    assert form["metadata[invoice_id]"] == "inv456" and form["metadata[payment_id]"] == "pay123"
    assert form["client_reference_id"] == "inv456"
    assert form["success_url"].endswith("/invoices/inv456/paid")
    assert form["cancel_url"].endswith("/invoices/inv456/cancelled")
    assert checkout.provider_ref == "cs_test_0001"
    assert checkout.url == "https://checkout.stripe.test/c/pay/cs_test_0001"


def test_the_session_is_told_when_to_expire_in_unix_seconds(fake: FakeStripe, stripe_base: str) -> None:
    gateway = _gateway(stripe_base)
    gateway.start_checkout(_request(Money(37800, "AED"), expires_at=NOW + dt.timedelta(hours=1, microseconds=5)))
    gateway.start_checkout(_request(Money(37800, "AED"), key="attempt-key-2"))
    timed, untimed = fake.creates()
    assert timed.form["expires_at"] == str(int((NOW + dt.timedelta(hours=1)).timestamp())) == "1796119200"
    assert "expires_at" not in untimed.form


def test_a_repeated_attempt_key_gets_the_same_session(fake: FakeStripe, stripe_base: str) -> None:
    gateway = _gateway(stripe_base)
    first = gateway.start_checkout(_request(Money(37800, "AED")))
    again = gateway.start_checkout(_request(Money(37800, "AED")))
    assert first == again and len(fake.sessions) == 1


@pytest.mark.parametrize("amount", [Money(12345, "KWD"), Money(150050, "HUF"), Money(250001, "TWD")])
def test_an_amount_stripe_cannot_take_never_reaches_it(fake: FakeStripe, stripe_base: str, amount: Money) -> None:
    assert not provider_accepts(Provider.STRIPE, amount)  # so Pay Now never offers Stripe for it
    with pytest.raises(PaymentError):
        _gateway(stripe_base).start_checkout(_request(amount))
    assert fake.received == []


@pytest.mark.parametrize("amount_total,currency,minor", [
    (500000, "isk", 5000), (700000, "ugx", 7000), (150000, "huf", 150000), (5000, "jpy", 5000),
    (500050, "isk", None),  # not a whole krona: never read as some other amount (the ledger keeps it for review)
])
def test_what_stripe_reports_as_paid_is_read_back_in_our_minor_units(fake: FakeStripe, stripe_base: str,
                                                                     amount_total: int, currency: str,
                                                                     minor: int | None) -> None:
    payload = stripe_event("evt_9", "checkout.session.completed",
                           _session(amount_total=amount_total, currency=currency))
    event = _gateway(stripe_base).parse_webhook(payload, {"Stripe-Signature": stripe_signature(payload,
                                                                                                 WEBHOOK_SECRET)})
    assert event.outcome is not None and event.outcome.paid_minor == minor


@pytest.mark.parametrize("status,kind", [(400, "invalid_request_error"), (500, "api_error"),
                                         (402, "card_error")])
def test_stripe_errors_become_payment_errors(fake: FakeStripe, stripe_base: str, status: int, kind: str) -> None:
    fake.error = (status, kind)
    with pytest.raises(PaymentError) as caught:
        _gateway(stripe_base).start_checkout(_request(Money(37800, "AED")))
    assert isinstance(caught.value.__cause__, stripe.StripeError)
    assert SECRET_KEY not in str(caught.value)


def test_an_unreachable_stripe_is_a_payment_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(PaymentError, match="could not be reached"):
        _gateway(f"http://127.0.0.1:{port}", timeout=2).start_checkout(_request(Money(37800, "AED")))


def test_check_reads_the_session(fake: FakeStripe, stripe_base: str) -> None:
    gateway = _gateway(stripe_base)
    checkout = gateway.start_checkout(_request(Money(37800, "AED")))
    assert gateway.check(checkout.provider_ref).kind == OutcomeKind.PENDING
    fake.complete(checkout.provider_ref)
    outcome = gateway.check(checkout.provider_ref)
    assert (outcome.kind, outcome.paid_minor, outcome.paid_currency, outcome.payment_id) == (
        OutcomeKind.PAID, 37800, "AED", "pay123")
    fake.sessions[checkout.provider_ref].update(status="expired", payment_status="unpaid")
    assert gateway.check(checkout.provider_ref).kind == OutcomeKind.EXPIRED


# ---- webhook verification by the SDK


def _session(**changes: Any) -> dict[str, Any]:
    session = {"id": "cs_test_9", "object": "checkout.session", "amount_total": 37800, "currency": "aed",
               "payment_status": "paid", "status": "complete", "metadata": {"payment_id": "pay123"}}
    session.update(changes)
    return session


@pytest.mark.parametrize("event_type,session,kind", [
    ("checkout.session.completed", _session(), OutcomeKind.PAID),
    ("checkout.session.completed", _session(payment_status="unpaid"), OutcomeKind.PENDING),
    ("checkout.session.async_payment_succeeded", _session(), OutcomeKind.PAID),
    ("checkout.session.async_payment_failed", _session(payment_status="unpaid"), OutcomeKind.FAILED),
    ("checkout.session.expired", _session(payment_status="unpaid", status="expired"), OutcomeKind.EXPIRED),
])
def test_signed_events_are_read(event_type: str, session: dict[str, Any], kind: OutcomeKind) -> None:
    payload = stripe_event("evt_1", event_type, session)
    event = _gateway("http://127.0.0.1:9").parse_webhook(
        payload, {"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)})
    assert event.event_id == "evt_1" and event.outcome is not None
    assert event.outcome.kind == kind and event.outcome.provider_ref == "cs_test_9"


def test_other_events_are_acknowledged_without_an_outcome() -> None:
    payload = stripe_event("evt_2", "customer.created", {"id": "cus_1", "object": "customer"})
    event = _gateway("http://127.0.0.1:9").parse_webhook(
        payload, {"stripe-signature": stripe_signature(payload, WEBHOOK_SECRET)})
    assert event.outcome is None


_FORGERIES: dict[str, Any] = {
    "missing": lambda payload: None,
    "empty": lambda payload: "",
    "garbage": lambda payload: "garbage",
    "wrong digest": lambda payload: f"t={int(time.time())},v1=abc",
    "another body": lambda payload: stripe_signature(b"another body", WEBHOOK_SECRET),
    "another secret": lambda payload: stripe_signature(payload, "whsec_someone_else"),
    # Signed correctly, but an hour ago: a replay outside the SDK's default tolerance.
    "stale": lambda payload: stripe_signature(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600),
}


@pytest.mark.parametrize("forgery", sorted(_FORGERIES))
def test_forged_or_stale_signatures_are_refused(forgery: str) -> None:
    payload = stripe_event("evt_3", "checkout.session.completed", _session())
    signature = _FORGERIES[forgery](payload)
    headers = {} if signature is None else {"Stripe-Signature": signature}
    with pytest.raises(InvalidSignature):
        _gateway("http://127.0.0.1:9").parse_webhook(payload, headers)


# ---- the whole flow through the web app


def _portal(stripe_base: str, *, connect: bool = True, clock: FixedClock | None = None,
            **settings: Any) -> tuple[Flask, Services, RecordingEmailSender]:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, clock=clock or FixedClock(NOW), stripe_api_base=stripe_base,
                                 **settings)
    if connect:
        payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                           randomness=services.randomness, provider=Provider.STRIPE,
                                           credentials={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET})
    return app, services, sender


def _invoice_id(services: Services, ref: str) -> str:
    with services.uow() as uow:
        invoice = uow.invoices.get_by_ref(ref)
    assert invoice is not None
    return invoice.id


def _pay_forms(page: str) -> list[str]:
    """Where the page's Pay Now buttons post: their own forms, or (in the invoice list's Pay selected form) their
    formaction."""
    return re.findall(r'(?:<form method="post" action|formaction)="([^"]+/invoices/[^"/]+/pay)"', page)


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _post_webhook(app: Flask, payload: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return app.test_client().post("/webhooks/stripe", data=payload, headers=headers)


def test_pay_now_then_a_signed_webhook_marks_the_invoice_paid(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    invoice_id = _invoice_id(services, "globex-i1")  # INV-2001, overdue, AED 378.00

    home = client.get(f"/p/{token}/")
    assert f"/p/{token}/invoices/{invoice_id}/pay" in _pay_forms(home.text)  # Take Actions and Pending Invoices
    listing = client.get(f"/p/{token}/invoices")
    assert f"/p/{token}/invoices/{invoice_id}/pay" in _pay_forms(listing.text)
    detail = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert "Pay Now" in detail.text and _pay_forms(detail.text) == [f"/p/{token}/invoices/{invoice_id}/pay"]
    paid_invoice = _invoice_id(services, "globex-i3")
    assert _pay_forms(client.get(f"/p/{token}/invoices/{paid_invoice}").text) == []

    # The client cannot set the amount or the currency: extra fields are ignored.
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay",
                           data={"csrf_token": csrf_of(detail.text), "amount": "1", "currency": "JPY"})
    assert response.status_code == 303
    [session] = fake.sessions.values()
    assert response.headers["Location"] == session["url"]
    assert (session["amount_total"], session["currency"]) == (37800, "aed")
    assert session["metadata"]["invoice_id"] == invoice_id and session["client_reference_id"] == invoice_id
    with services.uow() as uow:
        [payment] = uow.payments.list_for_invoice(invoice_id)
    assert fake.creates()[0].headers["Idempotency-Key"] == payment.attempt_key
    # Return addresses come from PORTAL_BASE_URL, never from the Host header the request happened to carry.
    sent = fake.creates()[0].form
    assert sent["success_url"] == f"{services.settings.base_url}/p/{token}/invoices/{invoice_id}/paid"
    assert sent["cancel_url"] == f"{services.settings.base_url}/p/{token}/invoices/{invoice_id}/cancelled"
    assert payment.status == PaymentStatus.PENDING and payment.provider_ref == session["id"]

    # Back from Stripe before the webhook: processing, nothing marked paid by the return page alone.
    back = client.get(f"/p/{token}/invoices/{invoice_id}/paid?session_id={session['id']}&paid=1")
    assert "Payment processing" in back.text
    with services.uow() as uow:
        assert uow.invoices.get(invoice_id).amount_paid.minor == 0  # type: ignore[union-attr]

    # A forged webhook changes nothing.
    fake.complete(session["id"])
    payload = stripe_event("evt_paid_1", "checkout.session.completed", session)
    assert _post_webhook(app, payload, None).status_code == 400
    assert _post_webhook(app, payload, stripe_signature(payload, "whsec_forged")).status_code == 400
    with services.uow() as uow:
        assert uow.invoices.get(invoice_id).amount_paid.minor == 0  # type: ignore[union-attr]

    assert _post_webhook(app, payload, stripe_signature(payload, WEBHOOK_SECRET)).status_code == 200
    # Replayed: acknowledged, ignored.
    replay = _post_webhook(app, payload, stripe_signature(payload, WEBHOOK_SECRET))
    assert replay.status_code == 200 and replay.json == {"received": True, "duplicate": True}
    # An older event arriving late (out of order) does no harm either.
    late = stripe_event("evt_late", "checkout.session.async_payment_failed", session)
    assert _post_webhook(app, late, stripe_signature(late, WEBHOOK_SECRET)).status_code == 200

    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        [payment] = uow.payments.list_for_invoice(invoice_id)
    assert invoice is not None and invoice.status.value == "paid" and invoice.amount_paid == invoice.total
    assert payment.status == PaymentStatus.SUCCEEDED
    detail = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert "Pay Now" not in detail.text and '<dd><span class="status">Paid</span></dd>' in detail.text
    assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/paid").text
    receipts = [e for e in sender.to("homer@globex.example") if "Payment received" in e.subject]
    assert len(receipts) == 1 and "AED 378.00" in receipts[0].text


def test_without_a_provider_there_is_no_button_and_the_pay_route_is_404(stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base, connect=False)
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    invoice_id = _invoice_id(services, "globex-i1")
    for path in ("/", "/invoices", f"/invoices/{invoice_id}"):
        page = client.get(f"/p/{token}{path}")
        assert page.status_code == 200 and "Pay Now" not in page.text
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 404
    assert _post_webhook(app, b"{}", "t=1,v1=x").status_code == 404


def test_pay_needs_the_csrf_token_and_a_session(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    token = link_token(services, "globex")
    invoice_id = _invoice_id(services, "globex-i1")
    anonymous = app.test_client().post(f"/p/{token}/invoices/{invoice_id}/pay")
    assert anonymous.status_code == 400  # no CSRF token
    client = app.test_client()
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    assert client.post(f"/p/{token}/invoices/{invoice_id}/pay").status_code == 400
    assert fake.sessions == {}


def test_another_companys_invoice_cannot_be_paid(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    page = client.get(f"/p/{token}/invoices")
    other = _invoice_id(services, "initech-i1")
    response = client.post(f"/p/{token}/invoices/{other}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 404
    assert client.get(f"/p/{token}/invoices/{other}/paid").status_code == 404
    assert fake.sessions == {}


def test_stripe_failing_shows_a_clear_message_and_changes_nothing(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    invoice_id = _invoice_id(services, "globex-i1")
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    fake.error = (500, "api_error")
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 502 and "Nothing was charged" in response.text
    with services.uow() as uow:
        [payment] = uow.payments.list_for_invoice(invoice_id)
        assert uow.invoices.get(invoice_id).amount_paid.minor == 0  # type: ignore[union-attr]
        actions = [e.action for e in uow.audit.list_for_company(payment.company_id)]
    assert payment.status == PaymentStatus.FAILED and "payment_start_failed" in actions


def test_cancelling_on_stripe_shows_payment_cancelled(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    invoice_id = _invoice_id(services, "globex-i1")
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    back = client.get(f"/p/{token}/invoices/{invoice_id}/cancelled")
    assert back.status_code == 200 and "Payment cancelled" in back.text
    assert "Pay Now" in client.get(f"/p/{token}/invoices/{invoice_id}").text  # they may try again


def test_a_three_decimal_amount_stripe_cannot_take_tells_the_client_to_contact_the_business(
        fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client = app.test_client()
    token = link_token(services, "initech")
    with services.uow() as uow:
        email = uow.contacts.list_for_company(uow.companies.get_by_ref("initech").id)[0].email  # type: ignore[union-attr]
    sign_in(client, token, email, outbox_code(sender))
    invoice_id = _invoice_id(services, "initech-i1")  # KWD 12.345
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert _pay_forms(page.text) == [] and "cannot be paid online exactly" in page.text
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 409 and "contact us" in response.text
    assert fake.sessions == {}


# ---- one open attempt at a time, and the cancel return changes nothing


def _client(app: Flask, services: Services, sender: RecordingEmailSender,
            email: str = "homer@globex.example") -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, email, outbox_code(sender))
    return client, token


def _click(client: FlaskClient, token: str, invoice_id: str) -> str:
    """Pay Now on the invoice page, as a browser tab would: returns where the portal sent the client."""
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert "Pay Now" in page.text
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return str(response.headers["Location"])


def _expires_at(sent: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(sent.form["expires_at"]), dt.UTC)


def test_a_second_pay_now_goes_to_the_same_stripe_page_until_its_time_runs_out(fake: FakeStripe,
                                                                               stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    clock: FixedClock = services.clock  # type: ignore[assignment]
    homer, token = _client(app, services, sender)
    invoice_id = _invoice_id(services, "globex-i1")
    first = _click(homer, token, invoice_id)
    [created] = fake.creates()
    assert first == fake.sessions["cs_test_0001"]["url"]
    assert _expires_at(created) == NOW + dt.timedelta(hours=1)  # Stripe closes the page when we stop handing it out

    clock.advance(minutes=20)
    assert _click(homer, token, invoice_id) == first  # a second tab
    marge, _ = _client(app, services, sender, "marge@globex.example")
    assert _click(marge, token, invoice_id) == first  # another contact of the same company
    clock.advance(minutes=29, seconds=59)  # 10 minutes and 1 second left on that page
    assert _click(marge, token, invoice_id) == first
    assert len(fake.creates()) == 1
    with services.uow() as uow:
        [payment] = uow.payments.list_for_invoice(invoice_id)
    assert payment.status == PaymentStatus.PENDING and payment.checkout_url == first

    clock.advance(seconds=1)  # too little time left to pay there: a new page
    second = _click(homer, token, invoice_id)
    assert second != first and second == fake.sessions["cs_test_0002"]["url"]
    assert _expires_at(fake.creates()[1]) == clock.now() + dt.timedelta(hours=1)
    assert _click(marge, token, invoice_id) == second and len(fake.creates()) == 2
    with services.uow() as uow:
        statuses = [p.status for p in uow.payments.list_for_invoice(invoice_id)]
    assert statuses == [PaymentStatus.PENDING, PaymentStatus.PENDING]

    # The old page was paid after all, before Stripe expired it: credited once, the new page stays unpaid.
    session = fake.complete("cs_test_0001")
    payload = stripe_event("evt_old_page", "checkout.session.completed", session)
    assert _post_webhook(app, payload, stripe_signature(payload, WEBHOOK_SECRET)).status_code == 200
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        statuses = [p.status for p in uow.payments.list_for_invoice(invoice_id)]
    assert invoice is not None and invoice.amount_paid == invoice.total
    assert statuses == [PaymentStatus.SUCCEEDED, PaymentStatus.PENDING]
    assert "Pay Now" not in homer.get(f"/p/{token}/invoices/{invoice_id}").text


def test_another_amount_after_a_part_payment_opens_a_new_stripe_page(fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    client, token = _client(app, services, sender)
    invoice_id = _invoice_id(services, "globex-i1")
    first = _click(client, token, invoice_id)
    with services.uow() as uow:  # AED 100.00 received another way (a bank transfer the office recorded)
        invoice = uow.invoices.get(invoice_id)
        assert invoice is not None
        invoice.amount_paid = Money(10000, "AED")
        invoice.status = InvoiceStatus.PARTIALLY_PAID
        uow.invoices.update(invoice)
        uow.commit()
    second = _click(client, token, invoice_id)
    assert second != first and len(fake.creates()) == 2
    assert fake.sessions["cs_test_0002"]["amount_total"] == 27800
    assert _click(client, token, invoice_id) == second and len(fake.creates()) == 2


def _snapshot(services: Services, invoice_id: str) -> tuple[Any, ...]:
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        assert invoice is not None
        return (invoice, uow.payments.list_for_invoice(invoice_id),
                uow.audit.list_for_company(invoice.company_id, limit=1000))


def _cancel_twice(client: FlaskClient, token: str, invoice_id: str, services: Services, fake: FakeStripe) -> None:
    """Back from Stripe's page by its cancel link, twice: the page says cancelled, nothing changes anywhere."""
    before, asked = _snapshot(services, invoice_id), len(fake.received)
    for _ in range(2):
        back = client.get(f"/p/{token}/invoices/{invoice_id}/cancelled")
        assert back.status_code == 200 and "Payment cancelled" in back.text
    assert _snapshot(services, invoice_id) == before  # the attempt stays pending; no audit rows
    assert len(fake.received) == asked  # Stripe was not asked anything
    [payment] = before[1]
    assert payment.status == PaymentStatus.PENDING


def _credited_once(services: Services, sender: RecordingEmailSender, invoice_id: str) -> None:
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        [payment] = uow.payments.list_for_invoice(invoice_id)
    assert invoice is not None and invoice.status.value == "paid" and invoice.amount_paid == invoice.total
    assert payment.status == PaymentStatus.SUCCEEDED
    receipts = [e for e in sender.to("homer@globex.example") if "Payment received" in e.subject]
    assert len(receipts) == 1 and "AED 378.00" in receipts[0].text


@pytest.mark.parametrize("credited_by", ["webhook", "return page", "reconcile"])
def test_a_cancel_return_changes_nothing_and_a_payment_made_after_all_is_credited(
        fake: FakeStripe, stripe_base: str, credited_by: str) -> None:
    app, services, sender = _portal(stripe_base)
    client, token = _client(app, services, sender)
    invoice_id = _invoice_id(services, "globex-i1")
    url = _click(client, token, invoice_id)
    _cancel_twice(client, token, invoice_id, services, fake)
    assert "Pay Now" in client.get(f"/p/{token}/invoices/{invoice_id}").text
    assert _click(client, token, invoice_id) == url and len(fake.creates()) == 1  # the same page again

    session = fake.complete("cs_test_0001")  # the client paid on that page after all
    if credited_by == "webhook":
        payload = stripe_event("evt_after_cancel", "checkout.session.completed", session)
        assert _post_webhook(app, payload, stripe_signature(payload, WEBHOOK_SECRET)).status_code == 200
    elif credited_by == "return page":
        assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/paid").text
    else:
        report = ledger.reconcile_pending(services.uow(), gateways=services.payment_gateways,
                                          vault=services.credential_vault, clock=services.clock,
                                          randomness=services.randomness, templates=services.templates)
        assert (report.checked, report.settled, report.failed_checks) == (1, 1, ())
        # Queued with the payment; delivered as `portal payments reconcile` does before it exits.
        attempts = outbox.dispatch(services.uow(), sender=services.email_sender, clock=services.clock,
                                   randomness=services.randomness, ids=report.receipts, limit=len(report.receipts))
        assert [(a.message_id, a.delivered) for a in attempts] == [(report.receipts[0], True)]
    _credited_once(services, sender, invoice_id)
    # A later cancel return, webhook or return page changes nothing more.
    assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/cancelled").text
    assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/paid").text
    _credited_once(services, sender, invoice_id)


def test_portal_payments_reconcile_credits_a_payment_made_after_a_cancel_return(
        fake: FakeStripe, stripe_base: str, database_url: str, tmp_path: Path) -> None:
    # The command runs on the real clock: the attempt is made a few minutes before it.
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    app, services, sender = _portal(stripe_base, clock=FixedClock(started_at), database_url=database_url)
    try:
        client, token = _client(app, services, sender)
        invoice_id = _invoice_id(services, "globex-i1")
        _click(client, token, invoice_id)
        _cancel_twice(client, token, invoice_id, services, fake)
        fake.complete("cs_test_0001")
        env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_SECRET_KEY": SECRET,
               "PORTAL_FILE_DIR": str(tmp_path / "files"), "PORTAL_STRIPE_API_BASE": stripe_base,
               "PORTAL_EMAIL_URL": "console://"}
        done = subprocess.run([str(Path(sys.executable).parent / "portal"), "payments", "reconcile"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "checked 1 pending payments, 1 settled, 0 could not be checked" in done.stdout
        assert "Payment received" in done.stdout + done.stderr  # the receipt, on the console sender
        with services.uow() as uow:
            invoice = uow.invoices.get(invoice_id)
            [payment] = uow.payments.list_for_invoice(invoice_id)
        assert invoice is not None and invoice.status.value == "paid" and invoice.amount_paid == invoice.total
        assert payment.status == PaymentStatus.SUCCEEDED
        again = subprocess.run([str(Path(sys.executable).parent / "portal"), "payments", "reconcile"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert "checked 0 pending payments" in again.stdout
    finally:
        services.close()


def test_another_contact_who_pays_on_the_page_handed_to_them_is_credited_by_their_return(
        fake: FakeStripe, stripe_base: str) -> None:
    app, services, sender = _portal(stripe_base)
    homer, token = _client(app, services, sender)
    invoice_id = _invoice_id(services, "globex-i1")
    first = _click(homer, token, invoice_id)
    marge, _ = _client(app, services, sender, "marge@globex.example")
    assert _click(marge, token, invoice_id) == first
    fake.complete("cs_test_0001")  # Marge pays on it; no webhook arrives
    back = marge.get(f"/p/{token}/invoices/{invoice_id}/paid")
    assert back.status_code == 200 and "Payment received" in _text(back.text)
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
    assert invoice is not None and invoice.amount_paid == invoice.total
