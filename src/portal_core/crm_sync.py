"""What a CRM reads back from the portal and changes by its own refs (the business-side API): the requests clients
sent and the payments they made, each as a feed read in pages behind an opaque cursor, and contacts removed by ref.
Records are written by ref through the seed loader (portal_core.seed), with the seed's rules and messages."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from portal_core import client_requests
from portal_core.errors import InvalidInput, UnknownCompany, UnknownContact, UnknownRecord
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import ClientRequest, Invoice, Job, Line, Product, Project, Quote, Task
from portal_core.model.money import quantity_text
from portal_core.model.payment import Payment
from portal_core.ports import Clock, UnitOfWork

FEED_PAGE = 100
# How long a new row waits before a feed shows it: longer than any transaction that stamps one runs (statements
# time out at 30 s, provider calls at 20 s), so a cursor never passes a row that commits later.
FEED_LAG = dt.timedelta(seconds=60)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the ids the portal makes (portal_core.ids)
T = TypeVar("T")
R = TypeVar("R")


def encode_cursor(at: dt.datetime, id_: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    """None for no cursor (the feed's start). Raises InvalidInput for anything a feed did not hand out."""
    if cursor is None or cursor == "":
        return None
    try:
        at, id_ = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|", 1)
        moment = dt.datetime.fromisoformat(at)
        moment = moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise InvalidInput("since: not a cursor this API handed out") from None
    if moment.tzinfo is None or not _ID.fullmatch(id_):
        raise InvalidInput("since: not a cursor this API handed out")
    return moment, id_


@attrs.frozen(kw_only=True)
class FeedPage(Generic[T]):
    items: tuple[T, ...]
    # Where to read on from: after the last row of this page, so that a CRM keeps it and asks again later. None
    # when this page is empty (nothing since the cursor asked with: keep that one).
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class RequestEntry:
    request: ClientRequest
    company: Company
    submitted_by: Contact | None


@attrs.frozen(kw_only=True)
class PaymentEntry:
    """One invoice's share of a confirmed payment (a payment of several invoices is one entry per invoice)."""

    payment: Payment
    invoice: Invoice
    amount_minor: int


def _settled(rows: list[R], now: dt.datetime, key: Callable[[R], dt.datetime | None]) -> list[R]:
    """The rows stamped at least FEED_LAG ago. A row is stamped inside the transaction that writes it, so one can
    commit after a later-stamped row was read; held back for FEED_LAG, every row a cursor passes has committed."""
    for index, row in enumerate(rows):
        stamped = key(row)
        if stamped is None or stamped > now - FEED_LAG:
            return rows[:index]
    return rows


def requests_since(uow: UnitOfWork, cursor: str | None, *, clock: Clock,
                   limit: int = FEED_PAGE) -> FeedPage[RequestEntry]:
    after = decode_cursor(cursor)
    with uow:
        page = _settled(uow.requests.list_after(after, limit=limit), clock.now(), lambda r: r.created_at)
        companies = {i: found for i in {r.company_id for r in page}
                     if (found := uow.companies.get(i)) is not None}
        contacts = {i: person for i in {r.submitted_by for r in page if r.submitted_by}
                    if (person := uow.contacts.get(i)) is not None}
    items = tuple(RequestEntry(request=r, company=companies[r.company_id],
                               submitted_by=contacts.get(r.submitted_by) if r.submitted_by else None) for r in page)
    return FeedPage(items=items, next_cursor=_next(page, lambda r: (r.created_at, r.id)))


def payments_since(uow: UnitOfWork, cursor: str | None, *, clock: Clock,
                   limit: int = FEED_PAGE) -> FeedPage[PaymentEntry]:
    after = decode_cursor(cursor)
    with uow:
        page = _settled(uow.payments.list_settled_after(after, limit=limit), clock.now(), lambda p: p.settled_at)
        invoices = {i.id: i for i in uow.invoices.get_many([a.invoice_id for p in page for a in p.allocations])}
    items = tuple(PaymentEntry(payment=p, invoice=invoices[a.invoice_id], amount_minor=a.amount.minor)
                  for p in page for a in p.allocations if a.invoice_id in invoices)
    return FeedPage(items=items, next_cursor=_next(page, lambda p: (p.settled_at, p.id)))


def _next(rows: list[R], key: Callable[[R], tuple[dt.datetime | None, str]]) -> str | None:
    """The cursor after the page's last row, or None when the page is empty."""
    if not rows:
        return None
    at, id_ = key(rows[-1])
    assert at is not None  # a settled payment has its time
    return encode_cursor(at, id_)


def remove_contact_by_ref(uow: UnitOfWork, company_ref: str, contact_ref: str) -> Contact:
    """Raises UnknownContact when the company has no contact with that ref (another company's is not seen)."""
    with uow:
        contact = uow.contacts.get_by_ref(contact_ref)
        company = uow.companies.get_by_ref(company_ref)
        if contact is None or company is None or contact.company_id != company.id:
            raise UnknownContact(f"company {company_ref!r} has no contact with the ref {contact_ref!r}")
        uow.contacts.remove(contact.id)
        uow.commit()
    return contact


def company_by_ref(uow: UnitOfWork, ref: str) -> Company:
    """By the CRM's ref only (a company's name is no key here). Raises UnknownCompany."""
    with uow:
        company = uow.companies.get_by_ref(ref)
    if company is None:
        raise UnknownCompany(f"no company has the ref {ref!r}")
    return company


def set_request_status(uow: UnitOfWork, request_id: str, status: str) -> RequestEntry:
    """The request with its new status, as the feed shows it. Raises UnknownRecord and InvalidInput."""
    changed = client_requests.set_request_status(uow, request_id, status)
    with uow:
        company = uow.companies.get(changed.company_id)
        by = uow.contacts.get(changed.submitted_by) if changed.submitted_by else None
    assert company is not None  # a request belongs to a company that exists (foreign key)
    return RequestEntry(request=changed, company=company, submitted_by=by)


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _lines(lines: tuple[Line, ...]) -> list[dict[str, str]]:
    return [{"description": line.description, "quantity": quantity_text(line.quantity),
             "unit_price": line.unit_price.decimal_string()} for line in lines]


def stored_record(uow: UnitOfWork, kind: str, ref: str) -> dict[str, Any]:
    """A record as stored, in the seed format's fields (kind: contacts, products, invoices, quotes, jobs, projects,
    tasks): what a CRM reads back after writing it (the seed's defaults and normalisations applied: an email in
    lower case, a saved language kept, KWD 1.5 as "1.500"). Raises UnknownRecord."""
    with uow:
        found = getattr(uow, kind).get_by_ref(ref)
        if found is None:
            raise UnknownRecord(f"no {kind[:-1]} has the ref {ref!r}")

        def ref_of(repository: str, id_: str | None) -> str | None:
            other = getattr(uow, repository).get(id_) if id_ else None
            return other.ref if other is not None else None

        common = {"ref": found.ref}
        if isinstance(found, Contact):
            return {**common, "name": found.name, "email": found.email, "language": found.language}
        if isinstance(found, Product):
            return {**common, "name": found.name, "description": found.description,
                    "unit_price": found.unit_price.decimal_string(), "currency": found.unit_price.currency}
        if isinstance(found, Project):
            return {**common, "name": found.name, "status": found.status.value}
        if isinstance(found, Job):
            return {**common, "title": found.title, "status": found.status.value,
                    "project": ref_of("projects", found.project_id),
                    "scheduled_start": _day(found.scheduled_start), "scheduled_end": _day(found.scheduled_end)}
        if isinstance(found, Task):
            return {**common, "title": found.title, "status": found.status.value, "job": ref_of("jobs", found.job_id),
                    "due_date": _day(found.due_date)}
        if isinstance(found, Quote):
            return {**common, "number": found.number, "status": found.status.value, "currency": found.currency,
                    "issued_date": _day(found.issued_date), "valid_until": _day(found.valid_until),
                    "lines": _lines(found.lines)}
        assert isinstance(found, Invoice)
        return {**common, "number": found.number, "status": found.status.value, "currency": found.currency,
                "issued_date": _day(found.issued_date), "due_date": _day(found.due_date),
                "job": ref_of("jobs", found.job_id), "tax": found.tax.decimal_string(),
                "amount_paid": found.amount_paid.decimal_string(), "lines": _lines(found.lines)}
