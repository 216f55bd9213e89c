"""The write rules of the repository ports, as a pytest mixin (RepositoryContract includes it):

- every unique key refuses a second record with Conflict, on add and on update, and accepts the same record with a
  fresh key (so an adapter that refuses everything fails too);
- an update of a record that is not stored raises RecordMissing (a KeyError too), and stores nothing;
- a unit of work is one block: entering it while it is open raises RuntimeError, and so does any use of it (a
  repository, commit) outside its `with` block, where the work would belong to no transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest

from portal_core.errors import Conflict, RecordMissing
from portal_core.model.api_key import ApiKey
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
from portal_core.model.mail import Email
from portal_core.model.money import Money
from portal_core.model.outbox import MailPurpose, OutboxMessage
from portal_core.model.payment import Payment, PaymentStatus, Provider
from portal_core.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def originals(p: str) -> dict[str, list[Any]]:
    """One stored record of every kind with a unique key (two companies, two contacts of the first), by repository
    name, in the order they can be stored. `p` prefixes every id and key."""
    a = Company(id=f"{p}co-a", name="Globex", link_token=f"{p}link-a-" + "x" * 22, ref=f"{p}co-a-ref")
    b = Company(id=f"{p}co-b", name="Initech", link_token=f"{p}link-b-" + "x" * 22, ref=f"{p}co-b-ref")
    homer = Contact(id=f"{p}homer", company_id=a.id, name="Homer", email="homer@globex.example", ref=f"{p}homer-ref")
    marge = Contact(id=f"{p}marge", company_id=a.id, name="Marge", email="marge@globex.example")
    project = Project(id=f"{p}project", company_id=a.id, name="Plant", status=ProjectStatus.ACTIVE,
                      ref=f"{p}project-ref")
    job = Job(id=f"{p}job", company_id=a.id, title="Inspect", status=JobStatus.SCHEDULED, scheduled_start=None,
              scheduled_end=None, project_id=project.id, ref=f"{p}job-ref")
    task = Task(id=f"{p}task", company_id=a.id, title="Report", status=TaskStatus.OPEN, job_id=job.id,
                due_date=None, ref=f"{p}task-ref")
    price = Money(1250, "AED")
    quote = Quote(id=f"{p}quote", company_id=a.id, number=f"{p}Q-1", status=QuoteStatus.SENT, currency="AED",
                  issued_date=None, valid_until=None, lines=(Line("work", Decimal(1), price),), ref=f"{p}quote-ref")
    invoice = Invoice(id=f"{p}invoice", company_id=a.id, number=f"{p}INV-1", status=InvoiceStatus.SENT,
                      currency="AED", issued_date=None, due_date=None, lines=(Line("work", Decimal(1), price),),
                      tax=Money(0, "AED"), amount_paid=Money(0, "AED"), job_id=job.id, ref=f"{p}invoice-ref")
    request = ClientRequest(id=f"{p}request", company_id=a.id, title="Leak", details="", status=RequestStatus.NEW,
                            created_at=AT, submitted_by=homer.id, ref=f"{p}request-ref")
    file = File(id=f"{p}file", company_id=a.id, name="report.pdf", content_type="application/pdf", size=3,
                content_hash="0" * 64, attached_at=AT, job_id=job.id, ref=f"{p}file-ref")
    product = Product(id=f"{p}product", name="Visit", unit_price=price, ref=f"{p}product-ref")
    payment = Payment(id=f"{p}payment", invoice_id=invoice.id, company_id=a.id, contact_id=homer.id,
                      provider=Provider.STRIPE, amount=price, status=PaymentStatus.PENDING,
                      attempt_key=f"{p}attempt", created_at=AT, provider_ref=f"{p}cs_1")
    message = OutboxMessage.queue(id=f"{p}message", message_id=f"<{p}1@portal.example>", now=AT,
                                  email=Email(to="homer@globex.example", subject="Hi", text="Hi", html="<p>Hi</p>"),
                                  purpose=MailPurpose.DOCUMENT_NOTICE)
    key = ApiKey(id=f"{p}api-key", name=f"{p}crm", key_hash=f"{p}hash".ljust(64, "0"), created_at=AT)
    return {"companies": [a, b], "contacts": [homer, marge], "projects": [project], "jobs": [job], "tasks": [task],
            "quotes": [quote], "invoices": [invoice], "requests": [request], "files": [file],
            "products": [product], "payments": [payment], "outbox": [message], "api_keys": [key]}


def clashes(stored: dict[str, list[Any]], p: str) -> Iterator[tuple[str, str, str, Any, Any]]:
    """(what, repository, "add" or "update", a record that clashes with a stored one, the same without the clash)."""
    a, b = stored["companies"]
    homer, marge = stored["contacts"]
    yield "company link token", "companies", "add", attrs.evolve(
        a, id=f"{p}co-c", ref=None), attrs.evolve(a, id=f"{p}co-c", ref=None, link_token=f"{p}link-c-" + "x" * 22)
    yield "company link token", "companies", "update", attrs.evolve(
        b, link_token=a.link_token), attrs.evolve(b, link_token=f"{p}link-d-" + "x" * 22)
    yield "company ref", "companies", "update", attrs.evolve(b, ref=a.ref), attrs.evolve(b, ref=f"{p}co-d-ref")
    yield "contact email in one company, in another case", "contacts", "add", attrs.evolve(
        homer, id=f"{p}homer2", ref=None, email="HOMER@Globex.example"), attrs.evolve(
        homer, id=f"{p}homer2", ref=None, email="HOMER@Globex.example", company_id=b.id)
    yield "contact email in one company", "contacts", "update", attrs.evolve(
        marge, email=homer.email), attrs.evolve(marge, email="marge.s@globex.example")
    for kind, items in stored.items():
        item = items[0]
        if getattr(item, "ref", None) is not None:
            yield f"{kind} ref", kind, "add", attrs.evolve(item, **_fresh(kind, item, p, keep_ref=True)), (
                attrs.evolve(item, **_fresh(kind, item, p, keep_ref=False)))
        yield f"{kind} id", kind, "add", attrs.evolve(item, **{**_fresh(kind, item, p, keep_ref=False),
                                                              "id": item.id}), None
    payment = stored["payments"][0]
    yield "payment attempt key", "payments", "add", attrs.evolve(
        payment, id=f"{p}payment2", provider_ref=None), attrs.evolve(
        payment, id=f"{p}payment2", provider_ref=None, attempt_key=f"{p}attempt2")
    yield "payment provider reference", "payments", "add", attrs.evolve(
        payment, id=f"{p}payment2", attempt_key=f"{p}attempt2"), attrs.evolve(
        payment, id=f"{p}payment2", attempt_key=f"{p}attempt2", provider_ref=f"{p}cs_2")
    message = stored["outbox"][0]
    yield "outbox message id", "outbox", "add", attrs.evolve(message, id=f"{p}message2"), attrs.evolve(
        message, id=f"{p}message2", message_id=f"<{p}2@portal.example>")
    key = stored["api_keys"][0]
    yield "API key hash", "api_keys", "add", attrs.evolve(key, id=f"{p}api-key2", name=f"{p}books"), attrs.evolve(
        key, id=f"{p}api-key2", name=f"{p}books", key_hash=f"{p}hash2".ljust(64, "0"))


def _fresh(kind: str, item: Any, p: str, *, keep_ref: bool) -> dict[str, Any]:
    """The changes that make `item` a new record of its kind, free of every unique key but (maybe) its ref."""
    changes: dict[str, Any] = {"id": f"{item.id}2"}
    if hasattr(item, "ref") and not keep_ref:
        changes["ref"] = None
    for name, fresh in (("link_token", f"{p}link-e-" + "x" * 22), ("number", f"{p}N-2"),
                        ("attempt_key", f"{p}attempt3"), ("provider_ref", None), ("key_hash", "f" * 64),
                        ("message_id", f"<{p}3@portal.example>")):
        if hasattr(item, name):
            changes[name] = fresh
    if kind == "contacts":
        changes["email"] = "other@globex.example"
    if kind == "api_keys":
        changes["name"] = f"{p}other"
    return changes


def store(make_uow: UowFactory, records: dict[str, list[Any]]) -> None:
    with make_uow() as uow:
        for kind, items in records.items():
            for item in items:
                getattr(uow, kind).add(item)
        uow.commit()


def _read(uow: UnitOfWork, kind: str, item: Any) -> Any:
    repository = getattr(uow, kind)
    if kind in ("tasks", "products"):  # their ports find them by ref, not by id
        return repository.get_by_ref(item.ref)
    if kind == "api_keys":
        return repository.get_by_hash(item.key_hash)
    return repository.get(item.id)


class IntegrityContract:
    """The write rules; mixed into RepositoryContract. Needs the `make_uow` fixture (a fresh, empty store)."""

    def test_every_unique_key_refuses_a_second_record(self, make_uow: UowFactory) -> None:
        stored = originals("uq-")
        store(make_uow, stored)
        for what, kind, how, clash, control in clashes(stored, "uq-"):
            with make_uow() as uow, pytest.raises(Conflict):
                getattr(getattr(uow, kind), how)(clash)
                pytest.fail(f"{how} of a second {what} was not refused")
            if control is not None:
                with make_uow() as uow:
                    getattr(getattr(uow, kind), how)(control)  # the same record with a fresh key goes in
                    assert _read(uow, kind, control) == control, what
        with make_uow() as uow:  # nothing of the refused writes (or the controls, never committed) is stored
            for kind, items in stored.items():
                for item in items:
                    assert _read(uow, kind, item) == item, f"{kind} {item.id} changed"
            assert uow.companies.list() == stored["companies"]

    def test_an_update_of_a_missing_record_raises_record_missing(self, make_uow: UowFactory) -> None:
        stored = originals("miss-")
        store(make_uow, {"companies": stored["companies"]})
        for kind in ("companies", "contacts", "projects", "jobs", "tasks", "quotes", "invoices", "requests",
                     "files", "products", "payments", "outbox", "api_keys"):
            if kind == "files":
                continue  # files are never updated: the port has no update
            ghost = attrs.evolve(stored[kind][0], id=f"miss-ghost-{kind}"[:32])
            with make_uow() as uow:
                with pytest.raises(RecordMissing):
                    getattr(uow, kind).update(ghost)
                    pytest.fail(f"an update of a missing {kind} record passed")
            if kind not in ("tasks", "products", "api_keys"):
                with make_uow() as uow:
                    assert getattr(uow, kind).get(ghost.id) is None, f"the update stored a {kind} record"

    def test_a_unit_of_work_is_entered_once(self, make_uow: UowFactory) -> None:
        company = originals("twice-")["companies"][0]
        uow = make_uow()
        with uow:
            with pytest.raises(RuntimeError):
                uow.__enter__()
            uow.companies.add(company)  # the open block goes on, unharmed
            uow.commit()
        with make_uow() as fresh:
            assert fresh.companies.get(company.id) == company

    def test_a_unit_of_work_refuses_use_outside_its_block(self, make_uow: UowFactory) -> None:
        first, second = originals("closed-")["companies"]
        uow = make_uow()
        with pytest.raises(RuntimeError):
            uow.companies.add(first)  # before the block
        with uow:
            uow.companies.add(first)
            uow.commit()
        with pytest.raises(RuntimeError):
            uow.companies.add(second)  # after it
        with pytest.raises(RuntimeError):
            uow.commit()
        with pytest.raises(RuntimeError):
            uow.companies.get(first.id)
        with uow:  # and it can be used again, in a block of its own
            assert uow.companies.get(first.id) == first
            assert uow.companies.get(second.id) is None
