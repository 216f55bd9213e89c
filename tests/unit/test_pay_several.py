"""Paying several invoices at once, on the in-memory adapters: one attempt for the sum, reused for the same set,
the refusals, and the ledger's property with duplicated and reordered notices and a single payment in between."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.jinja import JinjaEmailTemplates
from portal_core import payments
from portal_core.errors import PaymentNotPossible
from portal_core.ids import new_id
from portal_core.model.company import Company
from portal_core.model.documents import Invoice, InvoiceStatus, Line
from portal_core.model.money import Money
from portal_core.model.outbox import MailPurpose
from portal_core.model.payment import OutcomeKind, PaymentOutcome, PaymentStatus, Provider

from .test_payments_ledger import URLS, World, make_world


def _add_invoice(world: World, number: str, *, price: str, currency: str = "AED", paid: str = "0",
                 status: InvoiceStatus = InvoiceStatus.SENT, company_id: str | None = None) -> str:
    invoice = Invoice(id=new_id(world.randomness), company_id=company_id or world.viewer.company.id, number=number,
                      status=status, currency=currency, issued_date=dt.date(2026, 10, 1),
                      due_date=dt.date(2026, 10, 31), lines=(Line("Work", Decimal(1), Money.parse(price, currency)),),
                      tax=Money.zero(currency), amount_paid=Money.parse(paid, currency))
    with world.uow:
        world.uow.invoices.add(invoice)
        world.uow.commit()
    return invoice.id


def _pay(world: World, ids: list[str], provider: str | None = None) -> payments.StartedPayment:
    return payments.start_payment_of_several(
        world.uow, gateways=world.gateways, vault=world.vault, clock=world.clock, randomness=world.randomness,
        templates=JinjaEmailTemplates(), viewer=world.viewer, invoice_ids=ids, provider=provider, urls=URLS)


def _invoice(world: World, invoice_id: str) -> Invoice:
    with world.uow:
        found = world.uow.invoices.get(invoice_id)
    assert found is not None
    return found


def _two(world: World) -> tuple[str, str]:
    """INV-2001 (AED 360.00, the world's own) and INV-2002 (AED 100.00, of which 40.00 is paid)."""
    return world.invoice_id, _add_invoice(world, "INV-2002", price="100.00", paid="40.00",
                                          status=InvoiceStatus.PARTIALLY_PAID)


def test_one_attempt_for_the_sum_with_one_line_per_invoice_reused_for_the_same_set_in_any_order() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first, second = _two(world)
    started = _pay(world, [second, first])
    [request] = world.stripe.checkouts
    assert request.amount == Money(42000, "AED")  # 360.00 + the 60.00 left on INV-2002
    by_number = {line.invoice_number: line.amount for line in request.line_items}
    assert by_number == {"INV-2001": Money(36000, "AED"), "INV-2002": Money(6000, "AED")}
    assert [line.invoice_id for line in request.line_items] == sorted([first, second])
    again = _pay(world, [first, second, first])  # reordered, repeated: the same set
    assert again.url == started.url and len(world.stripe.checkouts) == 1
    assert started.payment.invoice_ids == tuple(sorted([first, second]))
    # A single invoice's Pay Now is another attempt: it does not hand out the page of the pair.
    single = world.start()
    assert single.url != started.url and len(world.stripe.checkouts) == 2


def test_a_changed_amount_opens_a_new_attempt_for_the_new_sum() -> None:
    world = make_world()
    world.connect(Provider.TELR)
    first, second = _two(world)
    _pay(world, [first, second])
    world.set_invoice(amount_paid=Money(10000, "AED"), status=InvoiceStatus.PARTIALLY_PAID)
    _pay(world, [first, second])
    assert [r.amount for r in world.telr.checkouts] == [Money(42000, "AED"), Money(32000, "AED")]


@pytest.mark.parametrize(("case", "message"), [
    ("another company's", "One of the chosen invoices cannot be found"),
    ("draft", "One of the chosen invoices cannot be found"),  # a draft is not shown: it is not named either
    ("void", "One of the chosen invoices cannot be found"),
    ("unknown", "One of the chosen invoices cannot be found"),
    ("paid", "Invoice INV-1990 has nothing left to pay"),
    ("two currencies", "Invoices in AED and USD cannot be paid together"),
    ("none", "Choose at least one invoice"),
])
def test_a_choice_that_cannot_be_paid_together_is_refused_and_nothing_reaches_the_provider(
        case: str, message: str) -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    other = Company(id=new_id(world.randomness), name="Initech", link_token="u" * 32, portal_enabled=True)
    with world.uow:
        world.uow.companies.add(other)
        world.uow.commit()
    extra = {
        "another company's": lambda: _add_invoice(world, "INV-3001", price="10.00", company_id=other.id),
        "draft": lambda: _add_invoice(world, "INV-2003", price="10.00", status=InvoiceStatus.DRAFT),
        "void": lambda: _add_invoice(world, "INV-2004", price="10.00", status=InvoiceStatus.VOID),
        "unknown": lambda: "no-such-invoice",
        "paid": lambda: _add_invoice(world, "INV-1990", price="10.00", paid="10.00", status=InvoiceStatus.PAID),
        "two currencies": lambda: _add_invoice(world, "INV-2005", price="10.00", currency="USD"),
        "none": lambda: None,
    }[case]()
    ids = [] if extra is None else [world.invoice_id, extra]
    with pytest.raises(PaymentNotPossible, match=message):
        _pay(world, ids)
    assert world.stripe.checkouts == [] and world.payments() == []


def test_stripe_must_take_every_line_not_only_the_sum() -> None:
    world = make_world(currency="KWD", unit_price="12.345", quantity="1")  # KWD 12.345: not to Stripe
    world.connect(Provider.STRIPE)
    second = _add_invoice(world, "INV-2002", price="0.005", currency="KWD")  # the sum 12.350 would end in 0
    with pytest.raises(PaymentNotPossible):
        _pay(world, [world.invoice_id, second])
    assert world.stripe.checkouts == []


def test_a_confirmed_payment_credits_each_invoice_its_share_once_and_sends_one_receipt() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first, second = _two(world)
    started = _pay(world, [first, second])
    paid = PaymentOutcome(provider_ref=started.payment.provider_ref or "", kind=OutcomeKind.PAID, paid_minor=42000,
                          paid_currency="AED")
    done = world.confirm(Provider.STRIPE, paid)
    assert done.applied and len(done.receipts) == 1
    assert world.confirm(Provider.STRIPE, paid).duplicate
    for invoice_id in (first, second):
        invoice = _invoice(world, invoice_id)
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total
    receipt = world.queued(done.receipts[0])
    assert receipt.purpose == MailPurpose.PAYMENT_RECEIPT
    assert receipt.email.subject == "Payment received for invoices INV-2001, INV-2002: AED 420.00"
    assert "The invoices are now paid in full" in receipt.email.text


Notice = tuple[int, OutcomeKind, bool]


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(single_first=st.booleans(),
       notices=st.lists(st.tuples(st.integers(min_value=0, max_value=1), st.sampled_from(list(OutcomeKind)),
                                  st.booleans()), max_size=20))
def test_each_invoice_is_credited_its_share_once_whatever_the_order_of_the_notices(
        single_first: bool, notices: list[Notice]) -> None:
    """A payment of two invoices and a payment of one of them alone (started before or after the pair), with any
    sequence of duplicated, reordered, failed and succeeded notices: each invoice's amount paid is its share of
    every payment that succeeded, counted once; a payment that would take an invoice past its total is held for
    review whole and credits nothing; each succeeded payment has one receipt."""
    world = make_world()
    world.connect(Provider.STRIPE, Provider.TELR)
    first, second = _two(world)
    totals = {i: _invoice(world, i).total.minor for i in (first, second)}
    before = {i: _invoice(world, i).amount_paid.minor for i in (first, second)}

    # The first invoice alone, through Telr, started before or after the pair (through Stripe): whichever is
    # confirmed second would pay the first invoice twice.
    if single_first:
        single = world.start("telr")
        pair = _pay(world, [first, second], "stripe")
    else:
        pair = _pay(world, [first, second], "stripe")
        single = world.start("telr")
    started = [pair, single]
    providers = [Provider.STRIPE, Provider.TELR]
    receipts: set[str] = set()
    for which, kind, right_amount in notices:
        payment = started[which].payment
        minor = payment.amount.minor if right_amount else payment.amount.minor + 1
        outcome = PaymentOutcome(provider_ref=payment.provider_ref or "", kind=kind,
                                 paid_minor=minor if kind == OutcomeKind.PAID else None,
                                 paid_currency="AED" if kind == OutcomeKind.PAID else None)
        receipts.update(world.confirm(providers[which], outcome).receipts)
    with world.uow:
        final = {p.id: p for i in (first, second) for p in world.uow.payments.list_for_invoice(i)}
    succeeded = [p for p in final.values() if p.status == PaymentStatus.SUCCEEDED]
    for invoice_id in (first, second):
        expected = before[invoice_id] + sum(a.amount.minor for p in succeeded for a in p.allocations
                                            if a.invoice_id == invoice_id)
        invoice = _invoice(world, invoice_id)
        assert invoice.amount_paid.minor == expected <= totals[invoice_id]
        assert (invoice.status == InvoiceStatus.PAID) == (expected == totals[invoice_id])
    assert len(receipts) == len(succeeded)
    assert len(succeeded) <= 1  # both would pay the first invoice twice: the second to arrive is held for review
