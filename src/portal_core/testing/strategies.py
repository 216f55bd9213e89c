"""Hypothesis strategies that build consistent worlds: a business, its client companies and everything they own.

Every link (job -> project, task -> job, invoice -> job, request -> contact, file -> job or invoice) stays inside the
company that owns the record, as the seed loader and the use cases guarantee, unless `cross_links=True`: then links
may point at another company's records, as a CRM's own data may (the read contract must hold over it too). Names
mix cases and scripts (Zoë, ÅSA, Ωmega, 日本); amounts come in currencies with 0, 2 and 3 decimals (JPY, AED, KWD,
...), including zero and very large amounts. `refused_amounts` and `refused_invoices` are what the model refuses.
"""

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
    Product,
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

# JPY has no decimals, AED/USD/EUR two, KWD/BHD three.
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
    products: tuple[Product, ...] = ()

    @property
    def records(self) -> tuple[Record, ...]:
        return (*self.projects, *self.jobs, *self.tasks, *self.quotes, *self.invoices, *self.requests)

    def parent_of(self, file: File) -> Job | Invoice:
        """The one job or invoice a file is attached to."""
        parents: list[Job | Invoice] = [j for j in self.jobs if j.id == file.job_id]
        parents += [i for i in self.invoices if i.id == file.invoice_id]
        assert len(parents) == 1, file
        return parents[0]

    def company(self, company_id: str) -> Company:
        return next(c for c in self.companies if c.id == company_id)

    @property
    def links_across_companies(self) -> bool:
        """Whether some record links to a record of another company (only with `worlds(cross_links=True)`)."""
        owner = {item.id: item.company_id for item in (*self.records, *self.contacts)}
        links = [(j.company_id, j.project_id) for j in self.jobs] + [(t.company_id, t.job_id) for t in self.tasks]
        links += [(i.company_id, i.job_id) for i in self.invoices] + [(r.company_id, r.submitted_by)
                                                                      for r in self.requests]
        links += [(f.company_id, f.job_id or f.invoice_id) for f in self.files]
        return any(target is not None and owner[target] != company_id for company_id, target in links)


dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))
# Lower and upper case, Latin with accents, Greek, Arabic and CJK: orders compare code points, never a locale's rules.
names = st.text(alphabet="abcxyzABCXYZ éÉåÅßñÑøΩωαΣعربي日本語-'0", min_size=1, max_size=12).filter(
    lambda s: s.strip() != "")
emails = st.sampled_from(["homer@globex.example", "Marge@Globex.example", "bart@school.example",
                          "lisa@school.example", "ned@leftorium.example", "shared@both.example", "Zoë@Globex.example",
                          "ÅSA.Lind@school.example"])
# Zero, small, and past 2**53 (where a float would start losing minor units).
minor_amounts = st.one_of(st.just(0), st.integers(min_value=0, max_value=10**7),
                          st.integers(min_value=2**53 - 10, max_value=2**53 + 10))


def money(currency: str) -> st.SearchStrategy[Money]:
    return st.builds(Money, minor_amounts, st.just(currency))


# Amounts an invoice or quote refuses as its tax or amount paid: below zero, down to the smallest a column holds.
refused_amounts = st.integers(max_value=-1, min_value=-(2**63 - 1))


def _lines(draw: st.DrawFn, currency: str) -> tuple[Line, ...]:
    count = draw(st.integers(min_value=0, max_value=3))
    return tuple(Line(description=draw(names),
                      quantity=draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=3)),
                      unit_price=Money(draw(st.integers(min_value=0, max_value=10**7)), currency))
                 for _ in range(count))


