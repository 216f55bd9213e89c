"""File sharing on the in-memory fakes: attach and detach, the visibility rule, the Files list, opening, auditing."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory import FixedClock, InMemoryFileStorage, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from portal_core import file_sharing
from portal_core.browsing import PAGE_SIZE, Page
from portal_core.errors import InvalidInput, StorageError, UnknownCompany, UnknownRecord
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Job, JobStatus
from portal_core.model.files import File
from portal_core.model.money import Money
from portal_core.sign_in import Viewer

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
CLIENT_VISIBLE_INVOICES = {InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID}


def _company(cid: str, *, enabled: bool = True) -> Company:
    return Company(id=cid, name=f"Company {cid}", link_token=f"{cid}-token-".ljust(32, "x"), portal_enabled=enabled,
                   ref=cid)


def _invoice(iid: str, company_id: str, status: InvoiceStatus) -> Invoice:
    return Invoice(id=iid, company_id=company_id, number=f"INV-{iid}", status=status, currency="AED",
                   issued_date=dt.date(2026, 11, 1), due_date=dt.date(2026, 11, 30), tax=Money(0, "AED"),
                   amount_paid=Money(0, "AED"), ref=iid)


def _job(jid: str, company_id: str, status: JobStatus = JobStatus.IN_PROGRESS) -> Job:
    return Job(id=jid, company_id=company_id, title=f"Job {jid}", status=status, ref=jid)


class World:
    """Two companies, Globex (g) and Initech (i), with jobs and invoices in every state."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.uow = InMemoryUnitOfWork(self.store)
        self.storage = InMemoryFileStorage()
        self.clock = FixedClock(NOW)
        self.randomness = SeededRandomness(7)
        self.globex, self.initech = _company("g"), _company("i")
        self.homer = Contact(id="homer", company_id="g", name="Homer", email="homer@globex.example")
        self.peter = Contact(id="peter", company_id="i", name="Peter", email="peter@initech.example")
        with self.uow:
            for company in (self.globex, self.initech):
                self.uow.companies.add(company)
            for contact in (self.homer, self.peter):
                self.uow.contacts.add(contact)
            self.uow.jobs.add(_job("g-job", "g"))
            self.uow.jobs.add(_job("i-job", "i"))
            self.uow.invoices.add(_invoice("g-sent", "g", InvoiceStatus.SENT))
            self.uow.invoices.add(_invoice("g-draft", "g", InvoiceStatus.DRAFT))
            self.uow.invoices.add(_invoice("g-void", "g", InvoiceStatus.VOID))
            self.uow.commit()

    def viewer(self, contact: Contact | None = None) -> Viewer:
        contact = contact or self.homer
        company = self.globex if contact.company_id == "g" else self.initech
        return Viewer(company=company, contact=contact, session_id="session")

    def attach(self, data: bytes = b"data", *, name: str = "a.pdf", content_type: str = "application/pdf",
               job: str | None = None, invoice: str | None = None) -> File:
        self.clock.advance(seconds=1)
        return file_sharing.attach_file(self.uow, storage=self.storage, clock=self.clock, randomness=self.randomness,
                                        job_ref=job,
                                        invoice_ref=invoice, name=name, content_type=content_type,
                                        stream=io.BytesIO(data))

    def open(self, file_id: str, *, viewer: Viewer | None = None, download: bool = False) -> tuple[File, bytes]:
        file, stream = file_sharing.open_visible_file(self.uow, storage=self.storage, clock=self.clock,
                                                      randomness=self.randomness,
                                                      viewer=viewer or self.viewer(), file_id=file_id,
                                                      download=download,
                                                      ip="203.0.113.9")
        with stream:
            return file, stream.read()


@pytest.fixture
def world() -> World:
    return World()


# ---- staff: attach, detach, list


def test_attach_to_a_job_stores_the_contents_and_the_record(world: World) -> None:
    file = world.attach(b"%PDF", name="  survey.pdf ", content_type="Application/PDF; charset=binary", job="g-job")
    assert (file.company_id, file.job_id, file.invoice_id) == ("g", "g-job", None)
    assert file.name == "survey.pdf" and file.content_type == "application/pdf" and file.size == 4
    assert world.storage.blobs[file.content_hash] == b"%PDF"
    assert file.attached_at == world.clock.now()
    with world.uow:
        assert world.uow.files.get(file.id) == file


def test_attach_to_a_draft_invoice_is_allowed(world: World) -> None:
    file = world.attach(invoice="g-draft")
    assert file.invoice_id == "g-draft" and file.job_id is None


def test_attach_finds_records_by_id_too(world: World) -> None:
    with world.uow:
        world.uow.jobs.add(Job(id="no-ref-job", company_id="g", title="No ref", status=JobStatus.SCHEDULED))
        world.uow.commit()
    assert world.attach(job="no-ref-job").job_id == "no-ref-job"


