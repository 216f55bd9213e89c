"""Staff actions on documents: sending invoices and quotes to clients, reminding them of overdue invoices, voiding.

A document is shown in the portal from the moment it is sent (policy.is_client_visible decides, on every request),
and every contact of its company is told by email. Notices are queued in the outbox in the transaction that changes
the document, and the command then tries to deliver them before it returns: a slow relay never holds a lock, a
contact the relay refuses now is reported without stopping the others or undoing the send, and what was refused
stays queued for the next dispatcher (retried with backoff).

Repeat notices (re-sending a document already sent, overdue reminders) reach a document's contacts at most once per
REMIND_EVERY, whatever is run: each notice is claimed in the NoticeLog under the invoice's row lock, in the
transaction that queues it. A first send (draft to sent) always goes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import attrs

from portal_core import languages, outbox, records
from portal_core.companies import find_company, portal_link
from portal_core.errors import PortalUnavailable, UnknownRecord
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Quote
from portal_core.model.mail import Attachment, DocumentKind, DocumentNotice, Notice, OverdueLine, OverdueReminder
from portal_core.model.outbox import MailPurpose
from portal_core.model.printable import Document, InvoiceDocument, QuoteDocument
from portal_core.ports import (
    Clock,
    DocumentRenderer,
    EmailSender,
    EmailTemplates,
    Progress,
    Randomness,
    UnitOfWork,
)

REMIND_EVERY = dt.timedelta(hours=24)
# Kinds of notice in the NoticeLog. Both count toward the limit on repeat notices.
SENT_NOTICE = "sent"
OVERDUE_REMINDER = "overdue_reminder"
_OPEN_STATUSES = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID})


@attrs.frozen(kw_only=True)
class Delivery:
    """What became of one contact's notice: delivered to the relay, or the relay's reason for refusing it."""

    contact_id: str
    contact_name: str
    email: str
    problem: str | None = None
    in_flight: bool = False  # another dispatcher had already taken it: it is being sent, its outcome unknown here

    @property
    def delivered(self) -> bool:
        return self.problem is None and not self.in_flight


@attrs.frozen(kw_only=True)
class SendOutcome:
    """What `send` did: the document afterwards, whether it changed, and each contact's notice."""

    document: Invoice | Quote
    company_name: str
    changed: bool  # a draft became sent; False for a repeat notice
    portal_link: str | None  # the sign-in page the notices linked to; None while portal access is disabled
    deliveries: tuple[Delivery, ...] = ()
    held_back_until: dt.datetime | None = None  # a repeat notice too soon after the last one: nothing was mailed

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.INVOICE if isinstance(self.document, Invoice) else DocumentKind.QUOTE

    @property
    def failures(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.problem is not None)


@attrs.frozen(kw_only=True)
class CompanyReminder:
    """One company's overdue reminder: the invoices it listed, the ones held back, and each contact's email."""

    company_name: str
    invoices: tuple[Invoice, ...]
    held_back: tuple[tuple[Invoice, dt.datetime], ...]  # (invoice, when it may be reminded again)
    portal_link: str | None
    deliveries: tuple[Delivery, ...] = ()

    @property
    def failures(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.problem is not None)


@attrs.frozen(kw_only=True)
class RemindReport:
    companies: tuple[CompanyReminder, ...]

    @property
    def failures(self) -> tuple[Delivery, ...]:
        return tuple(d for c in self.companies for d in c.failures)


@attrs.frozen(kw_only=True)
class _Mail:
    contact: Contact
    message_id: str  # its outbox id


def sign_in_link(base_url: str, company: Company) -> str | None:
    """Where a notice sends a client: the company's sign-in page (never a code, never a link that signs in)."""
    return portal_link(base_url, company) + "/login" if company.portal_enabled else None


def _business(uow: UnitOfWork) -> Business:
    business = uow.business.get()
    if business is None:
        raise PortalUnavailable("the portal is not set up: no business")
    return business


