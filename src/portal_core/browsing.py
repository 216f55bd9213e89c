"""What a signed-in client reads: the home summary, every section's pages and the detail of each record.

Each function opens the unit of work, makes a fixed number of repository calls (never one per record shown) and
passes every record through the access policy before returning it, on top of the repositories' own filtering: a
record the policy refuses is never returned, and asking for one by id raises UnknownRecord, exactly as an id that
does not exist does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import attrs

from portal_core import ordering, paging, policy
from portal_core.errors import NotSignedIn, RecordMissing, UnknownRecord
from portal_core.model.business import Business
from portal_core.model.documents import (
    ACTIVE_JOB_STATUSES,
    Invoice,
    InvoiceStatus,
    Job,
    Product,
    Project,
    Quote,
    QuoteStatus,
    Task,
)
from portal_core.model.files import File
from portal_core.model.payment import Provider
from portal_core.paging import PAGE_SIZE, Page
from portal_core.ports import Clock, UnitOfWork
from portal_core.sign_in import SignInPolicy, Viewer, checked_viewer, read_page_rows

T = TypeVar("T")

# Quotes awaiting review that expire within this many days are urgent (Take Actions).
EXPIRING_SOON_DAYS = 7
# The home page summarises; each of its sections fetches at most this many records and shows fewer.
HOME_SHOWN = 10
HOME_FETCH = HOME_SHOWN + 1  # what a section shows, and one row more to know whether there is more

OPEN_INVOICE_STATUSES = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID})
NOT_FOUND = "no such record"


@attrs.frozen(kw_only=True)
class InvoiceView:
    """An invoice as the client sees it today (the Pay Now macro receives this)."""

    invoice: Invoice
    overdue: bool
    payable: bool


@attrs.frozen(kw_only=True)
class QuoteView:
    quote: Quote
    awaiting_review: bool
    expires_soon: bool
    # A sent quote whose valid-until date has passed reads as expired, whatever the CRM has not updated yet.
    lapsed: bool


@attrs.frozen(kw_only=True)
class TaskView:
    task: Task
    job: Job | None


@attrs.frozen(kw_only=True)
class HomeSummary:
    overdue_invoices: tuple[InvoiceView, ...]
    expiring_quotes: tuple[QuoteView, ...]
    pending_invoices: tuple[InvoiceView, ...]
    pending_quotes: tuple[QuoteView, ...]
    active_jobs: tuple[Job, ...]
    more_pending_invoices: bool
    more_pending_quotes: bool
    more_active_jobs: bool

    @property
    def has_actions(self) -> bool:
        return bool(self.overdue_invoices or self.expiring_quotes)


@attrs.frozen(kw_only=True)
class InvoiceDetail:
    view: InvoiceView
    job: Job | None
    files: tuple[File, ...]


@attrs.frozen(kw_only=True)
class JobDetail:
    job: Job
    project: Project | None
    tasks: tuple[Task, ...]
    files: tuple[File, ...]


@attrs.frozen(kw_only=True)
class ProjectDetail:
    project: Project
    jobs: tuple[Job, ...]


@attrs.frozen(kw_only=True)
class PageContext:
    """What every signed-in page needs besides its own records, read in one transaction: who is looking, the
    business for the branding, and the connected payment providers (for Pay Now)."""

    viewer: Viewer
    business: Business | None
    payment_providers: tuple[Provider, ...]


def open_page(uow: UnitOfWork, *, clock: Clock, policy: SignInPolicy, link_token: str, cookie: str | None,
              reader: UnitOfWork | None = None) -> PageContext:
    """Checks the viewer (as current_viewer does) and reads the page's shared context, in one query where the unit
    of work offers it, through `reader` when given (a read-only unit of work: no transaction around the read).
    Only when the session's last-seen time is due (once a minute at most) does `uow` write it, in a transaction of
    its own; SessionStore.update never revives a session a sign-out ended in between.

    Raises PortalUnavailable or NotSignedIn, as current_viewer does.
    """
    reads = uow if reader is None else reader
    with reads:
        rows = read_page_rows(reads, link_token, cookie)
    viewer, touched = checked_viewer(rows, clock=clock, policy=policy, cookie=cookie)
    if touched is not None:
        with uow:
            try:
                uow.sessions.update(touched)
            except RecordMissing:  # deleted since the read (pruned): there is no session any more
                raise NotSignedIn("your session has ended; please sign in again") from None
            uow.commit()
    return PageContext(viewer=viewer, business=rows.business, payment_providers=rows.providers)


# ---- views of single records


def _sees(viewer: Viewer, record: object) -> bool:
    return policy.can_see(viewer.company, viewer.contact, record)


def _invoice_view(viewer: Viewer, invoice: Invoice, today: dt.date) -> InvoiceView:
    return InvoiceView(invoice=invoice, overdue=invoice.is_overdue(today),
                       payable=policy.can_pay(viewer.company, viewer.contact, invoice))


def _quote_view(quote: Quote, today: dt.date) -> QuoteView:
    awaiting = quote.awaiting_review(today)
    soon = (awaiting and quote.valid_until is not None
            and quote.valid_until <= today + dt.timedelta(days=EXPIRING_SOON_DAYS))
    lapsed = quote.status == QuoteStatus.SENT and not awaiting
    return QuoteView(quote=quote, awaiting_review=awaiting, expires_soon=soon, lapsed=lapsed)


def _visible(viewer: Viewer, records: list[T]) -> list[T]:
    return [record for record in records if _sees(viewer, record)]


def _files_of(viewer: Viewer, files: list[File], attached_to: Job | Invoice) -> tuple[File, ...]:
    # Both checks, on purpose: the file must hang off this very record, and the record must be one the viewer sees.
    return tuple(f for f in files if _sees(viewer, attached_to)
                 and policy.can_see_file(viewer.company, viewer.contact, f, attached_to))


# ---- pagination


def _fetch_page(uow: UnitOfWork, number: int, fetch: Callable[[int, int], list[T]]) -> Page[T]:
    """Page `number` of what fetch(offset, limit) reads in one transaction; it is asked for one row more than is
    shown, to know whether a next page exists. Past MAX_PAGE the page is empty without a query."""
    wanted = paging.window(number)
    if wanted is None:
        return paging.page_of([], number)
    with uow:
        rows = fetch(*wanted)
    return paging.page_of(rows, number)


# ---- the home page


def home_summary(uow: UnitOfWork, viewer: Viewer, *, today: dt.date) -> HomeSummary:
    """Take Actions (overdue invoices, then quotes expiring within a week), pending invoices and quotes, active jobs.

    Each section reads what it shows and one row more (three queries, however many records): the open invoices
    overdue first, so the overdue ones are the first of them; the quotes awaiting review, newest first, with those
    of them that expire within a week, soonest first; the active jobs. An invoice whose status says open but has
    nothing left to pay is not shown, so that section may then show one fewer."""
    company_id = viewer.company.id
    with uow:
        invoices = uow.invoices.list_for_company(company_id, statuses=OPEN_INVOICE_STATUSES, today=today,
                                                 limit=HOME_FETCH)
        expiring_by = today + dt.timedelta(days=EXPIRING_SOON_DAYS)
        quotes = uow.quotes.list_awaiting(company_id, today=today, expiring_by=expiring_by, limit=HOME_FETCH)
        jobs = uow.jobs.list_for_company(company_id, statuses=ACTIVE_JOB_STATUSES, limit=HOME_FETCH)
    pending = [_invoice_view(viewer, i, today) for i in _visible(viewer, invoices) if i.is_open]
    visible_quotes = [q for q in _visible(viewer, quotes) if q.awaiting_review(today)]
    awaiting = [_quote_view(q, today) for q in visible_quotes[:HOME_FETCH]]  # newest first
    expiring = [view for q in ordering.expiring_quotes(visible_quotes, expiring_by)
                if (view := _quote_view(q, today)).expires_soon]
    active = [j for j in _visible(viewer, jobs) if j.is_active]
    return HomeSummary(
        overdue_invoices=tuple(v for v in pending if v.overdue)[:HOME_SHOWN],
        expiring_quotes=tuple(expiring[:HOME_SHOWN]),
        pending_invoices=tuple(pending[:HOME_SHOWN]),
        pending_quotes=tuple(awaiting[:HOME_SHOWN]),
        active_jobs=tuple(active[:HOME_SHOWN]),
        more_pending_invoices=len(pending) > HOME_SHOWN,
        more_pending_quotes=len(awaiting) > HOME_SHOWN,
        more_active_jobs=len(active) > HOME_SHOWN,
    )


# ---- the section lists


def list_invoices(uow: UnitOfWork, viewer: Viewer, *, today: dt.date, page: int = 1) -> Page[InvoiceView]:
    """Overdue first, then by due date."""
    return _fetch_page(uow, page, lambda offset, limit: [_invoice_view(viewer, i, today) for i in _visible(
        viewer, uow.invoices.list_for_company(viewer.company.id, statuses=policy.CLIENT_VISIBLE_INVOICE_STATUSES,
                                              today=today, offset=offset, limit=limit))])


def list_quotes(uow: UnitOfWork, viewer: Viewer, *, today: dt.date, page: int = 1) -> Page[QuoteView]:
    """Newest issued first."""
    return _fetch_page(uow, page, lambda offset, limit: [_quote_view(q, today) for q in _visible(
        viewer, uow.quotes.list_for_company(viewer.company.id, statuses=policy.CLIENT_VISIBLE_QUOTE_STATUSES,
                                            offset=offset, limit=limit))])


def list_jobs(uow: UnitOfWork, viewer: Viewer, *, page: int = 1) -> Page[Job]:
    """By scheduled start, unscheduled last."""
    return _fetch_page(uow, page, lambda offset, limit: _visible(
        viewer, uow.jobs.list_for_company(viewer.company.id, offset=offset, limit=limit)))


def list_projects(uow: UnitOfWork, viewer: Viewer, *, page: int = 1) -> Page[Project]:
    return _fetch_page(uow, page, lambda offset, limit: _visible(
        viewer, uow.projects.list_for_company(viewer.company.id, offset=offset, limit=limit)))


def list_tasks(uow: UnitOfWork, viewer: Viewer, *, page: int = 1) -> Page[TaskView]:
    """Open before done, then by due date; each with its job (loaded for the whole page in one call)."""

    def fetch(offset: int, limit: int) -> list[TaskView]:
        rows = _visible(viewer, uow.tasks.list_for_company(viewer.company.id, offset=offset, limit=limit))
        job_ids = sorted({t.job_id for t in rows[:PAGE_SIZE] if t.job_id})
        jobs = {j.id: j for j in _visible(viewer, uow.jobs.get_many(job_ids))} if job_ids else {}
        return [TaskView(task=t, job=jobs.get(t.job_id) if t.job_id else None) for t in rows]

    return _fetch_page(uow, page, fetch)


def list_products(uow: UnitOfWork, viewer: Viewer, *, page: int = 1) -> Page[Product]:
    """The business's catalogue: the same for every client, shown only inside a portal the viewer may use."""
    if not policy.may_use_portal(viewer.company, viewer.contact):
        return paging.page_of([], page)
    return _fetch_page(uow, page, lambda offset, limit: uow.products.list(offset=offset, limit=limit))