@pytest.mark.parametrize("target", [{}, {"job": "g-job", "invoice": "g-sent"}])
def test_attach_needs_exactly_one_target(world: World, target: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        world.attach(**target)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", [{"job": "nope"}, {"invoice": "nope"}, {"job": "g-sent"}])
def test_attach_to_an_unknown_record_stores_nothing(world: World, target: dict[str, str]) -> None:
    with pytest.raises(UnknownRecord):
        world.attach(**target)  # type: ignore[arg-type]
    assert world.storage.blobs == {}


@pytest.mark.parametrize(("name", "content_type"), [
    ("", "application/pdf"), ("   ", "application/pdf"), ("a\x00b.pdf", "application/pdf"),
    ("line\nbreak.pdf", "application/pdf"), ("x" * 256, "application/pdf"),
    ("a.pdf", ""), ("a.pdf", "pdf"), ("a.pdf", "text/html\r\nX-Evil: 1"), ("a.pdf", "a/b/c"),
])
def test_attach_refuses_bad_names_and_types(world: World, name: str, content_type: str) -> None:
    with pytest.raises(InvalidInput):
        world.attach(name=name, content_type=content_type, job="g-job")
    with world.uow:
        assert world.uow.files.list_for_company("g") == []


def test_detach_removes_the_record_at_once(world: World) -> None:
    file = world.attach(job="g-job")
    assert world.open(file.id)[1] == b"data"
    assert file_sharing.detach_file(world.uow, file.id).id == file.id
    with pytest.raises(UnknownRecord):
        world.open(file.id)
    with pytest.raises(UnknownRecord):
        file_sharing.detach_file(world.uow, file.id)


def test_staff_list_every_file_of_a_company_with_its_record(world: World) -> None:
    on_job = world.attach(job="g-job")
    on_draft = world.attach(invoice="g-draft")
    world.attach(job="i-job")
    rows = file_sharing.list_company_files(world.uow, "Company g")
    assert [(r.file.id, r.parent.id) for r in rows] == [(on_draft.id, "g-draft"), (on_job.id, "g-job")]
    with pytest.raises(UnknownCompany):
        file_sharing.list_company_files(world.uow, "nobody")


# ---- clients: list and open


def test_the_files_list_groups_by_record_and_leaves_out_what_the_client_may_not_see(world: World) -> None:
    job_old = world.attach(b"1", name="old.pdf", job="g-job")
    sent = world.attach(b"2", name="inv.pdf", invoice="g-sent")
    job_new = world.attach(b"3", name="new.pdf", job="g-job")
    world.attach(b"4", name="draft.pdf", invoice="g-draft")
    world.attach(b"5", name="void.pdf", invoice="g-void")
    world.attach(b"6", name="theirs.pdf", job="i-job")
    groups = file_sharing.list_visible_files(world.uow, world.viewer()).items
    assert [(g.parent.id, g.is_job, [f.id for f in g.files]) for g in groups] == [
        ("g-job", True, [job_new.id, job_old.id]), ("g-sent", False, [sent.id])]


def test_nothing_is_listed_or_opened_once_access_is_disabled(world: World) -> None:
    file = world.attach(job="g-job")
    viewer = Viewer(company=_company("g", enabled=False), contact=world.homer, session_id="s")
    assert file_sharing.list_visible_files(world.uow, viewer).items == ()
    with pytest.raises(UnknownRecord):
        world.open(file.id, viewer=viewer)


@pytest.mark.parametrize("invoice", ["g-draft", "g-void"])
def test_files_on_invoices_the_client_cannot_see_are_unknown(world: World, invoice: str) -> None:
    file = world.attach(invoice=invoice)
    with pytest.raises(UnknownRecord, match="no such file"):
        world.open(file.id)


def test_a_draft_invoices_file_shows_once_the_invoice_is_sent(world: World) -> None:
    file = world.attach(b"later", invoice="g-draft")
    with world.uow:
        invoice = world.uow.invoices.get("g-draft")
        assert invoice is not None
        invoice.status = InvoiceStatus.SENT
        world.uow.invoices.update(invoice)
        world.uow.commit()
    assert world.open(file.id)[1] == b"later"


def test_another_companys_file_and_an_unknown_id_look_the_same(world: World) -> None:
    theirs = world.attach(job="i-job")
    for file_id in (theirs.id, "no-such-id"):
        with pytest.raises(UnknownRecord, match="^no such file$"):
            world.open(file_id)
    assert world.open(theirs.id, viewer=world.viewer(world.peter))[1] == b"data"


def test_every_view_and_download_is_audited_and_refusals_are_not(world: World) -> None:
    file = world.attach(b"secret contents", job="g-job")
    draft = world.attach(invoice="g-draft")
    world.open(file.id)
    world.open(file.id, download=True)
    with pytest.raises(UnknownRecord):
        world.open(draft.id)
    with world.uow:
        entries = world.uow.audit.list_for_company("g")
    assert sorted((e.action, e.contact_id, e.detail, e.ip) for e in entries) == [
        ("file_downloaded", "homer", file.id, "203.0.113.9"), ("file_viewed", "homer", file.id, "203.0.113.9")]
    assert all("secret" not in e.detail for e in entries)


def test_missing_contents_are_a_storage_error_and_not_audited(world: World) -> None:
    file = world.attach(job="g-job")
    world.storage.blobs.clear()
    with pytest.raises(StorageError):
        world.open(file.id)
    with world.uow:
        assert world.uow.audit.list_for_company("g") == []


class CountingUnitOfWork(InMemoryUnitOfWork):
    """Counts the calls made on the repositories, to prove a list costs a fixed number of them."""

    calls: list[str]

    def _begin(self) -> None:
        super()._begin()
        if not hasattr(self, "calls"):
            self.calls = []
        for name in ("files", "jobs", "invoices", "companies", "contacts"):
            setattr(self, name, _Counting(getattr(self, name), name, self.calls))


class _Counting:
    def __init__(self, inner: Any, name: str, calls: list[str]) -> None:
        self._inner, self._name, self._calls = inner, name, calls

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._inner, attribute)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(f"{self._name}.{attribute}")
            return method(*args, **kwargs)
        return counted