@st.composite
def worlds(draw: st.DrawFn, max_companies: int = 4, prefix: str = "", cross_links: bool = False) -> World:
    """A business, several companies (portal on or off) and, per company, contacts and records of every kind.

    `prefix` goes in front of every id, ref, number and link token, so several worlds can share one database.
    `cross_links` lets links point at the records of companies drawn before (a CRM's data may).
    """
    serial = itertools.count(1)

    def linkable(own: list[str], everyone: list[str]) -> list[str]:
        return list(dict.fromkeys([*own, *everyone])) if cross_links else own

    def new_id(kind: str) -> str:
        return f"{prefix}{kind}-{next(serial)}"

    def ref(kind: str) -> str | None:
        return f"{prefix}{kind}-ref-{next(serial)}" if draw(st.booleans()) else None

    business = Business(name="Falcon Facilities", email="office@falcon.example")
    companies: list[Company] = []
    contacts: list[Contact] = []
    projects: list[Project] = []
    jobs: list[Job] = []
    tasks: list[Task] = []
    quotes: list[Quote] = []
    invoices: list[Invoice] = []
    requests: list[ClientRequest] = []
    files: list[File] = []
    for c in range(draw(st.integers(min_value=1, max_value=max_companies))):
        company = Company(id=new_id("company"), name=f"{draw(names)} {c}", ref=f"{prefix}co{c}",
                          portal_enabled=draw(st.booleans()), link_token=f"{prefix}link-token-{c:02d}-" + "x" * 20)
        companies.append(company)
        cid = company.id
        company_contacts = [Contact(id=new_id("contact"), company_id=cid, name=draw(names), email=email,
                                    ref=ref("contact"))
                            for email in draw(st.lists(emails, max_size=3, unique_by=str.lower))]
        contacts += company_contacts
        company_projects = [Project(id=new_id("project"), company_id=cid, name=draw(names),
                                    status=draw(st.sampled_from(ProjectStatus)), ref=ref("project"))
                            for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        projects += company_projects
        project_ids = linkable([p.id for p in company_projects], [p.id for p in projects])
        company_jobs = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            start = draw(st.none() | dates)
            company_jobs.append(Job(
                id=new_id("job"), company_id=cid, title=draw(names), status=draw(st.sampled_from(JobStatus)),
                scheduled_start=start, scheduled_end=start and start + dt.timedelta(days=draw(st.integers(0, 30))),
                project_id=draw(st.none() | st.sampled_from(project_ids)) if project_ids else None, ref=ref("job")))
        jobs += company_jobs
        job_ids = linkable([j.id for j in company_jobs], [j.id for j in jobs])
        tasks += [Task(id=new_id("task"), company_id=cid, title=draw(names), status=draw(st.sampled_from(TaskStatus)),
                       job_id=draw(st.none() | st.sampled_from(job_ids)) if job_ids else None,
                       due_date=draw(st.none() | dates), ref=ref("task"))
                  for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        for n in range(draw(st.integers(min_value=0, max_value=4))):
            currency = draw(st.sampled_from(CURRENCIES))
            quotes.append(Quote(id=new_id("quote"), company_id=cid, number=f"{prefix}Q-{c}{n}",
                                status=draw(st.sampled_from(QuoteStatus)), currency=currency,
                                issued_date=draw(st.none() | dates), valid_until=draw(st.none() | dates),
                                lines=_lines(draw, currency), ref=ref("quote")))
        company_invoices = []
        for n in range(draw(st.integers(min_value=0, max_value=5))):
            currency = draw(st.sampled_from(CURRENCIES))
            issued = draw(st.none() | dates)
            due = issued + dt.timedelta(days=draw(st.integers(0, 60))) if issued and draw(st.booleans()) else None
            company_invoices.append(Invoice(
                id=new_id("invoice"), company_id=cid, number=f"{prefix}INV-{c}{n}",
                status=draw(st.sampled_from(InvoiceStatus)), currency=currency, issued_date=issued, due_date=due,
                lines=_lines(draw, currency), tax=draw(money(currency)), amount_paid=draw(money(currency)),
                job_id=draw(st.none() | st.sampled_from(job_ids)) if job_ids else None, ref=ref("invoice")))
        invoices += company_invoices
        contact_ids = linkable([k.id for k in company_contacts], [k.id for k in contacts])
        requests += [ClientRequest(id=new_id("request"), company_id=cid, title=draw(names), details="",
                                   status=draw(st.sampled_from(RequestStatus)),
                                   created_at=EPOCH + dt.timedelta(minutes=draw(st.integers(0, 10**5))),
                                   submitted_by=draw(st.none() | st.sampled_from(contact_ids)) if contact_ids else None,
                                   ref=ref("request"))
                     for _ in range(draw(st.integers(min_value=0, max_value=2)))]
        parents = [("job", j) for j in linkable([j.id for j in company_jobs], [j.id for j in jobs])]
        parents += [("invoice", i) for i in linkable([i.id for i in company_invoices], [i.id for i in invoices])]
        if parents:
            for _ in range(draw(st.integers(min_value=0, max_value=4))):
                kind, parent_id = draw(st.sampled_from(parents))
                files.append(File(id=new_id("file"), company_id=cid, name=f"{draw(names)}.pdf",
                                  content_type="application/pdf", size=draw(st.integers(0, 10**6)),
                                  content_hash="0" * 64,
                                  attached_at=EPOCH + dt.timedelta(minutes=draw(st.integers(0, 3))),
                                  job_id=parent_id if kind == "job" else None,
                                  invoice_id=parent_id if kind == "invoice" else None, ref=ref("file")))
    products = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        currency = draw(st.sampled_from(CURRENCIES))
        products.append(Product(id=new_id("product"), name=draw(names), unit_price=draw(money(currency)),
                                description=draw(st.sampled_from(["", "per visit", "per hour"])),
                                ref=ref("product")))
    return World(business=business, companies=tuple(companies), contacts=tuple(contacts), projects=tuple(projects),
                 jobs=tuple(jobs), tasks=tuple(tasks), quotes=tuple(quotes), invoices=tuple(invoices),
                 requests=tuple(requests), files=tuple(files), products=tuple(products))


@st.composite
def refused_invoices(draw: st.DrawFn) -> dict[str, object]:
    """The fields of an invoice the model refuses, with the reason: a negative tax or amount paid, a line in another
    currency, or a due date before the issue date."""
    currency = draw(st.sampled_from(CURRENCIES))
    fields: dict[str, object] = {
        "id": "refused", "company_id": "company", "number": "INV-1", "status": draw(st.sampled_from(InvoiceStatus)),
        "currency": currency, "issued_date": None, "due_date": None, "lines": (), "tax": Money(0, currency),
        "amount_paid": Money(0, currency)}
    how = draw(st.sampled_from(["tax", "amount_paid", "line currency", "due before issue"]))
    if how in ("tax", "amount_paid"):
        fields[how] = Money(draw(refused_amounts), currency)
    elif how == "line currency":
        other = draw(st.sampled_from([c for c in CURRENCIES if c != currency]))
        fields["lines"] = (Line("work", Decimal(1), Money(100, other)),)
    else:
        issued = draw(dates)
        fields["issued_date"], fields["due_date"] = issued, issued - dt.timedelta(days=draw(st.integers(1, 400)))
    return fields