# ---- the details


def invoice_detail(uow: UnitOfWork, viewer: Viewer, invoice_id: str, *, today: dt.date) -> InvoiceDetail:
    """Raises UnknownRecord unless the viewer may see the invoice."""
    with uow:
        invoice = uow.invoices.get(invoice_id)
        if invoice is None or not _sees(viewer, invoice):
            raise UnknownRecord(NOT_FOUND)
        job = uow.jobs.get(invoice.job_id) if invoice.job_id else None
        files = uow.files.list_for_company(viewer.company.id, invoice_id=invoice.id)
    return InvoiceDetail(view=_invoice_view(viewer, invoice, today),
                         job=job if job is not None and _sees(viewer, job) else None,
                         files=_files_of(viewer, files, invoice))


def quote_detail(uow: UnitOfWork, viewer: Viewer, quote_id: str, *, today: dt.date) -> QuoteView:
    """Raises UnknownRecord unless the viewer may see the quote."""
    with uow:
        quote = uow.quotes.get(quote_id)
    if quote is None or not _sees(viewer, quote):
        raise UnknownRecord(NOT_FOUND)
    return _quote_view(quote, today)


def job_detail(uow: UnitOfWork, viewer: Viewer, job_id: str) -> JobDetail:
    """The job with its tasks, its files and its project. Raises UnknownRecord unless the viewer may see the job."""
    with uow:
        job = uow.jobs.get(job_id)
        if job is None or not _sees(viewer, job):
            raise UnknownRecord(NOT_FOUND)
        project = uow.projects.get(job.project_id) if job.project_id else None
        tasks = uow.tasks.list_for_company(viewer.company.id, job_id=job.id)
        files = uow.files.list_for_company(viewer.company.id, job_id=job.id)
    return JobDetail(job=job, project=project if project is not None and _sees(viewer, project) else None,
                     tasks=tuple(t for t in _visible(viewer, tasks) if t.job_id == job.id),
                     files=_files_of(viewer, files, job))


def project_detail(uow: UnitOfWork, viewer: Viewer, project_id: str) -> ProjectDetail:
    """The project with its jobs. Raises UnknownRecord unless the viewer may see the project."""
    with uow:
        project = uow.projects.get(project_id)
        if project is None or not _sees(viewer, project):
            raise UnknownRecord(NOT_FOUND)
        jobs = uow.jobs.list_for_company(viewer.company.id, project_id=project.id)
    return ProjectDetail(project=project, jobs=tuple(j for j in _visible(viewer, jobs) if j.project_id == project.id))
