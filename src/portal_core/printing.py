"""The documents a client downloads: an invoice or a quote as a PDF, and the statement of account.

The core decides what a document says (which records, which amounts, the aging of what is owed) and who may have it
(the same access policy as the pages: a draft, a void invoice or another company's record is UnknownRecord); the
DocumentRenderer port lays it out as a PDF. Every download is audited as `document_downloaded`, naming the number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from portal_core import languages, policy, records
from portal_core.errors import PortalUnavailable, UnknownRecord
from portal_core.model.business import Business
from portal_core.model.documents import Invoice, InvoiceStatus
from portal_core.model.money import total_of
from portal_core.model.printable import (
    AGING_BUCKETS,
    CurrencySection,
    Document,
    InvoiceDocument,
    QuoteDocument,
    Statement,
    StatementLine,
    aging_bucket,
)
from portal_core.ports import Clock, DocumentRenderer, Randomness, UnitOfWork
from portal_core.sign_in import Viewer

NOT_FOUND = "no such record"
OPEN_STATUSES = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID})
PDF = "application/pdf"

@attrs.frozen(kw_only=True)
class RenderedDocument:
    filename: str
    content: bytes
    content_type: str = PDF


def _business(uow: UnitOfWork) -> Business:
    business = uow.business.get()
    if business is None:
        raise PortalUnavailable("the business is not set up yet")
    return business


def filename_for(number: str) -> str:
    return f"{number}.pdf"


def _pdf(uow: UnitOfWork, renderer: DocumentRenderer, clock: Clock, randomness: Randomness, viewer: Viewer,
         ip: str | None, read: Callable[[], tuple[Document, str, str]]) -> RenderedDocument:
    """Reads the document (read() raises UnknownRecord for one the viewer may not see), lays it out with no
    transaction open (a render takes a fraction of a second; SQLite would hold its write lock meanwhile), then audits
    the download. read() returns the document, what the audit entry names ("invoice INV-2001") and the file's
    name without .pdf."""
    with uow:
        document, named, name = read()
    content = renderer.render(document)
    with uow:
        records.audit(uow, randomness=randomness, clock=clock, action="document_downloaded",
                      company_id=viewer.company.id, contact_id=viewer.contact.id, ip=ip, detail=named)
        uow.commit()
    return RenderedDocument(filename=filename_for(name), content=content)


def reader_language(viewer: Viewer, business: Business, page_language: str | None) -> str:
    """A document is in the contact's saved language, else the page's it was asked from, else the business's."""
    return languages.for_reader(viewer.contact.language, business.default_language, page_language)


def invoice_pdf(uow: UnitOfWork, *, renderer: DocumentRenderer, clock: Clock, randomness: Randomness,
                viewer: Viewer, invoice_id: str, ip: str | None = None,
                language: str | None = None) -> RenderedDocument:
    """The invoice as a PDF, audited. Raises UnknownRecord unless the viewer may see the invoice."""

    def read() -> tuple[Document, str, str]:
        invoice = uow.invoices.get(invoice_id)
        if invoice is None or not policy.can_see(viewer.company, viewer.contact, invoice):
            raise UnknownRecord(NOT_FOUND)
        business = _business(uow)
        document = InvoiceDocument(business=business, company_name=viewer.company.name, invoice=invoice,
                                   language=reader_language(viewer, business, language))
        return document, f"invoice {invoice.number}", invoice.number

    return _pdf(uow, renderer, clock, randomness, viewer, ip, read)


def quote_pdf(uow: UnitOfWork, *, renderer: DocumentRenderer, clock: Clock, randomness: Randomness,
              viewer: Viewer, quote_id: str, ip: str | None = None, language: str | None = None) -> RenderedDocument:
    """The quote as a PDF, audited. Raises UnknownRecord unless the viewer may see the quote."""

    def read() -> tuple[Document, str, str]:
        quote = uow.quotes.get(quote_id)
        if quote is None or not policy.can_see(viewer.company, viewer.contact, quote):
            raise UnknownRecord(NOT_FOUND)
        business = _business(uow)
        document = QuoteDocument(business=business, company_name=viewer.company.name, quote=quote,
                                 language=reader_language(viewer, business, language))
        return document, f"quote {quote.number}", quote.number

    return _pdf(uow, renderer, clock, randomness, viewer, ip, read)


def build_statement(business: Business, company_name: str, invoices: list[Invoice], today: dt.date,
                    language: str = "en") -> Statement:
    """Every open invoice among `invoices`, grouped by currency and aged against today."""
    by_currency: dict[str, list[StatementLine]] = {}
    for invoice in invoices:
        if not invoice.is_open:
            continue
        days = (today - invoice.due_date).days if invoice.due_date is not None else 0
        by_currency.setdefault(invoice.currency, []).append(
            StatementLine(invoice=invoice, days_overdue=days, bucket=aging_bucket(days)))
    sections = []
    for currency in sorted(by_currency):
        lines = sorted(by_currency[currency], key=lambda line: (-line.days_overdue, line.invoice.number))
        aging = tuple((label, total_of([line.invoice.outstanding for line in lines if line.bucket == label],
                                       currency)) for label, _, _ in AGING_BUCKETS)
        sections.append(CurrencySection(currency=currency, lines=tuple(lines), aging=aging,
                                        outstanding=total_of([line.invoice.outstanding for line in lines],
                                                             currency)))
    return Statement(business=business, company_name=company_name, as_of=today, sections=tuple(sections),
                     language=language)


def statement(uow: UnitOfWork, viewer: Viewer, *, today: dt.date) -> Statement:
    """The statement of account: every open invoice the viewer can see, whatever its issue date. Not paged."""
    with uow:
        return _statement(uow, viewer, today)


def _statement(uow: UnitOfWork, viewer: Viewer, today: dt.date, language: str | None = None) -> Statement:
    invoices = uow.invoices.list_for_company(viewer.company.id, statuses=OPEN_STATUSES, today=today)
    visible = [i for i in invoices if policy.can_see(viewer.company, viewer.contact, i)]
    business = _business(uow)
    return build_statement(business, viewer.company.name, visible, today,
                           language=reader_language(viewer, business, language))


def statement_pdf(uow: UnitOfWork, *, renderer: DocumentRenderer, clock: Clock, randomness: Randomness,
                  viewer: Viewer, ip: str | None = None, language: str | None = None) -> RenderedDocument:
    """The statement as a PDF, audited as a document download."""
    today = clock.now().date()

    def read() -> tuple[Document, str, str]:
        document = _statement(uow, viewer, today, language)
        return document, f"statement {today.isoformat()}", f"statement-{today.isoformat()}"

    return _pdf(uow, renderer, clock, randomness, viewer, ip, read)
