"""Pay selected through the Flask app: the real stripe SDK against the local fake Stripe (SQLite and PostgreSQL),
and the Telr adapter against the local fake Telr. One hosted page for the sum, credited to each invoice once."""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from entrypoints.bootstrap import Services
from entrypoints.demo import demo_seed
from portal_core import payment_providers
from portal_core.model.payment import PaymentStatus, Provider
from tests.support.fake_providers import FakeStripe, FakeTelr, serve, stripe_event, stripe_signature
from tests.support.portal_app import NOW, build_portal, csrf_of, link_token, outbox_code, sign_in

SECRET_KEY, WEBHOOK_SECRET = "sk_test_several_0123", "whsec_several_4567"
HOMER = "homer@globex.example"


def _seed() -> Any:
    """The demo, plus a USD invoice for Globex (a second currency) and a void one."""
    seed = copy.deepcopy(demo_seed(NOW.date()))
    invoices = seed["companies"][0]["invoices"]
    invoices.append({"ref": "globex-usd", "number": "INV-2010", "status": "sent", "currency": "USD",
                     "issued_date": NOW.date().isoformat(), "due_date": NOW.date().isoformat(), "tax": "0.00",
                     "amount_paid": "0.00",
                     "lines": [{"description": "Parts", "quantity": "1", "unit_price": "50.00"}]})
    invoices.append({**invoices[0], "ref": "globex-void", "number": "INV-2011", "status": "void"})
    return seed


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def stripe_base(fake: FakeStripe) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def stripe_portal(stripe_base: str, database_url: str) -> Iterator[tuple[Flask, Services, RecordingEmailSender]]:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, clock=FixedClock(NOW), stripe_api_base=stripe_base,
                                 database_url=database_url, seed=_seed())
    payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                       randomness=services.randomness, provider=Provider.STRIPE,
                                       credentials={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET})
    yield app, services, sender
    services.close()


def _ids(services: Services, *refs: str) -> list[str]:
    with services.uow() as uow:
        found = [uow.invoices.get_by_ref(ref) for ref in refs]
    assert all(found)
    return [invoice.id for invoice in found if invoice is not None]


def _signed_in(app: Flask, services: Services, sender: RecordingEmailSender,
               company: str = "globex", email: str = HOMER) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = link_token(services, company)
    sign_in(client, token, email, outbox_code(sender))
    return client, token


def _pay_selected(client: FlaskClient, token: str, ids: list[str]) -> Any:
    page = client.get(f"/p/{token}/invoices")
    return client.post(f"/p/{token}/invoices/pay", data={"csrf_token": csrf_of(page.text), "invoice": ids})


def _state(services: Services, invoice_id: str) -> tuple[str, int, int]:
    with services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
    assert invoice is not None
    return invoice.status.value, invoice.amount_paid.minor, invoice.total.minor