def company_of(uow: UnitOfWork, company_id: str) -> Company:
    company = uow.companies.get(company_id)
    if company is None:  # pragma: no cover - every document belongs to a company (foreign key)
        raise UnknownRecord("the document's company is missing")
    return company


def invoice_for_update(uow: UnitOfWork, ref: str) -> Invoice:
    """REF is the invoice's seed ref or its public id; the row stays locked until commit."""
    invoice = uow.invoices.get_for_update(records.find_by_ref_or_id(uow.invoices, ref, "invoice").id)
    if invoice is None:  # pragma: no cover - invoices are never deleted
        raise UnknownRecord(f"no invoice with ref or id {ref!r}")
    return invoice


def _held_back_until(uow: UnitOfWork, document_id: str, now: dt.datetime) -> dt.datetime | None:
    """When the next repeat notice may go out, if that is still in the future."""
    times = [t for t in (uow.notices.last_sent(document_id, SENT_NOTICE),
                         uow.notices.last_sent(document_id, OVERDUE_REMINDER)) if t is not None]
    if not times:
        return None
    until = max(times) + REMIND_EVERY
    return until if now < until else None


def _queue(uow: UnitOfWork, templates: EmailTemplates, clock: Clock, randomness: Randomness, company: Company,
           notice_for: Callable[[Contact], Notice], *, purpose: MailPurpose, action: str, detail: str,
           subject_ref: str,
           attachments: Callable[[Contact], tuple[Attachment, ...]] | None = None) -> tuple[_Mail, ...]:
    """One message per contact, queued in the open transaction; each try of each is audited as action_sent/_failed."""
    return tuple(
        _Mail(contact=contact, message_id=outbox.enqueue(
            uow, clock=clock, randomness=randomness,
            email=attrs.evolve(templates.render(notice_for(contact), to=contact.email),
                               attachments=attachments(contact) if attachments else ()),
            purpose=purpose, company_id=company.id, contact_id=contact.id, subject_ref=subject_ref,
            audit_action=action, audit_detail=detail))
        for contact in uow.contacts.list_for_company(company.id))


def _deliver(uow: UnitOfWork, sender: EmailSender, clock: Clock, randomness: Randomness,
             mails: tuple[_Mail, ...]) -> tuple[Delivery, ...]:
    """Tries the queued notices now, one contact's failure stopping nobody else; what the relay refuses stays
    queued. A notice another dispatcher already took is reported as in flight."""
    if not mails:
        return ()
    attempts = {a.message_id: a for a in outbox.dispatch(uow, sender=sender, clock=clock, randomness=randomness,
                                                           ids=[m.message_id for m in mails], limit=len(mails))}
    return tuple(Delivery(contact_id=m.contact.id, contact_name=m.contact.name, email=m.contact.email,
                          problem=attempts[m.message_id].problem if m.message_id in attempts else None,
                          in_flight=m.message_id not in attempts)
                 for m in mails)


def _pdfs(documents: DocumentRenderer | None, business: Business, make: Callable[[str], Document],
          number: str) -> Callable[[Contact], tuple[Attachment, ...]]:
    """Each contact's PDF attachment, in their language (their saved one, else the business's default), rendered
    once per language whatever the number of contacts; none without a renderer."""
    rendered: dict[str, tuple[Attachment, ...]] = {}

    def for_contact(contact: Contact) -> tuple[Attachment, ...]:
        if documents is None:
            return ()
        language = languages.for_reader(contact.language, business.default_language)
        if language not in rendered:
            rendered[language] = (Attachment(filename=f"{number}.pdf", content_type="application/pdf",
                                             content=documents.render(make(language))),)
        return rendered[language]

    return for_contact


def _link_note(link: str | None) -> str:
    return "" if link else " (no portal link: portal access is off)"


# ---- sending


