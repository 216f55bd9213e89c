"""Every portal page runs a fixed number of SQL statements whatever the company's size: no N+1, on SQLite and
PostgreSQL.

Statements are counted with SQLAlchemy's before_cursor_execute event on the app's engine. Transaction control
(SQLite's BEGIN IMMEDIATE, which goes through the same event; psycopg's BEGIN, which does not) is counted apart, as
transactions per page, so both databases are measured alike.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.memory import FixedClock, InMemoryFileStorage, RecordingEmailSender
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.schema import SqlAlchemySchemaStatus
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from entrypoints.bootstrap import build_services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core.browsing import PAGE_SIZE
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
from portal_core.model.payment import Provider, ProviderConnection
from tests.support.portal_app import SECRET, csrf_of, outbox_code

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
MAX_STATEMENTS = 5
MAX_TRANSACTIONS = 2
TOUCHING = "home, touching the session"
SIZES = (5, 500)
EMAIL = "homer@globex.example"


@attrs.frozen
class World:
    token: str
    invoice: str
    quote: str
    job: str
    project: str
    request: str


def _id(kind: str, n: int) -> str:
    return f"{kind}{n:015d}"


def _seed(engine: sa.Engine, size: int) -> World:
    """One company with `size` records of each kind; the first job, project and invoice carry all the children."""
    company = Company(id=_id("c", 1), name="Globex LLC", link_token="globex-" + "t" * 32, portal_enabled=True)
    other = Company(id=_id("c", 2), name="Initech", link_token="initech-" + "t" * 32, portal_enabled=True)
    aed = "AED"
    line = (Line("Labour", Decimal(3), Money(12000, aed)),)
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example", brand_color="#0a7f5a"))
        uow.companies.add(company)
        uow.companies.add(other)
        uow.contacts.add(Contact(id=_id("k", 1), company_id=company.id, name="Homer Simpson", email=EMAIL))
        for n in range(2, size + 1):
            uow.contacts.add(Contact(id=_id("k", n), company_id=company.id, name=f"Contact {n}",
                                     email=f"contact{n}@globex.example"))
        # A provider is connected, so Pay Now is in play on every page that shows invoices.
        uow.payment_providers.save(ProviderConnection(provider=Provider.STRIPE, sealed_credentials="sealed",
                                                      connected_at=NOW))
        for n in range(size):
            uow.projects.add(Project(id=_id("p", n), company_id=company.id, name=f"Project {n:04d}",
                                     status=ProjectStatus.ACTIVE))
        for n in range(size):
            uow.jobs.add(Job(id=_id("j", n), company_id=company.id, title=f"Job {n:04d}",
                             status=list(JobStatus)[n % len(JobStatus)],
                             scheduled_start=TODAY + dt.timedelta(days=n % 40 - 20), project_id=_id("p", 0)))
        for n in range(size):
            status = [InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID, InvoiceStatus.DRAFT][n % 4]
            paid = Money(6000, aed) if status == InvoiceStatus.PARTIALLY_PAID else Money.zero(aed)
            if status == InvoiceStatus.PAID:
                paid = Money(37800, aed)
            uow.invoices.add(Invoice(id=_id("i", n), company_id=company.id, number=f"INV-{n:05d}", status=status,
                                     currency=aed, issued_date=TODAY - dt.timedelta(days=60),
                                     due_date=TODAY + dt.timedelta(days=n % 60 - 30), lines=line,
                                     tax=Money(1800, aed), amount_paid=paid, job_id=_id("j", n % 3)))
        for n in range(size):
            uow.quotes.add(Quote(id=_id("q", n), company_id=company.id, number=f"QUO-{n:05d}",
                                 status=[QuoteStatus.SENT, QuoteStatus.ACCEPTED, QuoteStatus.DRAFT][n % 3],
                                 currency=aed, issued_date=TODAY - dt.timedelta(days=n % 30),
                                 valid_until=TODAY + dt.timedelta(days=n % 14), lines=line))
        for n in range(size):
            uow.tasks.add(Task(id=_id("t", n), company_id=company.id, title=f"Task {n:04d}",
                               status=TaskStatus.OPEN if n % 2 else TaskStatus.DONE,
                               job_id=_id("j", 0) if n % 2 else _id("j", n), due_date=TODAY))
        for n in range(size):
            on_job = n % 2 == 0
            uow.files.add(File(id=_id("f", n), company_id=company.id, name=f"file-{n:04d}.pdf",
                               content_type="application/pdf", size=10, content_hash="0" * 64,
                               attached_at=NOW - dt.timedelta(minutes=n),
                               job_id=_id("j", 0) if on_job else None, invoice_id=None if on_job else _id("i", 0)))
        for n in range(size):
            uow.requests.add(ClientRequest(id=_id("r", n), company_id=company.id, title=f"Request {n}",
                                           details="Please", status=RequestStatus.NEW,
                                           created_at=NOW - dt.timedelta(hours=n), submitted_by=_id("k", n % size + 1)))
        for n in range(size):
            uow.products.add(Product(id=_id("x", n), name=f"Product {n:04d}", unit_price=Money(5000, aed)))
        uow.commit()
    return World(token=company.link_token, invoice=_id("i", 0), quote=_id("q", 0), job=_id("j", 0),
                 project=_id("p", 0), request=_id("r", 0))


@attrs.define
class Counter:
    statements: list[str] = attrs.Factory(list)
    transactions: int = 0
    active: bool = False
    body: str = ""  # the last page measured

    def attach(self, engine: sa.Engine) -> None:
        @sa.event.listens_for(engine, "before_cursor_execute")
        def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not self.active:
                return
            if statement.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
                return  # transaction control: counted by the "begin" event below, on both databases
            self.statements.append(statement)

        @sa.event.listens_for(engine, "begin")
        def _begin(_conn: Any) -> None:
            if self.active:
                self.transactions += 1

    def measure(self, client: FlaskClient, path: str) -> tuple[int, int, int]:
        self.statements.clear()
        self.transactions = 0
        self.active = True
        try:
            response = client.get(path)
        finally:
            self.active = False
        self.body = response.get_data(as_text=True)
        return response.status_code, len(self.statements), self.transactions


def _pages(world: World) -> dict[str, str]:
    base = f"/p/{world.token}"
    return {
        "home": f"{base}/", "invoices": f"{base}/invoices", "invoice": f"{base}/invoices/{world.invoice}",
        "quotes": f"{base}/quotes", "quote": f"{base}/quotes/{world.quote}", "jobs": f"{base}/jobs",
        "job": f"{base}/jobs/{world.job}", "projects": f"{base}/projects",
        "project": f"{base}/projects/{world.project}", "tasks": f"{base}/tasks", "files": f"{base}/files",
        "requests": f"{base}/requests", "request": f"{base}/requests/{world.request}",
        "products": f"{base}/products", "about": f"{base}/about", "contact": f"{base}/contact",
        "invoices page 2": f"{base}/invoices?page=2",
    }


@attrs.frozen
class Measured:
    counts: dict[str, tuple[int, int, int]]
    statements: dict[str, list[str]]
    bodies: dict[str, str]


def _measure(url: str, size: int) -> Measured:
    engine = create_engine_from_url(url)
    try:
        world = _seed(engine, size)
        counter = Counter()
        counter.attach(engine)
        sender = RecordingEmailSender()
        settings = Settings.from_env({}, database_url=url, file_dir="memory://", secret_key=SECRET)
        services = build_services(settings, uow=lambda: SqlAlchemyUnitOfWork(engine), email_sender=sender,
                                  read_uow=lambda: SqlAlchemyUnitOfWork(engine, read_only=True),
                                  clock=FixedClock(NOW), files=InMemoryFileStorage(),
                                  schema_status=SqlAlchemySchemaStatus(engine))
        client = create_app(services=services, synchronous_mail=True).test_client()
        page = client.get(f"/p/{world.token}/login")
        client.post(f"/p/{world.token}/login", data={"email": EMAIL, "csrf_token": csrf_of(page.text)})
        verify = client.get(f"/p/{world.token}/verify")
        done = client.post(f"/p/{world.token}/verify",
                           data={"code": outbox_code(sender)(EMAIL), "csrf_token": csrf_of(verify.text)})
        assert done.status_code == 303, done.text
        counts: dict[str, tuple[int, int, int]] = {}
        statements: dict[str, list[str]] = {}
        bodies: dict[str, str] = {}
        for name, path in _pages(world).items():
            counts[name] = counter.measure(client, path)
            statements[name] = list(counter.statements)
            bodies[name] = counter.body
        # Once a minute a page also records the session's last-seen time: one UPDATE more, in a transaction of its own
        # (the viewer is read without one), still within bounds.
        services.clock.advance(minutes=2)  # type: ignore[attr-defined]
        counts[TOUCHING] = counter.measure(client, f"/p/{world.token}/")
        return Measured(counts=counts, statements=statements, bodies=bodies)
    finally:
        engine.dispose()


@pytest.fixture
def measured(database_url: str, request: pytest.FixtureRequest) -> Iterator[dict[int, Measured]]:
    from .conftest import wipe

    results: dict[int, Measured] = {}
    for size in SIZES:
        results[size] = _measure(database_url, size)
        engine = create_engine_from_url(database_url)
        try:
            wipe(engine)
        finally:
            engine.dispose()
    yield results


def test_every_page_runs_the_same_few_statements_for_5_and_500_records(measured: dict[int, Measured]) -> None:
    small, large = measured[SIZES[0]], measured[SIZES[1]]
    report = "\n".join(f"{name:28} status {s[0]} statements {s[1]:2} / {large.counts[name][1]:2} "
                       f"transactions {s[2]} / {large.counts[name][2]}" for name, s in small.counts.items())
    for name, (status, statements, transactions) in itertools.chain(small.counts.items(), large.counts.items()):
        assert status == 200, f"{name} answered {status}\n{report}"
        assert statements <= MAX_STATEMENTS, f"{name}: {statements} statements\n{report}"
        allowed = MAX_TRANSACTIONS + (name == TOUCHING)
        assert transactions <= allowed, f"{name}: {transactions} transactions\n{report}"
    for name in small.counts:
        assert small.counts[name][1:] == large.counts[name][1:], (
            f"{name} grows with the data:\n{report}\n5 records:\n" + "\n".join(small.statements.get(name, []))
            + "\n500 records:\n" + "\n".join(large.statements.get(name, [])))


def test_the_pages_show_what_the_500_records_hold(measured: dict[int, Measured]) -> None:
    # The counts above mean something only if the pages really listed records: each list shows a full page of
    # its own rows (the second invoice page others than the first), read by statements on their tables.
    large = measured[SIZES[1]]
    shown = {name: set(re.findall(pattern, large.bodies[name])) for name, pattern in (
        ("invoices", r"INV-\d{5}"), ("invoices page 2", r"INV-\d{5}"), ("quotes", r"QUO-\d{5}"),
        ("files", r"file-\d{4}\.pdf"), ("requests", r"Request \d+<"), ("products", r"Product \d{4}"))}
    assert {name: len(found) for name, found in shown.items()} == dict.fromkeys(shown, PAGE_SIZE)
    assert not shown["invoices"] & shown["invoices page 2"]
    assert "INV-00003" not in large.bodies["invoices"] + large.bodies["invoices page 2"]  # a draft
    assert any("FROM invoices" in s for s in large.statements["invoices"])
    assert any("FROM tasks" in s for s in large.statements["job"])
    assert any("FROM files" in s for s in large.statements["files"])
