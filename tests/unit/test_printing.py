"""The statement of account's rules, on plain values: which invoices it lists, their aging, the totals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from portal_core.model.business import Business
from portal_core.model.documents import Invoice, InvoiceStatus, Line
from portal_core.model.money import Money
from portal_core.model.printable import AGING_BUCKETS, aging_bucket
from portal_core.printing import build_statement

TODAY = dt.date(2026, 12, 1)
BUSINESS = Business(name="Falcon", email="office@falcon.example")
LABELS = [label for label, _, _ in AGING_BUCKETS]


def test_the_buckets_and_their_boundaries() -> None:
    assert LABELS == ["not yet due", "1–30", "31–60", "61–90", "over 90"]
    cases = {-400: "not yet due", 0: "not yet due", 1: "1–30", 30: "1–30", 31: "31–60", 60: "31–60",
             61: "61–90", 90: "61–90", 91: "over 90", 5000: "over 90"}
    assert {days: aging_bucket(days) for days in cases} == cases


def _invoice(n: int, *, currency: str, minor: int, paid: int, status: InvoiceStatus, due: int | None) -> Invoice:
    return Invoice(id=f"i{n}", company_id="c1", number=f"N-{n}", status=status, currency=currency,
                   issued_date=TODAY - dt.timedelta(days=1000), lines=(Line(
                       description="x", quantity=Decimal(1), unit_price=Money(minor, currency)),),
                   due_date=None if due is None else TODAY + dt.timedelta(days=due), tax=Money(0, currency),
                   amount_paid=Money(paid, currency))


invoices = st.lists(st.builds(
    lambda n, currency, minor, paid_share, status, due: _invoice(
        n, currency=currency, minor=minor, paid=minor * paid_share // 4, status=status, due=due),
    n=st.integers(0, 10**6), currency=st.sampled_from(["AED", "KWD", "JPY"]), minor=st.integers(1, 10**9),
    paid_share=st.integers(0, 4), status=st.sampled_from(list(InvoiceStatus)),
    due=st.none() | st.integers(-999, 999)), max_size=30, unique_by=lambda i: i.id)


@given(invoices)
def test_the_statement_holds_every_open_invoice_once_and_its_totals_add_up(given_invoices: list[Invoice]) -> None:
    statement = build_statement(BUSINESS, "Globex", given_invoices, TODAY)
    listed = [line.invoice for section in statement.sections for line in section.lines]
    assert sorted(i.id for i in listed) == sorted(i.id for i in given_invoices if i.is_open)
    assert [s.currency for s in statement.sections] == sorted({i.currency for i in listed})
    for section in statement.sections:
        assert all(line.invoice.currency == section.currency for line in section.lines)
        assert section.outstanding.minor == sum(line.invoice.outstanding.minor for line in section.lines)
        assert [label for label, _ in section.aging] == LABELS
        assert sum(amount.minor for _, amount in section.aging) == section.outstanding.minor
        for line in section.lines:
            due = line.invoice.due_date
            assert line.days_overdue == ((TODAY - due).days if due else 0)
            assert line.bucket == aging_bucket(line.days_overdue)
        overdue = [line.days_overdue for line in section.lines]
        assert overdue == sorted(overdue, reverse=True)  # the most overdue first
