"""Hypothesis strategies for the unit tests: consistent worlds of a business, its client companies and their records."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import (
    ClientRequest,
    Invoice,
    InvoiceStatus,
    Job,
    JobStatus,
    Line,
    Project,
    ProjectStatus,
    Quote,
    QuoteStatus,
    RequestStatus,
    Task,
    TaskStatus,
)
from portal_core.model.files import File
from portal_core.model.money import Money

CURRENCIES = ("AED", "USD", "JPY", "KWD", "BHD", "EUR")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

Record = Invoice | Quote | Job | Project | Task | ClientRequest


@attrs.frozen
class World:
    business: Business
    companies: tuple[Company, ...]
    contacts: tuple[Contact, ...]
    projects: tuple[Project, ...]
    jobs: tuple[Job, ...]
    tasks: tuple[Task, ...]
    quotes: tuple[Quote, ...]
    invoices: tuple[Invoice, ...]
    requests: tuple[ClientRequest, ...]
    files: tuple[File, ...]

    @property
    def records(self) -> tuple[Record, ...]:
        return (*self.projects, *self.jobs, *self.tasks, *self.quotes, *self.invoices, *self.requests)

    def parent_of(self, file: File) -> Job | Invoice:
        """The one job or invoice a file is attached to."""
        parents = [j for j in self.jobs if j.id == file.job_id] + [i for i in self.invoices if i.id == file.invoice_id]
        assert len(parents) == 1, file
        return parents[0]

    def company(self, company_id: str) -> Company:
        return next(c for c in self.companies if c.id == company_id)


dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).filter(lambda s: s.strip() != "")
emails = st.sampled_from(["homer@globex.example", "Marge@Globex.example", "bart@school.example",
                          "lisa@school.example", "ned@leftorium.example", "shared@both.example"])


def _lines(draw: st.DrawFn, currency: str) -> tuple[Line, ...]:
    count = draw(st.integers(min_value=0, max_value=3))
    return tuple(Line(description=draw(names),
                      quantity=draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=3)),
                      unit_price=Money(draw(st.integers(min_value=0, max_value=10**7)), currency))
                 for _ in range(count))


@st.composite
def worlds(draw: st.DrawFn, max_companies: int = 4) -> World:
    """A business, several companies (portal on or off) and, per company, contacts and records of every kind.

    Every link (job -> project, task -> job, invoice -> job, request -> contact, file -> job or invoice) stays
    inside the company that owns the record, as the seed loader and the use cases guarantee.
    """
    serial = itertools.count(1)

    def new_id(kind: str) -> str:
        return f"{kind}-{next(serial)}"

    business = Business(name="Falcon Facilities", email="office@falcon.example")
    companies, contacts, projects, jobs, tasks, quotes, invoices, requests, files = ([] for _ in range(9))
    for c in range(draw(st.integers(min_value=1, max_value=max_companies))):
        company = Company(id=new_id("company"), name=f"Company {c}", ref=f"co{c}",
                          portal_enabled=draw(st.booleans()), link_token=f"link-token-{c:02d}-" + "x" * 20)
        companies.append(company)
        cid = company.id
        company_contacts = [Contact(id=new_id("contact"), company_id=cid, name=draw(names), email=email)
                            for email in draw(st.lists(emails, max_size=3, unique_by=str.lower))]
        contacts += company_contacts
        company_projects = [Project(id=new_id("project"), company_id=cid, name=draw(names),
                                    status=draw(st.sampled_from(ProjectStatus)))
                            for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        projects += company_projects
        company_jobs = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            start = draw(st.none() | dates)
            company_jobs.append(Job(
                id=new_id("job"), company_id=cid, title=draw(names), status=draw(st.sampled_from(JobStatus)),
                scheduled_start=start, scheduled_end=start and start + dt.timedelta(days=draw(st.integers(0, 30))),
                project_id=draw(st.none() | st.sampled_from([p.id for p in company_projects]))
                if company_projects else None))
        jobs += company_jobs
        job_ids = [j.id for j in company_jobs]
        tasks += [Task(id=new_id("task"), company_id=cid, title=draw(names), status=draw(st.sampled_from(TaskStatus)),
                       job_id=draw(st.none() | st.sampled_from(job_ids)) if job_ids else None,
                       due_date=draw(st.none() | dates))
                  for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        for n in range(draw(st.integers(min_value=0, max_value=4))):
            currency = draw(st.sampled_from(CURRENCIES))
            quotes.append(Quote(id=new_id("quote"), company_id=cid, number=f"Q-{c}{n}",
                                status=draw(st.sampled_from(QuoteStatus)), currency=currency,
                                issued_date=draw(st.none() | dates), valid_until=draw(st.none() | dates),
                                lines=_lines(draw, currency)))
        company_invoices = []
        for n in range(draw(st.integers(min_value=0, max_value=5))):
            currency = draw(st.sampled_from(CURRENCIES))
            issued = draw(st.none() | dates)
            due = issued + dt.timedelta(days=draw(st.integers(0, 60))) if issued and draw(st.booleans()) else None
            company_invoices.append(Invoice(
                id=new_id("invoice"), company_id=cid, number=f"INV-{c}{n}",
                status=draw(st.sampled_from(InvoiceStatus)), currency=currency, issued_date=issued, due_date=due,
                lines=_lines(draw, currency), tax=Money(draw(st.integers(0, 10**5)), currency),
                amount_paid=Money(draw(st.integers(0, 10**6)), currency),
                job_id=draw(st.none() | st.sampled_from(job_ids)) if job_ids else None))
        invoices += company_invoices
        contact_ids = [k.id for k in company_contacts]
        requests += [ClientRequest(id=new_id("request"), company_id=cid, title=draw(names), details="",
                                   status=draw(st.sampled_from(RequestStatus)),
                                   created_at=EPOCH + dt.timedelta(minutes=draw(st.integers(0, 10**5))),
                                   submitted_by=draw(st.none() | st.sampled_from(contact_ids)) if contact_ids else None)
                     for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        parents = [("job", j.id) for j in company_jobs] + [("invoice", i.id) for i in company_invoices]
        if parents:
            for _ in range(draw(st.integers(min_value=0, max_value=4))):
                kind, parent_id = draw(st.sampled_from(parents))
                files.append(File(id=new_id("file"), company_id=cid, name=f"{draw(names)}.pdf",
                                  content_type="application/pdf", size=draw(st.integers(0, 10**6)),
                                  content_hash="0" * 64, attached_at=EPOCH,
                                  job_id=parent_id if kind == "job" else None,
                                  invoice_id=parent_id if kind == "invoice" else None))
    return World(business=business, companies=tuple(companies), contacts=tuple(contacts), projects=tuple(projects),
                 jobs=tuple(jobs), tasks=tuple(tasks), quotes=tuple(quotes), invoices=tuple(invoices),
                 requests=tuple(requests), files=tuple(files))
