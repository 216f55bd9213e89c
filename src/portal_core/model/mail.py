"""Email as the core sees it: what to say (a notice) and the rendered message handed to the sender."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from portal_core.model.business import Business
from portal_core.model.money import Money


@attrs.frozen(kw_only=True)
class Attachment:
    """A file sent with an email: an invoice's or a quote's PDF."""

    filename: str
    content_type: str
    content: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None
    message_id: str | None = None  # set by the outbox: the same on every try of one message
    attachments: tuple[Attachment, ...] = ()

    def __repr__(self) -> str:  # bodies may hold a code: never in a repr, a log line or a traceback
        return f"Email(subject={self.subject!r})"


@attrs.frozen(kw_only=True)
class SignInCodeNotice:
    business: Business
    company_name: str
    contact_name: str
    code: str = attrs.field(repr=False)
    valid_minutes: int
    language: str = "en"  # the contact's saved language, else the page's the code was asked from


@attrs.frozen(kw_only=True)
class NewRequestNotice:
    """Tells the business that a contact sent a request from the portal."""

    business: Business
    request_id: str
    company_name: str
    contact_name: str
    contact_email: str
    title: str
    details: str
    language: str = "en"  # the business's default language: the notice is for its staff


@attrs.frozen(kw_only=True)
class PaymentReceiptNotice:
    """Tells the contact who paid that the business received the payment."""

    business: Business
    company_name: str
    contact_name: str
    invoice_number: str
    amount: Money
    outstanding: Money
    paid_at: dt.datetime
    provider: str
    payment_id: str
    invoice_count: int = 1  # several when one payment paid several invoices (invoice_number then lists them all)
    language: str = "en"  # the contact's saved language, else the business's default


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    QUOTE = "quote"


@attrs.frozen(kw_only=True)
class DocumentNotice:
    """Tells a contact that the business sent them an invoice or a quote (or reminds them of one)."""

    business: Business
    company_name: str
    contact_name: str
    kind: DocumentKind
    number: str
    total: Money
    outstanding: Money | None  # invoices only
    issued_date: dt.date | None
    due_date: dt.date | None  # invoices only
    valid_until: dt.date | None  # quotes only
    portal_link: str | None  # the company's sign-in page; None while its portal access is disabled
    reminder: bool = False  # the document was sent before: this notice repeats it
    language: str = "en"  # the contact's saved language, else the business's default


@attrs.frozen(kw_only=True)
class OverdueLine:
    number: str
    due_date: dt.date
    days_overdue: int
    total: Money
    outstanding: Money


@attrs.frozen(kw_only=True)
class OverdueReminder:
    """Lists a company's overdue invoices and what is left to pay on each, for one contact."""

    business: Business
    company_name: str
    contact_name: str
    invoices: tuple[OverdueLine, ...]
    portal_link: str | None  # the company's sign-in page; None while its portal access is disabled
    language: str = "en"  # the contact's saved language, else the business's default


Notice = SignInCodeNotice | NewRequestNotice | PaymentReceiptNotice | DocumentNotice | OverdueReminder