@pytest.mark.parametrize("count", [1, 40])
def test_the_files_list_costs_three_repository_calls_however_many_files(world: World, count: int) -> None:
    for n in range(count):
        world.attach(str(n).encode(), job="g-job" if n % 2 else None, invoice=None if n % 2 else "g-sent")
    counting = CountingUnitOfWork(world.store)
    page = file_sharing.list_visible_files(counting, world.viewer())
    assert sum(len(g.files) for g in page.items) == min(count, PAGE_SIZE)
    assert page.has_next == (count > PAGE_SIZE)
    expected = {"files.list_for_company", "invoices.get_many"} | ({"jobs.get_many"} if count > 1 else set())
    assert sorted(counting.calls) == sorted(expected)  # a job lookup only when some file hangs off a job


# ---- the rule, over generated worlds

statuses = st.sampled_from(list(InvoiceStatus))
job_statuses = st.sampled_from(list(JobStatus))


@st.composite
def file_worlds(draw: st.DrawFn) -> tuple[World, list[tuple[File, Job | Invoice]], Viewer]:
    world = World()
    enabled = draw(st.booleans())
    parents: list[Job | Invoice] = []
    with world.uow:
        for n in range(draw(st.integers(min_value=0, max_value=4))):
            job = _job(f"j{n}", draw(st.sampled_from(["g", "i"])), draw(job_statuses))
            world.uow.jobs.add(job)
            parents.append(job)
        for n in range(draw(st.integers(min_value=0, max_value=4))):
            invoice = _invoice(f"v{n}", draw(st.sampled_from(["g", "i"])), draw(statuses))
            world.uow.invoices.add(invoice)
            parents.append(invoice)
        world.uow.commit()
    files: list[tuple[File, Job | Invoice]] = []
    if parents:
        for n in range(draw(st.integers(min_value=0, max_value=8))):
            parent = draw(st.sampled_from(parents))
            kind = {"job": parent.id} if isinstance(parent, Job) else {"invoice": parent.id}
            files.append((world.attach(str(n).encode(), name=f"f{n}.pdf", **kind), parent))
    # The contact may since have moved to the other company: it must then see nothing of this one.
    contact = draw(st.sampled_from([world.homer, Contact(id="homer", company_id="i", name="Homer",
                                                          email="homer@globex.example")]))
    viewer = Viewer(company=_company("g", enabled=enabled), contact=contact, session_id="s")
    return world, files, viewer


def _pages(world: World, viewer: Viewer) -> list[Page[file_sharing.FileGroup]]:
    """Every page of the Files section, in order."""
    pages = [file_sharing.list_visible_files(world.uow, viewer)]
    while pages[-1].has_next:
        pages.append(file_sharing.list_visible_files(world.uow, viewer, page=pages[-1].number + 1))
    return pages


def _visible_to(viewer: Viewer, parent: Job | Invoice) -> bool:
    """The rule, stated independently of the policy module: the record is the viewer's company's, the company's
    portal is on, the contact still belongs to it, and the record is not one of the business's own drafts."""
    if not viewer.company.portal_enabled or viewer.contact.company_id != viewer.company.id:
        return False
    if parent.company_id != viewer.company.id:
        return False
    return isinstance(parent, Job) or parent.status in CLIENT_VISIBLE_INVOICES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_worlds())
def test_a_file_is_visible_iff_its_job_or_invoice_is(case: tuple[World, list[tuple[File, Job | Invoice]], Viewer],
                                                    ) -> None:
    world, files, viewer = case
    listed = {f.id for page in _pages(world, viewer) for g in page.items for f in g.files}
    for file, parent in files:
        expected = _visible_to(viewer, parent)
        assert (file.id in listed) == expected, (file, parent)
        if expected:
            assert world.open(file.id, viewer=viewer)[1] == file.name[1:-4].encode()
        else:
            with pytest.raises(UnknownRecord):
                world.open(file.id, viewer=viewer)
