"""Telr payments over real HTTP to a local fake of Telr's order.json (create and check), through the gateway, the
return pages, and `portal payments reconcile`; Pay Now hands out the one open order, and the cancel return changes
nothing."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.telr import TelrPaymentGateway
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from portal_core import ledger, outbox, payment_providers
from portal_core.errors import PaymentError
from portal_core.model.money import Money
from portal_core.model.outbox import OutboxStatus
from portal_core.model.payment import CheckoutRequest, OutcomeKind, PaymentStatus, Provider
from tests.support.fake_providers import FakeStripe, FakeTelr, serve
from tests.support.portal_app import NOW, build_portal, csrf_of, link_token, outbox_code, sign_in

STORE_ID = "12345"
AUTH_KEY = "telr-auth-KEY-4321"


@pytest.fixture
def fake() -> FakeTelr:
    return FakeTelr(store_id=STORE_ID, auth_key=AUTH_KEY)


@pytest.fixture
def telr_url(fake: FakeTelr) -> Iterator[str]:
    with serve(fake) as base:
        yield base + "/gateway/order.json"


def _gateway(url: str, *, timeout: int = 5, auth_key: str = AUTH_KEY) -> TelrPaymentGateway:
    settings = Settings.from_env({}, database_url="memory://", file_dir="memory://", telr_api_url=url,
                                 payment_timeout_seconds=timeout)
    return TelrPaymentGateway.from_settings(settings, {"store_id": STORE_ID, "auth_key": auth_key,
                                                       "test_mode": "1"})


def _request(amount: Money, key: str = "cart-1") -> CheckoutRequest:
    return CheckoutRequest(payment_id="pay1", attempt_key=key, invoice_id="inv1", invoice_number="INV-2001",
                           amount=amount, description="Invoice INV-2001", customer_email=None,
                           success_url="http://portal.test/p/t/invoices/inv1/paid",
                           cancel_url="http://portal.test/p/t/invoices/inv1/cancelled",
                           declined_url="http://portal.test/p/t/invoices/inv1/cancelled")


# ---- the gateway against the fake


@pytest.mark.parametrize("amount,text", [(Money(37800, "AED"), "378.00"), (Money(12345, "KWD"), "12.345"),
                                         (Money(5000, "JPY"), "5000"), (Money(1, "BHD"), "0.001")])
def test_create_posts_a_form_with_the_amount_in_the_currencys_exponent(fake: FakeTelr, telr_url: str,
                                                                       amount: Money, text: str) -> None:
    checkout = _gateway(telr_url).start_checkout(_request(amount))
    [sent] = fake.creates()
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.form == {
        "ivp_method": "create", "ivp_store": STORE_ID, "ivp_authkey": AUTH_KEY, "ivp_cart": "cart-1",
        "ivp_test": "1", "ivp_amount": text, "ivp_currency": amount.currency, "ivp_desc": "Invoice INV-2001",
        "return_auth": "http://portal.test/p/t/invoices/inv1/paid",
        "return_decl": "http://portal.test/p/t/invoices/inv1/cancelled",
        "return_can": "http://portal.test/p/t/invoices/inv1/cancelled",
    }
    assert checkout.provider_ref == "000000000001"
    assert checkout.url == "https://secure.telr.test/gateway/process.html?o=000000000001"


def test_a_repeated_cart_id_is_refused_by_telr(fake: FakeTelr, telr_url: str) -> None:
    gateway = _gateway(telr_url)
    gateway.start_checkout(_request(Money(100, "AED")))
    with pytest.raises(PaymentError, match="Duplicate cart id"):
        gateway.start_checkout(_request(Money(100, "AED")))


@pytest.mark.parametrize("code,transaction,kind", [
    (3, "A", OutcomeKind.PAID),
    (3, "H", OutcomeKind.PENDING),  # paid but the transaction is on hold: not money received
    (2, "H", OutcomeKind.PENDING),  # authorised, on hold
    (1, "", OutcomeKind.PENDING),
    (-1, "", OutcomeKind.EXPIRED),
    (-2, "", OutcomeKind.CANCELLED),
    (-3, "D", OutcomeKind.FAILED),  # declined
])
def test_check_reports_paid_only_for_code_3_with_an_authorised_transaction(
        fake: FakeTelr, telr_url: str, code: int, transaction: str, kind: OutcomeKind) -> None:
    gateway = _gateway(telr_url)
    ref = gateway.start_checkout(_request(Money(37800, "AED"))).provider_ref
    fake.status[ref] = (code, transaction)
    outcome = gateway.check(ref)
    assert outcome.kind == kind
    assert fake.checks()[-1].form == {"ivp_method": "check", "ivp_store": STORE_ID, "ivp_authkey": AUTH_KEY,
                                      "order_ref": ref}
    if kind == OutcomeKind.PAID:
        assert (outcome.paid_minor, outcome.paid_currency) == (37800, "AED")


def test_errors_garbage_and_timeouts_become_clear_payment_errors(fake: FakeTelr, telr_url: str) -> None:
    with pytest.raises(PaymentError, match="Invalid authentication"):
        _gateway(telr_url, auth_key="wrong").start_checkout(_request(Money(100, "AED")))
    with pytest.raises(PaymentError, match="Order not found"):
        _gateway(telr_url).check("NOSUCHORDER")
    fake.garbage = True
    with pytest.raises(PaymentError, match="could not read"):
        _gateway(telr_url).start_checkout(_request(Money(100, "AED"), key="cart-2"))
    fake.garbage = False
    fake.delay = 2.0
    with pytest.raises(PaymentError, match="could not be reached"):
        _gateway(telr_url, timeout=1).start_checkout(_request(Money(100, "AED"), key="cart-3"))


# ---- through the portal


def _portal(telr_url: str, **settings: Any) -> tuple[Flask, Services, RecordingEmailSender]:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, clock=FixedClock(NOW), telr_api_url=telr_url, **settings)
    payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                       randomness=services.randomness, provider=Provider.TELR,
                                       credentials={"store_id": STORE_ID, "auth_key": AUTH_KEY, "test_mode": "1"})
    return app, services, sender


def _invoice_id(services: Services, ref: str) -> str:
    with services.uow() as uow:
        invoice = uow.invoices.get_by_ref(ref)
    assert invoice is not None
    return invoice.id


def _signed_in(app: Flask, services: Services, sender: RecordingEmailSender) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    return client, token


def _pay(client: FlaskClient, token: str, services: Services, invoice_ref: str = "globex-i1") -> tuple[str, str]:
    """Pay Now on the invoice page; returns the invoice id and the Telr order ref the client was sent to."""
    invoice_id = _invoice_id(services, invoice_ref)
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert "Pay Now" in page.text
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    ref = urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["Location"]).query)["o"][0]
    return invoice_id, ref


def _start(app: Flask, services: Services, sender: RecordingEmailSender) -> tuple[FlaskClient, str, str, str]:
    client, token = _signed_in(app, services, sender)
    invoice_id, ref = _pay(client, token, services)
    return client, token, invoice_id, ref


def _state(services: Services, invoice_id: str) -> tuple[str, int, list[PaymentStatus], list[str]]:
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        found = uow.payments.list_for_invoice(invoice_id)
        actions = [e.action for e in uow.audit.list_for_company(invoice.company_id)]  # type: ignore[union-attr]
    assert invoice is not None
    return invoice.status.value, invoice.amount_paid.minor, [p.status for p in found], actions


def test_pay_now_with_telr_then_the_return_page_checks_and_marks_paid(fake: FakeTelr, telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    [create] = fake.creates()
    assert (create.form["ivp_amount"], create.form["ivp_currency"]) == ("378.00", "AED")
    assert create.form["return_auth"].endswith(f"/p/{token}/invoices/{invoice_id}/paid")
    # Query parameters claiming success are not trusted: Telr still says pending.
    back = client.get(f"/p/{token}/invoices/{invoice_id}/paid?status=paid&code=3")
    assert "Payment processing" in back.text and _state(services, invoice_id)[1] == 0
    fake.status[ref] = (3, "A")
    back = client.get(f"/p/{token}/invoices/{invoice_id}/paid")
    assert "Payment received" in back.text
    status, amount_paid, statuses, _ = _state(services, invoice_id)
    assert (status, amount_paid, statuses) == ("paid", 37800, [PaymentStatus.SUCCEEDED])
    assert "Pay Now" not in client.get(f"/p/{token}/invoices/{invoice_id}").text
    # Coming back again checks nothing more and credits nothing twice.
    client.get(f"/p/{token}/invoices/{invoice_id}/paid")
    assert _state(services, invoice_id)[1] == 37800
    assert len([e for e in sender.to("homer@globex.example") if "Payment received" in e.subject]) == 1


@pytest.mark.parametrize("code,transaction,status,words", [
    (-3, "D", PaymentStatus.FAILED, "Payment cancelled"),
    (-2, "", PaymentStatus.CANCELLED, "Payment cancelled"),
    (1, "", PaymentStatus.PENDING, "Payment processing"),
    (2, "H", PaymentStatus.PENDING, "Payment processing"),
])
def test_declined_cancelled_and_pending_orders(fake: FakeTelr, telr_url: str, code: int, transaction: str,
                                               status: PaymentStatus, words: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    fake.status[ref] = (code, transaction)
    # Telr's decline and cancel links lead to /cancelled: it shows cancelled, asks Telr nothing, changes nothing.
    before = _state(services, invoice_id)
    back = client.get(f"/p/{token}/invoices/{invoice_id}/cancelled")
    assert "Payment cancelled" in back.text
    assert _state(services, invoice_id) == before and before[:3] == ("sent", 0, [PaymentStatus.PENDING])
    assert fake.checks() == []
    # What Telr says is applied when the portal asks it (a return from a payment, or reconcile).
    back = client.get(f"/p/{token}/invoices/{invoice_id}/paid")
    assert words in back.text
    assert _state(services, invoice_id)[:3] == ("sent", 0, [status])
    assert len(fake.checks()) == 1


def test_a_paid_amount_that_differs_is_held_for_review(fake: FakeTelr, telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    fake.status[ref] = (3, "A")
    fake.reported_amount[ref] = "1.00"
    client.get(f"/p/{token}/invoices/{invoice_id}/paid")
    status, amount_paid, statuses, actions = _state(services, invoice_id)
    assert (status, amount_paid, statuses) == ("sent", 0, [PaymentStatus.MISMATCH])
    assert "payment_mismatch" in actions


def test_telr_down_or_talking_garbage_gives_a_clear_message_and_changes_nothing(fake: FakeTelr,
                                                                                telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token = _signed_in(app, services, sender)
    invoice_id = _invoice_id(services, "globex-i1")
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    fake.garbage = True
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 502 and "Telr sent an answer we could not read" in response.text
    status, amount_paid, statuses, actions = _state(services, invoice_id)
    assert (status, amount_paid, statuses) == ("sent", 0, [PaymentStatus.FAILED])
    assert "payment_start_failed" in actions

    fake.garbage = False
    services.clock.advance(seconds=30)  # type: ignore[attr-defined]
    _, ref = _pay(client, token, services)
    fake.status[ref] = (3, "A")
    fake.garbage = True  # Telr breaks down while the client is on its page
    back = client.get(f"/p/{token}/invoices/{invoice_id}/paid")
    assert back.status_code == 200 and "Payment processing" in back.text
    assert "could not confirm your payment with Telr" in back.text
    status, amount_paid, _, actions = _state(services, invoice_id)
    assert (status, amount_paid) == ("sent", 0) and "payment_check_failed" in actions


def test_reconcile_settles_orders_whose_client_never_came_back(fake: FakeTelr, telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token = _signed_in(app, services, sender)
    first_invoice, first = _pay(client, token, services, "globex-i1")
    second_invoice, second = _pay(client, token, services, "globex-i2")
    fake.status[first] = (3, "A")
    fake.status[second] = (-1, "")

    def reconcile() -> ledger.ReconcileReport:
        return ledger.reconcile_pending(services.uow(), gateways=services.payment_gateways,
                                        vault=services.credential_vault, clock=services.clock,
                                        randomness=services.randomness, templates=services.templates)

    report = reconcile()
    assert (report.checked, report.settled, report.failed_checks) == (2, 2, ())
    assert len(report.receipts) == 1
    with services.uow() as uow:  # queued with the payment it confirms, for a dispatcher to send
        receipt = uow.outbox.get(report.receipts[0])
    assert receipt is not None and receipt.status == OutboxStatus.PENDING
    assert receipt.email.to == "homer@globex.example" and re.search(r"AED 378\.00", receipt.email.text)
    assert _state(services, first_invoice)[:3] == ("paid", 37800, [PaymentStatus.SUCCEEDED])
    assert _state(services, second_invoice)[2] == [PaymentStatus.EXPIRED]
    assert reconcile().checked == 0  # nothing pending any more


# ---- one open order at a time, and the cancel return changes nothing


def _location(client: FlaskClient, token: str, invoice_id: str, provider: str | None = None) -> str:
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    data = {"csrf_token": csrf_of(page.text)}
    if provider:
        data["provider"] = provider
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data=data)
    assert response.status_code == 303, response.text
    return str(response.headers["Location"])


def test_a_second_pay_now_goes_to_the_same_telr_order_until_its_time_runs_out(fake: FakeTelr,
                                                                              telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    clock: FixedClock = services.clock  # type: ignore[assignment]
    homer, token = _signed_in(app, services, sender)
    invoice_id, ref = _pay(homer, token, services)
    first = _location(homer, token, invoice_id)  # a second tab
    assert first.endswith(f"?o={ref}")
    marge = app.test_client()
    sign_in(marge, token, "marge@globex.example", outbox_code(sender))
    clock.advance(minutes=49, seconds=59)
    assert _location(marge, token, invoice_id) == first  # another contact of the same company
    assert len(fake.creates()) == 1 and _state(services, invoice_id)[2] == [PaymentStatus.PENDING]
    clock.advance(seconds=1)
    second = _location(marge, token, invoice_id)
    assert second != first and len(fake.creates()) == 2
    carts = [c.form["ivp_cart"] for c in fake.creates()]
    assert len(set(carts)) == 2  # a new attempt key: Telr would refuse a repeated cart id
    assert _location(homer, token, invoice_id) == second and len(fake.creates()) == 2


def test_another_provider_opens_its_own_page_and_each_is_handed_out_again(fake: FakeTelr, telr_url: str) -> None:
    stripe = FakeStripe()
    with serve(stripe) as stripe_base:
        app, services, sender = _portal(telr_url, stripe_api_base=stripe_base)
        payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                           randomness=services.randomness, provider=Provider.STRIPE,
                                           credentials={"secret_key": "sk_test_both_0123",
                                                        "webhook_secret": "whsec_both"})
        client, token = _signed_in(app, services, sender)
        invoice_id = _invoice_id(services, "globex-i1")
        telr_page = _location(client, token, invoice_id, "telr")
        stripe_page = _location(client, token, invoice_id, "stripe")
        assert telr_page.startswith("https://secure.telr.test/")
        assert stripe_page.startswith("https://checkout.stripe.test/")
        assert _location(client, token, invoice_id, "telr") == telr_page
        assert _location(client, token, invoice_id, "stripe") == stripe_page
        assert len(fake.creates()) == 1 and len(stripe.creates()) == 1
        assert _state(services, invoice_id)[2] == [PaymentStatus.PENDING, PaymentStatus.PENDING]


@pytest.mark.parametrize("credited_by", ["return page", "reconcile"])
def test_a_cancel_return_changes_nothing_and_an_order_paid_after_all_is_credited(fake: FakeTelr, telr_url: str,
                                                                                 credited_by: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    before = _state(services, invoice_id)
    for _ in range(2):
        assert "Payment cancelled" in client.get(f"/p/{token}/invoices/{invoice_id}/cancelled").text
    assert _state(services, invoice_id) == before and before[2] == [PaymentStatus.PENDING]
    assert fake.checks() == []
    assert _location(client, token, invoice_id).endswith(f"?o={ref}") and len(fake.creates()) == 1

    fake.status[ref] = (3, "A")  # paid on that same page after all
    if credited_by == "return page":
        assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/paid").text
    else:
        report = ledger.reconcile_pending(services.uow(), gateways=services.payment_gateways,
                                          vault=services.credential_vault, clock=services.clock,
                                          randomness=services.randomness, templates=services.templates)
        assert (report.checked, report.settled, len(report.receipts)) == (1, 1, 1)
        # Queued with the payment; delivered as `portal payments reconcile` does before it exits.
        [attempt] = outbox.dispatch(services.uow(), sender=services.email_sender, clock=services.clock,
                                    randomness=services.randomness, ids=report.receipts, limit=len(report.receipts))
        assert attempt.delivered and attempt.message_id == report.receipts[0]
    assert _state(services, invoice_id)[:3] == ("paid", 37800, [PaymentStatus.SUCCEEDED])
    assert "Payment received" in client.get(f"/p/{token}/invoices/{invoice_id}/cancelled").text
    assert len([e for e in sender.to("homer@globex.example") if "Payment received" in e.subject]) == 1


@pytest.mark.parametrize(("code", "transaction", "closed_as"), [
    (-3, "D", PaymentStatus.FAILED), (-2, "", PaymentStatus.CANCELLED), (-1, "", PaymentStatus.EXPIRED)])
def test_a_declined_cancelled_or_expired_order_is_not_handed_out_again(fake: FakeTelr, telr_url: str, code: int,
                                                                       transaction: str,
                                                                       closed_as: PaymentStatus) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    fake.status[ref] = (code, transaction)  # the client was declined (or cancelled) on Telr's page
    again = _location(client, token, invoice_id)
    assert not again.endswith(f"?o={ref}") and len(fake.creates()) == 2  # a live order, not the dead one
    assert sorted(_state(services, invoice_id)[2]) == sorted([closed_as, PaymentStatus.PENDING])


def test_an_order_paid_meanwhile_is_credited_by_the_next_pay_now_instead_of_reopened(fake: FakeTelr,
                                                                                     telr_url: str) -> None:
    app, services, sender = _portal(telr_url)
    client, token, invoice_id, ref = _start(app, services, sender)
    fake.status[ref] = (3, "A")  # paid on Telr's page; the client never came back and nothing was pushed
    page = client.get(f"/p/{token}/invoices/{invoice_id}")
    response = client.post(f"/p/{token}/invoices/{invoice_id}/pay", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 409 and "nothing left to pay" in response.text
    status, paid, payments_, _actions = _state(services, invoice_id)
    assert (status, payments_) == ("paid", [PaymentStatus.SUCCEEDED]) and paid > 0
    assert len(fake.creates()) == 1
