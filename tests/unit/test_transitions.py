"""The documents' transitions as pure methods: Invoice.send, void and apply_payment, Quote.send. The use cases
(sending, invoices, the ledger) only call these; their own tests cover the storing and the mail."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.errors import InvalidTransition
from portal_core.model.documents import Invoice, InvoiceStatus, Line, Quote, QuoteStatus
from portal_core.model.money import Money

TODAY = dt.date(2026, 12, 5)


def invoice(status: InvoiceStatus = InvoiceStatus.DRAFT, *, issued: dt.date | None = None,
            due: dt.date | None = None, paid: int = 0) -> Invoice:
    # A total of AED 378.00: 350.00 and 28.00 tax.
    return Invoice(id="i1", company_id="c1", number="INV-1", status=status, currency="AED", issued_date=issued,
                   due_date=due, lines=(Line("Service", Decimal(1), Money(35000, "AED")),), tax=Money(2800, "AED"),
                   amount_paid=Money(paid, "AED"))


def quote(status: QuoteStatus = QuoteStatus.DRAFT, *, issued: dt.date | None = None,
          valid_until: dt.date | None = None) -> Quote:
    return Quote(id="q1", company_id="c1", number="QUO-1", status=status, currency="AED", issued_date=issued,
                 valid_until=valid_until, lines=(Line("Service", Decimal(1), Money(35000, "AED")),))


def test_sending_a_draft_invoice_issues_it_today_unless_it_has_an_issue_date() -> None:
    fresh = invoice()
    assert fresh.send(TODAY) is True and (fresh.status, fresh.issued_date) == (InvoiceStatus.SENT, TODAY)
    dated = invoice(issued=TODAY - dt.timedelta(days=3))
    assert dated.send(TODAY) and dated.issued_date == TODAY - dt.timedelta(days=3)


@pytest.mark.parametrize("status", [InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID])
def test_sending_an_open_invoice_again_changes_nothing(status: InvoiceStatus) -> None:
    sent = invoice(status, issued=TODAY, paid=100 if status == InvoiceStatus.PARTIALLY_PAID else 0)
    assert sent.send(TODAY + dt.timedelta(days=1)) is False
    assert (sent.status, sent.issued_date) == (status, TODAY)


@pytest.mark.parametrize(("document", "message"), [
    (invoice(InvoiceStatus.VOID), "is void: it cannot be sent"),
    (invoice(InvoiceStatus.PAID, issued=TODAY, paid=37800), "is paid in full"),
    (invoice(due=TODAY - dt.timedelta(days=1)), "is due 4 Dec 2026, before its issue date 5 Dec 2026"),
])
def test_an_invoice_that_cannot_be_sent_is_left_as_it_was(document: Invoice, message: str) -> None:
    before = (document.status, document.issued_date)
    with pytest.raises(InvalidTransition, match=message):
        document.send(TODAY)
    assert (document.status, document.issued_date) == before


def test_voiding_takes_a_draft_or_sent_invoice_and_refuses_one_with_money_received() -> None:
    for status in (InvoiceStatus.DRAFT, InvoiceStatus.SENT):
        document = invoice(status)
        assert document.void() is True and document.status == InvoiceStatus.VOID
        assert document.void() is False  # already void: nothing changes
    for status, paid, said in ((InvoiceStatus.PARTIALLY_PAID, 100, "partially paid (AED 1.00 received)"),
                               (InvoiceStatus.PAID, 37800, "paid (AED 378.00 received)")):
        document = invoice(status, issued=TODAY, paid=paid)
        with pytest.raises(InvalidTransition, match=re.escape(f"is {said}: it cannot be voided")):
            document.void()
        assert document.status == status


def test_a_payment_makes_an_invoice_partly_paid_then_paid() -> None:
    document = invoice(InvoiceStatus.SENT, issued=TODAY)
    document.apply_payment(Money(10000, "AED"))
    assert (document.status, document.amount_paid, document.outstanding) == (
        InvoiceStatus.PARTIALLY_PAID, Money(10000, "AED"), Money(27800, "AED"))
    document.apply_payment(Money(27800, "AED"))
    assert (document.status, document.outstanding) == (InvoiceStatus.PAID, Money(0, "AED"))


@pytest.mark.parametrize(("document", "share", "message"), [
    (invoice(InvoiceStatus.DRAFT), 100, "invoice INV-1 is draft"),
    (invoice(InvoiceStatus.VOID), 100, "invoice INV-1 is void"),
    (invoice(InvoiceStatus.SENT, issued=TODAY, paid=37000), 900, r"past the total of invoice INV-1 \(AED 378.00\)"),
])
def test_a_payment_the_invoice_cannot_take_changes_nothing(document: Invoice, share: int, message: str) -> None:
    before = (document.status, document.amount_paid)
    with pytest.raises(InvalidTransition, match=message):
        document.apply_payment(Money(share, "AED"))
    assert (document.status, document.amount_paid) == before


@given(st.lists(st.integers(min_value=1, max_value=40_000), max_size=10))
def test_any_payments_keep_paid_within_the_total_and_the_status_true_to_it(shares: list[int]) -> None:
    document = invoice(InvoiceStatus.SENT, issued=TODAY)
    for minor in shares:
        fits = document.amount_paid.minor + minor <= document.total.minor
        try:
            document.apply_payment(Money(minor, "AED"))
        except InvalidTransition:
            assert not fits
        else:
            assert fits
        assert document.amount_paid <= document.total
        assert document.status == (InvoiceStatus.SENT if document.amount_paid.minor == 0 else
                                   InvoiceStatus.PAID if document.amount_paid == document.total else
                                   InvoiceStatus.PARTIALLY_PAID)


def test_sending_a_quote() -> None:
    fresh = quote(valid_until=TODAY + dt.timedelta(days=30))
    assert fresh.send(TODAY) is True and (fresh.status, fresh.issued_date) == (QuoteStatus.SENT, TODAY)
    assert fresh.send(TODAY) is False and fresh.status == QuoteStatus.SENT


@pytest.mark.parametrize(("document", "message"), [
    (quote(QuoteStatus.ACCEPTED), "is accepted: it cannot be sent"),
    (quote(QuoteStatus.EXPIRED), "is expired: it cannot be sent"),
    (quote(valid_until=TODAY - dt.timedelta(days=1)), "was valid until 4 Dec 2026: it cannot be sent now"),
    (quote(issued=TODAY + dt.timedelta(days=9), valid_until=TODAY + dt.timedelta(days=2)),
     "is valid until 7 Dec 2026, before its issue date 14 Dec 2026"),
])
def test_a_quote_that_cannot_be_sent_is_left_as_it_was(document: Quote, message: str) -> None:
    before = (document.status, document.issued_date)
    with pytest.raises(InvalidTransition, match=message):
        document.send(TODAY)
    assert (document.status, document.issued_date) == before