def send_invoice(uow: UnitOfWork, *, sender: EmailSender, templates: EmailTemplates, clock: Clock,
                 randomness: Randomness, base_url: str, ref: str,
                 documents: DocumentRenderer | None = None) -> SendOutcome:
    """A draft becomes sent (issued today unless it has an issue date) and every contact is told; a sent or partly
    paid invoice is left as it is and its notice sent again, at most once per REMIND_EVERY. With a renderer, each
    notice carries the invoice as a PDF named after its number.

    Raises UnknownRecord, InvalidTransition (void or paid, or a due date before the issue date) and
    PortalUnavailable (no business set up). Delivery failures are reported in the outcome, never raised.
    """
    now = clock.now()
    with uow:
        business = _business(uow)
        invoice = invoice_for_update(uow, ref)
        company = company_of(uow, invoice.company_id)
        changed = invoice.send(now.date())
        link = sign_in_link(base_url, company)
        if changed:
            uow.invoices.update(invoice)
            records.audit(uow, randomness=randomness, clock=clock, action="invoice_sent", company_id=company.id,
                          detail=f"invoice {invoice.number}")
        else:
            until = _held_back_until(uow, invoice.id, now)
            if until is not None:
                return SendOutcome(document=invoice, company_name=company.name, changed=False, portal_link=link,
                                   held_back_until=until)
        uow.notices.record(invoice.id, SENT_NOTICE, now)

        def notice(contact: Contact) -> Notice:
            return DocumentNotice(business=business, company_name=company.name, contact_name=contact.name,
                                  kind=DocumentKind.INVOICE, number=invoice.number, total=invoice.total,
                                  outstanding=invoice.outstanding, issued_date=invoice.issued_date,
                                  due_date=invoice.due_date, valid_until=None, portal_link=link, reminder=not changed,
                                  language=languages.for_reader(contact.language, business.default_language))

        pdf = _pdfs(documents, business, lambda language: InvoiceDocument(
            business=business, company_name=company.name, invoice=invoice, language=language), invoice.number)
        mails = _queue(uow, templates, clock, randomness, company, notice, purpose=MailPurpose.DOCUMENT_NOTICE,
                       action="invoice_notice", subject_ref=f"invoice:{invoice.id}", attachments=pdf,
                       detail=f"invoice {invoice.number}{' again' if not changed else ''}{_link_note(link)}")
        uow.commit()
    return SendOutcome(document=invoice, company_name=company.name, changed=changed, portal_link=link,
                       deliveries=_deliver(uow, sender, clock, randomness, mails))


def send_quote(uow: UnitOfWork, *, sender: EmailSender, templates: EmailTemplates, clock: Clock,
               randomness: Randomness, base_url: str, ref: str,
               documents: DocumentRenderer | None = None) -> SendOutcome:
    """A draft quote becomes sent and every contact is told; a sent quote's notice is sent again (at most once per
    REMIND_EVERY). Accepted, declined and expired quotes, and quotes past their valid-until date, are refused. With a
    renderer, each notice carries the quote as a PDF named after its number.

    Raises UnknownRecord, InvalidTransition and PortalUnavailable.
    """
    now = clock.now()
    today = now.date()
    with uow:
        business = _business(uow)
        quote = records.find_by_ref_or_id(uow.quotes, ref, "quote")
        company = company_of(uow, quote.company_id)
        changed = quote.send(today)
        link = sign_in_link(base_url, company)
        if changed:
            uow.quotes.update(quote)
            records.audit(uow, randomness=randomness, clock=clock, action="quote_sent", company_id=company.id,
                          detail=f"quote {quote.number}")
        else:
            until = _held_back_until(uow, quote.id, now)
            if until is not None:
                return SendOutcome(document=quote, company_name=company.name, changed=False, portal_link=link,
                                   held_back_until=until)
        uow.notices.record(quote.id, SENT_NOTICE, now)

        def notice(contact: Contact) -> Notice:
            return DocumentNotice(business=business, company_name=company.name, contact_name=contact.name,
                                  kind=DocumentKind.QUOTE, number=quote.number, total=quote.total, outstanding=None,
                                  issued_date=quote.issued_date, due_date=None, valid_until=quote.valid_until,
                                  portal_link=link, reminder=not changed,
                                  language=languages.for_reader(contact.language, business.default_language))

        pdf = _pdfs(documents, business, lambda language: QuoteDocument(
            business=business, company_name=company.name, quote=quote, language=language), quote.number)
        mails = _queue(uow, templates, clock, randomness, company, notice, purpose=MailPurpose.DOCUMENT_NOTICE,
                       action="quote_notice", subject_ref=f"quote:{quote.id}", attachments=pdf,
                       detail=f"quote {quote.number}{' again' if not changed else ''}{_link_note(link)}")
        uow.commit()
    return SendOutcome(document=quote, company_name=company.name, changed=changed, portal_link=link,
                       deliveries=_deliver(uow, sender, clock, randomness, mails))


