"""The SQLAlchemy repositories on SQLite and PostgreSQL: every mapper round-trips, queries stay within a company."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import Conflict
from portal_core.model.audit import AuditEntry
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
from portal_core.model.one_time_code import CodeHasher, CodeStatus, OneTimeCode
from portal_core.model.session import PortalSession, session_key

GULF = dt.timezone(dt.timedelta(hours=4))
NOON = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=GULF)
TODAY = dt.date(2026, 3, 1)
HASHER = CodeHasher.from_secret("integration")


def company(id_: str = "c1", **kw: object) -> Company:
    values: dict[str, object] = {"name": f"Company {id_}", "link_token": f"{id_}-" + "t" * 30, "ref": f"co-{id_}"}
    return Company(id=id_, **{**values, **kw})  # type: ignore[arg-type]


def contact(id_: str = "p1", company_id: str = "c1", email: str = "Amal@Example.com") -> Contact:
    return Contact(id=id_, company_id=company_id, name=f"Person {id_}", email=email, ref=f"ct-{id_}")


def invoice(id_: str, company_id: str = "c1", currency: str = "AED", **kw: object) -> Invoice:
    values: dict[str, object] = {
        "number": f"INV-{id_}", "status": InvoiceStatus.SENT, "issued_date": dt.date(2026, 1, 1),
        "due_date": dt.date(2026, 2, 1), "lines": (Line("Service", Decimal("2.5"), Money(1001, currency)),),
        "tax": Money(125, currency), "amount_paid": Money(0, currency),
    }
    return Invoice(id=id_, company_id=company_id, currency=currency, **{**values, **kw})  # type: ignore[arg-type]


def code(id_: str, contact_id: str = "p1", issued_at: dt.datetime = NOON, flow: str = "f" * 40) -> OneTimeCode:
    return OneTimeCode.issue(id=id_, contact_id=contact_id, company_id="c1", flow_key=flow, code="123456",
                             hasher=HASHER, now=issued_at)


def session(contact_id: str = "p1") -> PortalSession:
    return PortalSession(id=session_key(f"cookie-{contact_id}"), contact_id=contact_id, company_id="c1",
                         link_token="c1-" + "t" * 30, email_key="amal@example.com", access_generation=0,
                         created_at=NOON,
                         last_seen_at=NOON + dt.timedelta(minutes=5))


@pytest.fixture
def world(uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    """Two companies with a contact and a job each: enough parents for any record."""
    with uow:
        for c in ("c1", "c2"):
            uow.companies.add(company(c))
            uow.contacts.add(contact(f"p-{c}", c, f"someone@{c}.example"))
            uow.jobs.add(Job(id=f"j-{c}", company_id=c, title="Parent job", status=JobStatus.SCHEDULED))
        uow.contacts.add(contact())
        uow.commit()
    return uow


def saved_and_read(uow: SqlAlchemyUnitOfWork, repo_name: str, item: object, get: str = "get") -> object:
    with uow:
        getattr(uow, repo_name).add(item)
        uow.commit()
    with uow:
        return getattr(getattr(uow, repo_name), get)(item.id if get == "get" else item.ref)  # type: ignore[attr-defined]


@pytest.mark.parametrize("currency", ["JPY", "AED", "KWD"])
def test_invoices_round_trip_money_in_any_exponent_and_fractional_quantities(world: SqlAlchemyUnitOfWork,
                                                                            currency: str) -> None:
    lines = (Line("Hours", Decimal("1.25"), Money(12345, currency)), Line("Parts", Decimal("0.333"),
             Money(7, currency)), Line("Callout", Decimal("3"), Money(0, currency)))
    item = invoice("i1", currency=currency, lines=lines, tax=Money(999, currency),
                   amount_paid=Money(500, currency), status=InvoiceStatus.PARTIALLY_PAID, job_id="j-c1", ref="inv-1")
    assert saved_and_read(world, "invoices", item) == item
    with world:
        assert world.invoices.get_by_ref("inv-1") == item
        assert world.invoices.get("i1").lines[1].quantity == Decimal("0.333")  # type: ignore[union-attr]


def test_invoice_without_dates_or_lines_round_trips(world: SqlAlchemyUnitOfWork) -> None:
    item = invoice("i2", issued_date=None, due_date=None, lines=(), status=InvoiceStatus.DRAFT)
    assert saved_and_read(world, "invoices", item) == item


def test_the_invoice_total_is_stored_for_ordering(world: SqlAlchemyUnitOfWork, engine: sa.Engine) -> None:
    item = invoice("i3", currency="KWD", lines=(Line("x", Decimal("0.5"), Money(3, "KWD")),), tax=Money(10, "KWD"))
    saved_and_read(world, "invoices", item)
    with engine.connect() as connection:
        total = connection.execute(sa.text("SELECT total_minor FROM invoices WHERE id = 'i3'")).scalar_one()
    assert total == item.total.minor == 12  # 1.5 fils rounds half up to 2, plus 10 tax


def test_quotes_round_trip(world: SqlAlchemyUnitOfWork) -> None:
    item = Quote(id="q1", company_id="c1", number="Q-1", status=QuoteStatus.ACCEPTED, currency="KWD",
                 issued_date=dt.date(2026, 1, 2), valid_until=dt.date(2026, 2, 2), ref="q-ref",
                 lines=(Line("Design", Decimal("0.125"), Money(1000, "KWD")),))
    assert saved_and_read(world, "quotes", item) == item
    bare = Quote(id="q2", company_id="c1", number="Q-2", status=QuoteStatus.DRAFT, currency="JPY",
                 issued_date=None, valid_until=None)
    assert saved_and_read(world, "quotes", bare) == bare


@pytest.mark.parametrize("currency", ["JPY", "AED", "KWD"])
def test_products_round_trip(uow: SqlAlchemyUnitOfWork, currency: str) -> None:
    item = Product(id="pr1", name="Filter", unit_price=Money(123456, currency), description="HEPA", ref="prod-1")
    assert saved_and_read(uow, "products", item, get="get_by_ref") == item


def test_companies_contacts_projects_jobs_tasks_round_trip(world: SqlAlchemyUnitOfWork) -> None:
    assert saved_and_read(world, "companies", company("c3", portal_enabled=True, ref=None)) == company(
        "c3", portal_enabled=True, ref=None)
    assert saved_and_read(world, "contacts", contact("p3", "c3", "Ümit.Öz@Example.COM")) == contact(
        "p3", "c3", "Ümit.Öz@Example.COM")
    project = Project(id="pj1", company_id="c1", name="Fit-out", status=ProjectStatus.ON_HOLD, ref="pj")
    assert saved_and_read(world, "projects", project) == project
    job = Job(id="j1", company_id="c1", title="Install", status=JobStatus.IN_PROGRESS,
              scheduled_start=dt.date(2026, 3, 2), scheduled_end=dt.date(2026, 3, 4), project_id="pj1", ref="jb")
    assert saved_and_read(world, "jobs", job) == job
    task = Task(id="t1", company_id="c1", title="Survey", status=TaskStatus.DONE, job_id="j1",
                due_date=dt.date(2026, 3, 1), ref="tk")
    assert saved_and_read(world, "tasks", task, get="get_by_ref") == task


def test_timestamped_records_round_trip_as_the_same_instant_in_utc(world: SqlAlchemyUnitOfWork) -> None:
    request = ClientRequest(id="r1", company_id="c1", title="Leak", details="Kitchen\nsink", status=RequestStatus.NEW,
                            created_at=NOON, submitted_by="p1", ref="rq")
    read = saved_and_read(world, "requests", request)
    assert read == request
    assert read.created_at.utcoffset() == dt.timedelta(0)  # type: ignore[attr-defined]
    file = File(id="f1", company_id="c1", name="report.pdf", content_type="application/pdf", size=2**33,
                content_hash="ab" * 32, attached_at=NOON, job_id="j-c1", ref="fl")
    assert saved_and_read(world, "files", file) == file
    assert saved_and_read(world, "codes", code("k1")) == code("k1")
    assert saved_and_read(world, "sessions", session()) == session()
    ended = session()
    ended.end(NOON + dt.timedelta(hours=1))
    with world:
        world.sessions.update(ended)
        world.commit()
    with world:
        assert world.sessions.get(ended.id) == ended


def test_business_is_one_row_saved_over(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        assert uow.business.get() is None
        uow.business.save(Business(name="Falcon", email="Office@Falcon.example"))
        uow.commit()
    changed = Business(name="Falcon Facilities", email="office@falcon.example", about="Since 1999", phone="+971",
                       address="Dubai", website="https://falcon.example", brand_color="#0B6E4F", logo_url="/l.png")
    with uow:
        uow.business.save(changed)
        uow.commit()
    with uow:
        assert uow.business.get() == changed


def test_audit_entries_round_trip_newest_first_with_a_limit(uow: SqlAlchemyUnitOfWork) -> None:
    entries = [AuditEntry(id=f"a{i}", at=NOON + dt.timedelta(seconds=i), action="signed_in", company_id="c1",
                          contact_id="p1", ip="2001:db8::1", detail="ok") for i in range(5)]
    other = AuditEntry(id="b", at=NOON, action="code_issued", company_id="c2")
    with uow:
        for entry in [*entries, other]:
            uow.audit.append(entry)
        uow.commit()
    with uow:
        assert uow.audit.list_for_company("c1", limit=3) == entries[::-1][:3]
        assert uow.audit.list_for_company("c2") == [other]


def test_one_time_codes_active_and_latest(world: SqlAlchemyUnitOfWork) -> None:
    first, second, used = code("k1"), code("k2", issued_at=NOON + dt.timedelta(minutes=1)), code("k0")
    used.status = CodeStatus.USED
    of_another_flow = code("k3", issued_at=NOON + dt.timedelta(minutes=2), flow="g" * 40)
    with world:
        for item in (second, used, first, of_another_flow):
            world.codes.add(item)
        world.commit()
    flow = "f" * 40
    with world:
        assert world.codes.active_for_flow("p1", flow) == [first, second]
        assert world.codes.active_for_flow("p1", flow, lock=True) == [first, second]
        assert world.codes.active_for_flow("p1", "g" * 40) == [of_another_flow]
        assert world.codes.latest_for_flow("p1", flow) == second
        assert world.codes.latest_for_flow("p-c1", flow) is None


def test_login_requests_count_per_key_since_a_time(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        for minutes in (0, 10, 10, 30):
            uow.login_requests.record("ip:abc", NOON + dt.timedelta(minutes=minutes))
        uow.login_requests.record("em:xyz", NOON)
        uow.commit()
    with uow:
        assert uow.login_requests.count_since("ip:abc", NOON + dt.timedelta(minutes=10)) == 3
        assert uow.login_requests.count_since("ip:abc", NOON.astimezone(dt.UTC)) == 4
        assert uow.login_requests.count_since("em:xyz", NOON + dt.timedelta(seconds=1)) == 0
        # Several windows in one read, each with its own key and start, in the order asked; a key twice counts twice.
        assert uow.login_requests.count_each_since([
            ("ip:abc", NOON + dt.timedelta(minutes=10)), ("em:xyz", NOON), ("nobody", NOON),
            ("ip:abc", NOON + dt.timedelta(minutes=31)), ("ip:abc", NOON)]) == [3, 1, 0, 0, 4]
        assert uow.login_requests.count_each_since([]) == []
        uow.login_requests.record_each(["em:xyz", "fl:1", "em:xyz"], NOON + dt.timedelta(hours=1))
        uow.login_requests.lock("em:xyz", "ip:abc")  # both at once, in this order
        assert uow.login_requests.count_each_since([("em:xyz", NOON), ("fl:1", NOON)]) == [3, 1]


def test_get_many_keeps_the_asked_order_and_skips_unknown_ids(world: SqlAlchemyUnitOfWork) -> None:
    with world:
        for id_ in ("i1", "i2", "i3"):
            world.invoices.add(invoice(id_))
        world.jobs.add(Job(id="j2", company_id="c1", title="Second", status=JobStatus.COMPLETED))
        world.commit()
    with world:
        assert [i.id for i in world.invoices.get_many(["i3", "nope", "i1", "i3"])] == ["i3", "i1"]
        assert world.invoices.get_many([]) == []
        assert [j.id for j in world.jobs.get_many(["j2", "j-c1"])] == ["j2", "j-c1"]


def test_get_many_runs_one_statement_text_for_any_number_of_ids_on_postgresql(world: SqlAlchemyUnitOfWork) -> None:
    # An expanding IN is a new statement for each count of ids (rendered again, prepared again by psycopg); an array
    # parameter is one statement. SQLite keeps the IN.
    with world:
        for id_ in ("i1", "i2", "i3"):
            world.invoices.add(invoice(id_))
        world.commit()
    seen: list[str] = []

    def _seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    sa.event.listen(world.engine, "before_cursor_execute", _seen)
    try:
        with world:
            for ids in (["i1"], ["i1", "i2"], ["i3", "i2", "i1"]):
                assert [i.id for i in world.invoices.get_many(ids)] == ids
    finally:
        sa.event.remove(world.engine, "before_cursor_execute", _seen)
    reads = [statement for statement in seen if "FROM invoices" in statement]
    assert len(reads) == 3
    if world.engine.dialect.name == "postgresql":
        assert len(set(reads)) == 1, reads


def test_updates_are_saved_and_missing_rows_are_refused(world: SqlAlchemyUnitOfWork) -> None:
    moved = contact(email="amal.new@example.com")
    with world:
        world.contacts.update(moved)
        world.commit()
    with world:
        assert world.contacts.find("c1", "amal.new@example.com") == moved
        assert world.contacts.find("c1", "amal@example.com") is None
        with pytest.raises(KeyError):
            world.invoices.update(invoice("missing"))


def test_emails_are_unique_per_company_whatever_their_case(world: SqlAlchemyUnitOfWork) -> None:
    with world, pytest.raises(Conflict):
        world.contacts.add(contact("p9", "c1", "AMAL@example.com"))
    with world:  # another company may have the same person
        world.contacts.add(contact("p9", "c2", "AMAL@example.com"))
        world.commit()
    with world:
        assert world.contacts.find("c2", "amal@example.com") == contact("p9", "c2", "AMAL@example.com")


def test_a_company_never_sees_another_companys_records(world: SqlAlchemyUnitOfWork) -> None:
    with world:
        for c in ("c1", "c2"):
            world.invoices.add(invoice(f"i-{c}", c))
            world.quotes.add(Quote(id=f"q-{c}", company_id=c, number="Q", status=QuoteStatus.SENT, currency="AED",
                                   issued_date=TODAY, valid_until=None))
            world.projects.add(Project(id=f"pj-{c}", company_id=c, name="P", status=ProjectStatus.ACTIVE))
            world.tasks.add(Task(id=f"t-{c}", company_id=c, title="T", status=TaskStatus.OPEN))
            world.requests.add(ClientRequest(id=f"r-{c}", company_id=c, title="R", details="", created_at=NOON,
                                             status=RequestStatus.NEW))
            world.files.add(File(id=f"f-{c}", company_id=c, name="a.txt", content_type="text/plain", size=1,
                                 content_hash="00", attached_at=NOON, job_id=f"j-{c}"))
        world.commit()
    with world:
        for c in ("c1", "c2"):
            lists = [world.invoices.list_for_company(c, statuses=frozenset(InvoiceStatus), today=TODAY),
                     world.quotes.list_for_company(c, statuses=frozenset(QuoteStatus)),
                     world.projects.list_for_company(c), world.jobs.list_for_company(c),
                     world.tasks.list_for_company(c), world.requests.list_for_company(c),
                     world.files.list_for_company(c), world.files.list_for_company(c, job_id=f"j-{c}"),
                     world.contacts.list_for_company(c)]
            assert all(rows and {row.company_id for row in rows} == {c} for rows in lists)
        assert world.files.list_for_company("c1", job_id="j-c2") == []
        assert world.contacts.find("c2", "amal@example.com") is None


def test_removing_a_contact_takes_its_codes_and_sessions_and_keeps_its_requests(world: SqlAlchemyUnitOfWork) -> None:
    with world:
        world.codes.add(code("k1"))
        world.sessions.add(session())
        world.requests.add(ClientRequest(id="r1", company_id="c1", title="R", details="", created_at=NOON,
                                         status=RequestStatus.OPEN, submitted_by="p1"))
        world.commit()
    with world:
        world.contacts.remove("p1")
        world.commit()
    with world:
        assert world.contacts.get("p1") is None
        assert world.codes.get("k1") is None and world.codes.active_for_flow("p1", "f" * 40) == []
        assert world.sessions.get(session().id) is None
        request = world.requests.get("r1")
        assert request is not None and request.submitted_by is None


def test_files_are_removed(world: SqlAlchemyUnitOfWork) -> None:
    with world:
        world.invoices.add(invoice("i1"))
        world.files.add(File(id="f1", company_id="c1", name="a.txt", content_type="text/plain", size=1,
                             content_hash="00", attached_at=NOON, invoice_id="i1"))
        world.commit()
    with world:
        assert [f.id for f in world.files.list_for_company("c1", invoice_id="i1")] == ["f1"]
        world.files.remove("f1")
        world.commit()
    with world:
        assert world.files.get("f1") is None