def test_the_invoice_list_offers_pay_selected_for_the_open_invoices(
        stripe_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    app, services, sender = stripe_portal
    client, token = _signed_in(app, services, sender)
    page = client.get(f"/p/{token}/invoices").text
    form = re.search(r'<form method="post" action="/p/[^"]+/invoices/pay".*?</form>', page, re.S)
    assert form is not None and "Pay selected" in form.group(0)
    boxes = set(re.findall(r'<input type="checkbox" name="invoice" value="([^"]+)"', form.group(0)))
    assert boxes == set(_ids(services, "globex-i1", "globex-i2", "globex-usd"))  # open ones only, not the paid
    # Each row's own Pay Now still posts to that invoice's route (formaction), inside the same form.
    assert f'formaction="/p/{token}/invoices/{_ids(services, "globex-i1")[0]}/pay"' in form.group(0)


def test_pay_selected_opens_one_session_with_a_line_per_invoice_and_the_webhook_credits_each_once(
        stripe_portal: tuple[Flask, Services, RecordingEmailSender], fake: FakeStripe) -> None:
    app, services, sender = stripe_portal
    client, token = _signed_in(app, services, sender)
    first, second = _ids(services, "globex-i1", "globex-i2")  # AED 378.00 and AED 545.00 left of 945.00
    response = _pay_selected(client, token, [second, first])
    assert response.status_code == 303, response.text
    [session] = fake.sessions.values()
    assert response.headers["Location"] == session["url"]
    form = fake.creates()[0].form
    lines = {form[f"line_items[{n}][price_data][product_data][name]"]: (
        form[f"line_items[{n}][price_data][currency]"], form[f"line_items[{n}][price_data][unit_amount]"],
        form[f"line_items[{n}][quantity]"]) for n in range(2)}
    assert lines == {"INV-2001": ("aed", "37800", "1"), "INV-2002": ("aed", "54500", "1")}
    assert "line_items[2][quantity]" not in form
    assert session["amount_total"] == 37800 + 54500

    # The same invoices in the other order, from another tab: the same page, nothing new at Stripe.
    again = _pay_selected(client, token, [first, second])
    assert again.headers["Location"] == session["url"] and len(fake.creates()) == 1

    before = {i: _state(services, i) for i in (first, second)}
    completed = fake.complete(session["id"])
    payload = stripe_event("evt_several_1", "checkout.session.completed", completed)
    for _ in range(2):  # delivered twice
        answer = app.test_client().post("/webhooks/stripe", data=payload, headers={
            "Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET), "Content-Type": "application/json"})
        assert answer.status_code == 200
    for invoice_id in (first, second):
        status, paid, total = _state(services, invoice_id)
        assert (status, paid) == ("paid", total) and before[invoice_id][1] < paid
    receipts = [e for e in sender.to(HOMER) if e.subject.startswith("Payment received")]
    assert [e.subject for e in receipts] == ["Payment received for invoices INV-2001, INV-2002: AED 923.00"]
    # Back on the return page (the first invoice's, by id): received.
    back = client.get(f"/p/{token}/invoices/{min(first, second)}/paid")
    assert "Payment received" in back.text
    with services.uow() as uow:
        [payment] = uow.payments.list_for_invoice(second)
    assert payment.status == PaymentStatus.SUCCEEDED and set(payment.invoice_ids) == {first, second}


@pytest.mark.parametrize(("refs", "words"), [
    (("globex-i1", "initech-i1"), "One of the chosen invoices cannot be found"),  # another company's
    (("globex-i1", "globex-i4"), "One of the chosen invoices cannot be found"),  # a draft
    (("globex-i1", "globex-void"), "One of the chosen invoices cannot be found"),
    (("globex-i1", "globex-i3"), "Invoice INV-1990 has nothing left to pay"),  # paid
    (("globex-i1", "globex-usd"), "Invoices in AED and USD cannot be paid together"),
    ((), "Choose at least one invoice"),
])
def test_a_choice_that_cannot_be_paid_is_a_400_page_naming_the_problem_and_nothing_reaches_stripe(
        stripe_portal: tuple[Flask, Services, RecordingEmailSender], fake: FakeStripe, refs: tuple[str, ...],
        words: str) -> None:
    app, services, sender = stripe_portal
    client, token = _signed_in(app, services, sender)
    response = _pay_selected(client, token, _ids(services, *refs))
    assert response.status_code == 400
    assert words in response.text and "Back to your invoices" in response.text
    assert fake.creates() == []
    [first] = _ids(services, "globex-i1")
    with services.uow() as uow:
        assert uow.payments.list_for_invoice(first) == []


def test_pay_selected_needs_a_session_and_the_csrf_token(
        stripe_portal: tuple[Flask, Services, RecordingEmailSender], fake: FakeStripe) -> None:
    app, services, sender = stripe_portal
    token = link_token(services, "globex")
    ids = _ids(services, "globex-i1", "globex-i2")
    anonymous = app.test_client().post(f"/p/{token}/invoices/pay", data={"invoice": ids})
    assert anonymous.status_code in (303, 400)
    client, _ = _signed_in(app, services, sender)
    assert client.post(f"/p/{token}/invoices/pay", data={"invoice": ids}).status_code == 400  # no token
    assert fake.creates() == []


def test_telr_gets_one_order_for_the_total() -> None:
    fake = FakeTelr()
    with serve(fake) as telr_url:
        sender = RecordingEmailSender()
        app, services = build_portal(email_sender=sender, clock=FixedClock(NOW), telr_api_url=telr_url, seed=_seed())
        payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                           randomness=services.randomness, provider=Provider.TELR,
                                           credentials={"store_id": "12345", "auth_key": "telr-auth-KEY-4321",
                                                        "test_mode": "1"})
        client, token = _signed_in(app, services, sender)
        first, second = _ids(services, "globex-i1", "globex-i2")
        response = _pay_selected(client, token, [first, second])
        assert response.status_code == 303
        [create] = fake.creates()
        assert (create.form["ivp_amount"], create.form["ivp_currency"]) == ("923.00", "AED")
        assert create.form["ivp_desc"] == "Invoices INV-2001, INV-2002"
        ref = urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["Location"]).query)["o"][0]
        fake.status[ref] = (3, "A")
        back = client.get(f"/p/{token}/invoices/{min(first, second)}/paid")
        assert "Payment received" in back.text
        assert [_state(services, i)[0] for i in (first, second)] == ["paid", "paid"]