# ---- overdue reminders


def _overdue_line(invoice: Invoice, today: dt.date) -> OverdueLine:
    assert invoice.due_date is not None  # overdue invoices have one
    return OverdueLine(number=invoice.number, due_date=invoice.due_date, days_overdue=(today - invoice.due_date).days,
                       total=invoice.total, outstanding=invoice.outstanding)


def remind_overdue(uow: UnitOfWork, *, sender: EmailSender, templates: EmailTemplates, clock: Clock,
                   randomness: Randomness, base_url: str, company_key: str | None = None,
                   progress: Progress | None = None) -> RemindReport:
    """One email per contact listing the company's overdue invoices not reminded (nor sent) in the last
    REMIND_EVERY; every company's, or only COMPANY's (ref or name). Raises UnknownCompany and PortalUnavailable.
    `progress` is told of each company's reminders handed to the relay (the slow part, after the commit)."""
    now = clock.now()
    today = now.date()
    batches: list[tuple[CompanyReminder, tuple[_Mail, ...]]] = []
    with uow:
        business = _business(uow)
        companies: Sequence[Company] = [find_company(uow, company_key)] if company_key else uow.companies.list()
        for company in companies:
            listed = uow.invoices.list_for_company(company.id, statuses=_OPEN_STATUSES, today=today)
            due: list[Invoice] = []
            held: list[tuple[Invoice, dt.datetime]] = []
            for candidate in (i for i in listed if i.is_overdue(today)):
                # Under the row lock, so two reminder runs at once cannot both claim the same invoice.
                invoice = uow.invoices.get_for_update(candidate.id)
                if invoice is None or not invoice.is_overdue(today):
                    continue
                until = _held_back_until(uow, invoice.id, now)
                if until is not None:
                    held.append((invoice, until))
                    continue
                uow.notices.record(invoice.id, OVERDUE_REMINDER, now)
                due.append(invoice)
            link = sign_in_link(base_url, company)
            reminder = CompanyReminder(company_name=company.name, invoices=tuple(due), held_back=tuple(held),
                                       portal_link=link)
            if not due:
                batches.append((reminder, ()))
                continue
            lines = tuple(_overdue_line(i, today) for i in due)

            def notice(contact: Contact, company: Company = company, lines: tuple[OverdueLine, ...] = lines,
                       link: str | None = link) -> Notice:
                return OverdueReminder(business=business, company_name=company.name, contact_name=contact.name,
                                       invoices=lines, portal_link=link,
                                       language=languages.for_reader(contact.language, business.default_language))

            numbers = ", ".join(i.number for i in due)
            batches.append((reminder, _queue(uow, templates, clock, randomness, company, notice,
                                             purpose=MailPurpose.OVERDUE_REMINDER, action="overdue_reminder",
                                             subject_ref=f"company:{company.id}",
                                             detail=f"overdue invoices {numbers}{_link_note(link)}")))
        uow.commit()
    reminders = []
    for done, (reminder, mails) in enumerate(batches, start=1):
        reminders.append(attrs.evolve(reminder, deliveries=_deliver(uow, sender, clock, randomness, mails))
                         if mails else reminder)
        if progress is not None:
            progress(done, len(batches))
    return RemindReport(companies=tuple(reminders))


# ---- voiding
