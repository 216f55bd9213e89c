"""Property: the SQL adapter lists every kind of record in exactly the order and pages of the in-memory adapter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.model.audit import AuditEntry
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
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from tests.integration.conftest import wipe

COMPANIES = ("c1", "c2")
# Upper before lower case, ASCII before accents, punctuation in between: where a locale collation would differ.
TEXT = st.text(alphabet="aAbBzZ09_-~é", min_size=1, max_size=3)
IDS = st.text(alphabet="aAbBzZ09_-", min_size=1, max_size=5)
DATES = st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 10)) | st.sampled_from([None, dt.date.max])
OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=4)), dt.timezone(-dt.timedelta(hours=5, minutes=30))]
INSTANTS = [dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 13, tzinfo=OFFSETS[1])]  # equal
TIMES = st.one_of(st.sampled_from(INSTANTS),
                  st.datetimes(dt.datetime(2025, 12, 31), dt.datetime(2026, 1, 2), timezones=st.sampled_from(OFFSETS)))
COMPANY = st.sampled_from(COMPANIES)
# Open statuses twice as likely: overdue-first ordering only concerns them.
INVOICE_STATUSES = st.sampled_from([InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, *InvoiceStatus])
PAGE = st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 4)))


def _ordered_dates(pair: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date | None, dt.date | None]:
    first, second = pair
    return (second, first) if first and second and second < first else pair


@st.composite
def invoices(draw: st.DrawFn, id_: str) -> Invoice:
    issued, due = _ordered_dates((draw(DATES), draw(DATES)))
    lines = draw(st.lists(st.builds(Line, TEXT, st.decimals(0, 5, places=2), st.builds(Money, st.integers(0, 900),
                                                                                        st.just("AED"))), max_size=2))
    unpaid = Invoice(id=id_, company_id=draw(COMPANY), number=draw(TEXT), status=draw(INVOICE_STATUSES),
                     currency="AED", issued_date=issued, due_date=due, lines=tuple(lines),
                     tax=Money(draw(st.integers(0, 100)), "AED"), amount_paid=Money(0, "AED"))
    # Paid amounts around the total: "open" hinges on total > paid, which SQL computes from the stored total.
    paid = max(0, unpaid.total.minor + draw(st.integers(-2, 2))) if draw(st.booleans()) else 0
    return attrs.evolve(unpaid, amount_paid=Money(paid, "AED"))


@st.composite
def quotes(draw: st.DrawFn, id_: str) -> Quote:
    return Quote(id=id_, company_id=draw(COMPANY), number=draw(TEXT), status=draw(st.sampled_from(QuoteStatus)),
                 currency="KWD", issued_date=draw(DATES), valid_until=draw(DATES))


@st.composite
def jobs(draw: st.DrawFn, id_: str) -> Job:
    company = draw(COMPANY)
    return Job(id=id_, company_id=company, title=draw(TEXT), status=draw(st.sampled_from(JobStatus)),
               scheduled_start=draw(DATES), project_id=draw(st.sampled_from([None, f"pj-{company}"])))


@st.composite
def tasks(draw: st.DrawFn, id_: str) -> Task:
    company = draw(COMPANY)
    return Task(id=id_, company_id=company, title=draw(TEXT), status=draw(st.sampled_from(TaskStatus)),
                due_date=draw(DATES), job_id=draw(st.sampled_from([None, f"j-{company}"])))


@st.composite
def files(draw: st.DrawFn, id_: str) -> File:
    company = draw(COMPANY)
    on_job = draw(st.booleans())
    return File(id=id_, company_id=company, name=draw(TEXT), content_type="text/plain", size=1, content_hash="00",
                attached_at=draw(TIMES), job_id=f"j-{company}" if on_job else None,
                invoice_id=None if on_job else f"i-{company}")


def requests(id_: str) -> st.SearchStrategy[ClientRequest]:
    return st.builds(ClientRequest, id=st.just(id_), company_id=COMPANY, title=TEXT, details=st.just(""),
                     status=st.sampled_from(RequestStatus), created_at=TIMES)


def projects(id_: str) -> st.SearchStrategy[Project]:
    return st.builds(Project, id=st.just(id_), company_id=COMPANY, name=TEXT, status=st.sampled_from(ProjectStatus))


def products(id_: str) -> st.SearchStrategy[Product]:
    return st.builds(Product, id=st.just(id_), name=TEXT, unit_price=st.builds(Money, st.integers(0, 99),
                                                                                st.just("JPY")))


def codes(id_: str) -> st.SearchStrategy[OneTimeCode]:
    return st.builds(OneTimeCode, id=st.just(id_), contact_id=st.just("p-c1"), company_id=st.just("c1"),
                     flow_key=st.sampled_from(["f" * 40, "g" * 40]), code_hash=st.just("0" * 64), issued_at=TIMES,
                     expires_at=TIMES, status=st.sampled_from(CodeStatus))


def audit_entries(id_: str) -> st.SearchStrategy[AuditEntry]:
    return st.builds(AuditEntry, id=st.just(id_), at=TIMES, action=st.just("signed_in"),
                     company_id=st.sampled_from([*COMPANIES, None]))


def many(kind: Any) -> st.SearchStrategy[list[Any]]:
    return st.lists(IDS, unique=True, max_size=7).flatmap(lambda ids: st.tuples(*(kind(i) for i in ids)).map(list))


def parents() -> list[tuple[str, Any]]:
    """What the generated records may point at: two companies, each with a contact, a project, a job, an invoice."""
    rows: list[tuple[str, Any]] = []
    for c in COMPANIES:
        rows += [("companies", Company(id=c, name="Same name", link_token=f"{c}-" + "t" * 30)),
                 ("contacts", Contact(id=f"p-{c}", company_id=c, name="Amal", email="amal@example.com")),
                 ("projects", Project(id=f"pj-{c}", company_id=c, name="Parent", status=ProjectStatus.ACTIVE)),
                 ("jobs", Job(id=f"j-{c}", company_id=c, title="Parent", status=JobStatus.SCHEDULED)),
                 ("invoices", Invoice(id=f"i-{c}", company_id=c, number="I", status=InvoiceStatus.SENT,
                                      currency="AED", issued_date=None, due_date=dt.date(2026, 1, 5),
                                      tax=Money(1, "AED"), amount_paid=Money(0, "AED")))]
    return rows


KINDS = ("projects", "jobs", "tasks", "quotes", "invoices", "requests", "files", "products", "codes", "audit")
WORLDS = st.fixed_dictionaries({
    "projects": many(projects), "jobs": many(jobs), "tasks": many(tasks), "quotes": many(quotes),
    "invoices": many(invoices), "requests": many(requests), "files": many(files), "products": many(products),
    "codes": many(codes), "audit": many(audit_entries),
})

QUERIES = st.fixed_dictionaries({
    "company": COMPANY, "today": st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 12)), "page": PAGE,
    "invoice_statuses": st.just(frozenset(InvoiceStatus)) | st.frozensets(st.sampled_from(InvoiceStatus), min_size=1),
    "quote_statuses": st.frozensets(st.sampled_from(QuoteStatus), min_size=1),
    "job_statuses": st.one_of(st.none(), st.frozensets(st.sampled_from(JobStatus))),
    "parent": st.booleans(), "limit": st.integers(0, 10),
})


def listings(uow: Any, q: dict[str, Any]) -> dict[str, list[Any]]:
    c, (offset, limit), parent = q["company"], q["page"], q["parent"]
    page = {"offset": offset, "limit": limit}
    return {
        "invoices": uow.invoices.list_for_company(c, statuses=q["invoice_statuses"], today=q["today"], **page),
        "quotes": uow.quotes.list_for_company(c, statuses=q["quote_statuses"], **page),
        "jobs": uow.jobs.list_for_company(c, statuses=q["job_statuses"], project_id=f"pj-{c}" if parent else None,
                                          **page),
        "tasks": uow.tasks.list_for_company(c, job_id=f"j-{c}" if parent else None, **page),
        "projects": uow.projects.list_for_company(c, **page),
        "requests": uow.requests.list_for_company(c, **page),
        "files": uow.files.list_for_company(c, job_id=f"j-{c}" if parent else None),
        "invoice_files": uow.files.list_for_company(c, invoice_id=f"i-{c}"),
        "products": uow.products.list(**page),
        "companies": uow.companies.list(),
        "contacts": uow.contacts.list_for_company(c),
        "active_codes": uow.codes.active_for_flow("p-c1", "f" * 40, lock=True),
        "latest_code": [uow.codes.latest_for_flow("p-c1", "f" * 40)],
        "audit": uow.audit.list_for_company(c, limit=q["limit"]),
    }


def load(uow: Any, world: dict[str, list[Any]]) -> None:
    with uow:
        for repo, item in parents():
            getattr(uow, repo).add(item)
        for kind in KINDS:
            for item in world[kind]:
                getattr(uow, kind).append(item) if kind == "audit" else getattr(uow, kind).add(item)
        uow.commit()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=WORLDS, queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_sql_order_and_pages_match_the_in_memory_adapter(engine: sa.Engine, world: dict[str, list[Any]],
                                                         queries: list[dict[str, Any]]) -> None:
    wipe(engine)  # one engine for all examples: start each from empty
    sql, memory = SqlAlchemyUnitOfWork(engine), InMemoryUnitOfWork(InMemoryStore())
    load(sql, world)
    load(memory, world)
    for q in queries:
        with sql, memory:
            assert listings(sql, q) == listings(memory, q)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(IDS, unique=True, min_size=2, max_size=8), data=st.data(),
       today=st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 12)))
def test_overdue_invoices_come_first_as_in_memory(engine: sa.Engine, ids: list[str], data: st.DataObject,
                                                  today: dt.date) -> None:
    # Overdue-first is the one ordering computed from money; many invoices of one company make its edges likely.
    world: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    world["invoices"] = [attrs.evolve(data.draw(invoices(id_)), company_id="c1") for id_ in ids]
    wipe(engine)
    sql, memory = SqlAlchemyUnitOfWork(engine), InMemoryUnitOfWork(InMemoryStore())
    load(sql, world)
    load(memory, world)
    with sql, memory:
        everything = frozenset(InvoiceStatus)
        assert (sql.invoices.list_for_company("c1", statuses=everything, today=today)
                == memory.invoices.list_for_company("c1", statuses=everything, today=today))


def test_postgres_orders_text_by_code_point_whatever_the_database_locale(engine: sa.Engine) -> None:
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.projects.list_for_company("c1")
    [query] = [s for s in statements if "FROM projects" in s]
    assert ('COLLATE "C"' in query) == (engine.dialect.name == "postgresql")


def test_equal_instants_in_different_offsets_tie_and_fall_back_to_id(engine: sa.Engine) -> None:
    world: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    world["requests"] = [ClientRequest(id=id_, company_id="c1", title="R", details="", status=RequestStatus.NEW,
                                       created_at=at) for id_, at in (("b", INSTANTS[0]), ("a", INSTANTS[1]))]
    load(SqlAlchemyUnitOfWork(engine), world)
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert [r.id for r in uow.requests.list_for_company("c1")] == ["a", "b"]
