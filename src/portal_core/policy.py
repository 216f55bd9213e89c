"""The access policy: pure functions deciding what a contact may see. Each fails closed."""

from __future__ import annotations

from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import (
    ClientRequest,
    Invoice,
    InvoiceStatus,
    Job,
    Project,
    Quote,
    QuoteStatus,
    Task,
)
from portal_core.model.files import File

CLIENT_VISIBLE_INVOICE_STATUSES = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID})
CLIENT_VISIBLE_QUOTE_STATUSES = frozenset({QuoteStatus.SENT, QuoteStatus.ACCEPTED, QuoteStatus.DECLINED,
                                           QuoteStatus.EXPIRED})

CompanyRecord = Invoice | Quote | Job | Project | Task | ClientRequest


def may_use_portal(company: Company | None, contact: Contact | None) -> bool:
    """The contact may be signed in to this company's portal right now."""
    return (company is not None and contact is not None and company.portal_enabled
            and contact.company_id == company.id)


def is_client_visible(record: object) -> bool:
    """Drafts (and void invoices) are the business's own; everything else a company owns is shown to it."""
    if isinstance(record, Invoice):
        return record.status in CLIENT_VISIBLE_INVOICE_STATUSES
    if isinstance(record, Quote):
        return record.status in CLIENT_VISIBLE_QUOTE_STATUSES
    return isinstance(record, Job | Project | Task | ClientRequest)


def can_see(company: Company | None, contact: Contact | None, record: object) -> bool:
    if not may_use_portal(company, contact) or company is None:
        return False
    return getattr(record, "company_id", None) == company.id and is_client_visible(record)


def can_see_file(company: Company | None, contact: Contact | None, file: File | None,
                 attached_to: Job | Invoice | None) -> bool:
    """A file is visible only while attached to a job or invoice the contact can see."""
    if file is None or attached_to is None or company is None or file.company_id != company.id:
        return False
    if isinstance(attached_to, Job):
        attached = file.job_id is not None and file.job_id == attached_to.id
    else:
        attached = file.invoice_id is not None and file.invoice_id == attached_to.id
    return attached and can_see(company, contact, attached_to)


def can_pay(company: Company | None, contact: Contact | None, invoice: Invoice) -> bool:
    return can_see(company, contact, invoice) and invoice.is_open
