"""The documents a client downloads, as values: an invoice, a quote, and the statement of account with its aging."""

from __future__ import annotations

import datetime as dt

import attrs

from portal_core.model.business import Business
from portal_core.model.documents import Invoice, Quote
from portal_core.model.money import Money

# Aging buckets of the statement, by days past the due date: (label, first day, last day or None).
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("not yet due", -10**9, 0), ("1–30", 1, 30), ("31–60", 31, 60), ("61–90", 61, 90), ("over 90", 91, None))


def aging_bucket(days_overdue: int) -> str:
    for label, first, last in AGING_BUCKETS:
        if days_overdue >= first and (last is None or days_overdue <= last):
            return label
    raise AssertionError(days_overdue)  # pragma: no cover - the buckets cover every integer


@attrs.frozen(kw_only=True)
class InvoiceDocument:
    business: Business
    company_name: str
    invoice: Invoice
    language: str = "en"  # the reader's: the contact's saved language, else the page's or the business's default


@attrs.frozen(kw_only=True)
class QuoteDocument:
    business: Business
    company_name: str
    quote: Quote
    language: str = "en"


@attrs.frozen(kw_only=True)
class StatementLine:
    invoice: Invoice
    days_overdue: int  # 0 or less: not yet due (an invoice without a due date is never overdue)
    bucket: str


@attrs.frozen(kw_only=True)
class CurrencySection:
    """The open invoices in one currency, oldest due first, their outstanding total and its aging."""

    currency: str
    lines: tuple[StatementLine, ...]
    outstanding: Money
    aging: tuple[tuple[str, Money], ...]  # every bucket, in AGING_BUCKETS order, zeros included


@attrs.frozen(kw_only=True)
class Statement:
    business: Business
    company_name: str
    as_of: dt.date
    sections: tuple[CurrencySection, ...]  # by currency code
    language: str = "en"

    @property
    def is_empty(self) -> bool:
        return not self.sections


Document = InvoiceDocument | QuoteDocument | Statement
