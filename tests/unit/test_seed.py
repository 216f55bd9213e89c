"""Seed loading: the documented example loads, reloading changes nothing, and bad input is refused whole."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory import FixedClock, InMemoryFileStorage, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from portal_core.errors import InvalidInput, InvalidSeed
from portal_core.model.company import LINK_TOKEN_BYTES
from portal_core.model.documents import InvoiceStatus, JobStatus
from portal_core.seed import load_seed

from .conftest import START

PDF = b"%PDF-1.4\n% a site survey\n"


def example() -> dict[str, Any]:
    """The seed of issue 2 (docs/seed-format.md), with real base64 file contents."""
    return {
        "business": {"name": "Falcon Facilities", "about": "Facilities management since 2004.",
                     "email": "office@falcon.example", "phone": "+971 4 000 0000", "address": "Dubai",
                     "website": "https://falcon.example", "brand_color": "#0b6e4f"},
        "products": [{"ref": "svc-ac", "name": "AC maintenance", "description": "Quarterly service",
                      "unit_price": "150.00", "currency": "AED"}],
        "companies": [{
            "ref": "globex", "name": "Globex LLC", "portal_enabled": True,
            "contacts": [{"ref": "homer", "name": "Homer Simpson", "email": "homer@globex.example"}],
            "projects": [{"ref": "p1", "name": "HQ refit", "status": "active"}],
            "jobs": [{"ref": "j1", "title": "Replace AC unit", "status": "in_progress", "project": "p1",
                      "scheduled_start": "2026-11-20", "scheduled_end": "2026-12-05"}],
            "tasks": [{"ref": "t1", "title": "Site survey", "status": "open", "job": "j1", "due_date": "2026-12-02"}],
            "quotes": [{"ref": "q1", "number": "Q-1001", "status": "sent", "currency": "AED",
                        "issued_date": "2026-11-01", "valid_until": "2026-12-31",
                        "lines": [{"description": "Chiller", "quantity": "1", "unit_price": "900.00"}]}],
            "invoices": [{"ref": "i1", "number": "INV-2001", "status": "sent", "currency": "AED",
                          "issued_date": "2026-10-01", "due_date": "2026-10-31", "job": "j1", "tax": "0.00",
                          "amount_paid": "0.00",
                          "lines": [{"description": "Labour", "quantity": "3", "unit_price": "120.00"}]}],
            "requests": [{"ref": "r1", "title": "Noisy unit", "details": "It rattles.", "status": "open",
                          "submitted_by": "homer"}],
            "files": [{"ref": "f1", "name": "survey.pdf", "content_type": "application/pdf",
                       "content_base64": base64.b64encode(PDF).decode(), "attached_to": {"job": "j1"}}],
        }],
    }


def second_company(**records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ref": "initech", "name": "Initech", "portal_enabled": True,
            "contacts": [{"ref": "peter", "name": "Peter Gibbons", "email": "peter@initech.example"}],
            "jobs": [{"ref": "j2", "title": "TPS audit", "status": "scheduled"}], **records}


class Loader:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.uow = InMemoryUnitOfWork(self.store)
        self.clock = FixedClock(START)
        self.randomness = SeededRandomness(7)
        self.storage = InMemoryFileStorage()

    def load(self, document: object) -> Any:
        return load_seed(self.uow, randomness=self.randomness, clock=self.clock, storage=self.storage,
                         document=document)

    def snapshot(self) -> Any:
        return copy.deepcopy(self.store.state)


@pytest.fixture
def loader() -> Loader:
    return Loader()


def test_the_documented_example_loads(loader: Loader) -> None:
    report = loader.load(example())
    assert (report.companies, report.contacts) == (1, 1)
    uow = loader.uow
    with uow:
        business = uow.business.get()
        company = uow.companies.get_by_ref("globex")
        contact = uow.contacts.get_by_ref("homer")
        job = uow.jobs.get_by_ref("j1")
        invoice = uow.invoices.get_by_ref("i1")
        quote = uow.quotes.get_by_ref("q1")
        task = uow.tasks.get_by_ref("t1")
        request = uow.requests.get_by_ref("r1")
        file = uow.files.get_by_ref("f1")
        project = uow.projects.get_by_ref("p1")
        product = uow.products.get_by_ref("svc-ac")
    assert business is not None and business.brand_color == "#0b6e4f"
    assert company is not None and company.portal_enabled and company.name == "Globex LLC"
    assert len(company.link_token) >= (LINK_TOKEN_BYTES * 8) // 6
    assert contact is not None and contact.company_id == company.id and contact.email == "homer@globex.example"
    assert project is not None and job is not None and job.project_id == project.id
    assert job.status == JobStatus.IN_PROGRESS and job.scheduled_start == dt.date(2026, 11, 20)
    assert task is not None and task.job_id == job.id and task.due_date == dt.date(2026, 12, 2)
    assert invoice is not None and invoice.job_id == job.id and invoice.status == InvoiceStatus.SENT
    assert str(invoice.total) == "AED 360.00" and str(invoice.outstanding) == "AED 360.00"
    assert quote is not None and str(quote.total) == "AED 900.00"
    assert request is not None and request.submitted_by == contact.id and request.created_at == START
    assert file is not None and file.job_id == job.id and file.invoice_id is None and file.size == len(PDF)
    assert loader.storage.open(file.content_hash).read() == PDF
    assert product is not None and str(product.unit_price) == "AED 150.00"
    ids = [x.id for x in (company, contact, job, invoice, quote, task, request, file, project, product)]
    assert len(set(ids)) == len(ids)


def test_loading_twice_changes_nothing(loader: Loader) -> None:
    loader.load(example())
    before = loader.snapshot()
    loader.clock.advance(days=3)
    loader.load(example())
    assert loader.snapshot() == before


def test_reloading_updates_records_in_place_by_ref(loader: Loader) -> None:
    loader.load(example())
    with loader.uow:
        old = loader.uow.companies.get_by_ref("globex")
    changed = example()
    changed["companies"][0]["name"] = "Globex Corporation"
    changed["companies"][0]["portal_enabled"] = False
    changed["companies"][0]["invoices"][0]["status"] = "paid"
    loader.load(changed)
    with loader.uow:
        new = loader.uow.companies.get_by_ref("globex")
        invoice = loader.uow.invoices.get_by_ref("i1")
        assert len(loader.uow.companies.list()) == 1
    assert old is not None and new is not None
    assert (new.id, new.link_token) == (old.id, old.link_token)
    assert new.name == "Globex Corporation" and not new.portal_enabled
    assert invoice is not None and invoice.status == InvoiceStatus.PAID


OPTIONAL = [("business", "about"), ("business", "phone"), ("business", "address"), ("business", "website"),
            ("business", "brand_color"), ("products",), ("c", "projects"), ("c", "tasks"), ("c", "quotes"),
            ("c", "requests"), ("c", "files"), ("job", "project"), ("job", "scheduled_start"),
            ("job", "scheduled_end"), ("task", "due_date"), ("task", "job"), ("invoice", "tax"),
            ("invoice", "amount_paid"), ("invoice", "job"), ("request", "submitted_by")]


def _drop(document: dict[str, Any], path: tuple[str, ...]) -> None:
    company = document["companies"][0]
    owners = {"business": document["business"], "c": company}
    if len(path) == 1:
        document.pop(path[0], None)
    elif path[0] in owners:
        owners[path[0]].pop(path[1], None)
        if path == ("c", "projects"):  # then nothing may name a project
            _drop(document, ("job", "project"))
    else:
        for record in company.get(path[0] + "s", []):
            record.pop(path[1], None)


@given(dropped=st.sets(st.sampled_from(OPTIONAL)))
@settings(max_examples=30, deadline=None)
def test_optional_keys_may_be_left_out_and_reloading_still_changes_nothing(dropped: set[tuple[str, ...]]) -> None:
    document = example()
    for path in sorted(dropped):
        _drop(document, path)
    loader = Loader()
    loader.load(document)
    before = loader.snapshot()
    loader.load(document)
    assert loader.snapshot() == before
    with loader.uow:
        invoice = loader.uow.invoices.get_by_ref("i1")
    assert invoice is not None and invoice.total.currency == "AED"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the example: path like 'companies.0.invoices.0.currency'."""
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return mutate


def _add_company(**records: list[dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        document["companies"].append(second_company(**records))
    return mutate


def _add_contact(email: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        document["companies"][0]["contacts"].append({"ref": "marge", "name": "Marge Simpson", "email": email})
    return mutate


def _file(attached_to: dict[str, str], content: str = "aGVsbG8=") -> dict[str, Any]:
    return {"ref": "f2", "name": "x.pdf", "content_type": "application/pdf", "content_base64": content,
            "attached_to": attached_to}


BAD_INPUT = {
    "unknown currency on an invoice": (_set("companies.0.invoices.0.currency", "XYZ"), "unknown currency 'XYZ'"),
    "unknown currency on a quote": (_set("companies.0.quotes.0.currency", "ABC"), "unknown currency 'ABC'"),
    "unknown currency on a quote without lines": (
        _set("companies.0.quotes.0", {"ref": "q1", "number": "Q-1", "status": "sent", "currency": "QQQ"}),
        "unknown currency 'QQQ'"),
    "unknown currency on a product": (_set("products.0.currency", "DOLLARS"), "unknown currency"),
    "bad date": (_set("companies.0.invoices.0.issued_date", "2026-13-01"),
                 r"\$\.companies\[0\]\.invoices\[0\]\.issued_date: '2026-13-01' is not an ISO 8601 date"),
    "not a date at all": (_set("companies.0.jobs.0.scheduled_start", "next week"), "not an ISO 8601 date"),
    "due date before issue date": (_set("companies.0.invoices.0.due_date", "2026-09-30"),
                                   "INV-2001: due date 2026-09-30 is before issue date 2026-10-01"),
    "unknown invoice status": (_set("companies.0.invoices.0.status", "overdue"), "unknown status 'overdue'"),
    "unknown job status": (_set("companies.0.jobs.0.status", "started"),
                           r"\$\.companies\[0\]\.jobs\[0\]\.status: unknown status 'started'"),
    "unknown quote status": (_set("companies.0.quotes.0.status", "approved"), "unknown status 'approved'"),
    "extra key in the business": (_set("business.colour", "#000000"), "colour"),
    "extra key on a job": (_set("companies.0.jobs.0.priority", "high"), "priority"),
    "extra key at the top": (_set("clients", []), "clients"),
    "a job naming another company's project": (
        _add_company(projects=[], jobs=[{"ref": "j2", "title": "x", "status": "scheduled", "project": "p1"}]),
        r"\$\.companies\[1\]\.jobs\[0\]: project 'p1' is not a project of company 'initech'"),
    "an invoice naming another company's job": (
        _add_company(invoices=[{"ref": "i2", "number": "INV-9", "status": "sent", "currency": "AED", "job": "j1"}]),
        "job 'j1' is not a job of company 'initech'"),
    "a task naming another company's job": (
        _add_company(tasks=[{"ref": "t2", "title": "x", "job": "j1"}]), "job 'j1' is not a job of company"),
    "a file attached to another company's job": (
        _add_company(files=[_file({"job": "j1"})]), r"files\[0\]\.attached_to: job 'j1' is not a job of company"),
    "a file attached to another company's invoice": (
        _add_company(files=[_file({"invoice": "i1"})]), "invoice 'i1' is not a invoice of company 'initech'"),
    "a file attached to an unknown job": (_set("companies.0.files.0.attached_to", {"job": "nope"}), "job 'nope'"),
    "a request submitted by another company's contact": (
        _add_company(requests=[{"ref": "r2", "title": "x", "submitted_by": "homer"}]),
        "contact 'homer' is not a contact of company 'initech'"),
    "a ref reused across companies (job)": (
        _add_company(jobs=[{"ref": "j1", "title": "Another j1", "status": "scheduled"}]),
        "ref 'j1' already names a record of another company"),
    "a ref reused across companies (contact)": (
        _add_company(contacts=[{"ref": "homer", "name": "Homer Two", "email": "homer2@initech.example"}]),
        "ref 'homer' already names a record of another company"),
    "a ref reused across companies (invoice)": (
        _add_company(invoices=[{"ref": "i1", "number": "INV-1", "status": "sent", "currency": "AED"}]),
        "ref 'i1' already names a record of another company"),
    "duplicate email in one company": (_add_contact("  HOMER@Globex.Example "),
                                       r"contacts\[1\]: email appears twice in company 'globex'"),
    "malformed email": (_add_contact("marge at globex"), "'marge at globex' is not a valid email address"),
    "malformed business email": (_set("business.email", "office"), "not a valid email"),
    "bad base64": (_set("companies.0.files.0.content_base64", "not base64!!"),
                   r"files\[0\]\.content_base64: not valid base64"),
    "both job and invoice in attached_to": (_set("companies.0.files.0.attached_to", {"job": "j1", "invoice": "i1"}),
                                            "name exactly one of"),
    "neither job nor invoice in attached_to": (_set("companies.0.files.0.attached_to", {}), "name exactly one of"),
    "a float amount": (_set("companies.0.invoices.0.lines.0.unit_price", 120.0),
                       r"expected str @ \$\.companies\[0\]\.invoices\[0\]\.lines\[0\]\.unit_price"),
    "too many decimals": (_set("companies.0.invoices.0.lines.0.unit_price", "120.005"), "more decimals than AED"),
    "a quantity that is not a number": (_set("companies.0.invoices.0.lines.0.quantity", "three"), "quantity"),
    "a missing required key": (lambda d: d["companies"][0].pop("name"), "name"),
    "portal_enabled that is not a boolean": (_set("companies.0.portal_enabled", "yes"),
                                             r"expected bool @ \$\.companies\[0\]\.portal_enabled"),
    "bad brand colour": (_set("business.brand_color", "green"), "brand colour"),
    "a seed that is not an object": (lambda d: None, "must be a JSON object"),
}


@pytest.mark.parametrize("preloaded", [False, True], ids=["empty", "preloaded"])
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_with_a_useful_message_and_writes_nothing(case: str, preloaded: bool) -> None:
    mutate, message = BAD_INPUT[case]
    loader = Loader()
    if preloaded:
        loader.load(example())
    before = loader.snapshot()
    document: Any = example()
    mutate(document)
    if case == "a seed that is not an object":
        document = ["not", "an", "object"]
    with pytest.raises(InvalidInput, match=message) as caught:
        loader.load(document)
    assert isinstance(caught.value, InvalidSeed)
    assert str(caught.value).strip()
    assert loader.snapshot() == before


def test_the_first_seed_must_describe_the_business(loader: Loader) -> None:
    document = example()
    del document["business"]
    with pytest.raises(InvalidSeed, match="business"):
        loader.load(document)
    assert loader.snapshot() == Loader().snapshot()
    loader.load(example())
    loader.load(document)  # later seeds may leave it out


@pytest.mark.parametrize("kind", ["companies", "jobs", "contacts"])
def test_a_ref_repeated_inside_one_seed_is_refused_not_merged(kind: str) -> None:
    document = example()
    company = document["companies"][0]
    if kind == "companies":
        document["companies"].append({**copy.deepcopy(company), "name": "Globex Two", "contacts": []})
    elif kind == "jobs":
        company["jobs"].append({**company["jobs"][0], "title": "Another job"})
    else:
        company["contacts"].append({**company["contacts"][0], "email": "other@globex.example"})
    uow = InMemoryUnitOfWork()
    with pytest.raises(InvalidSeed, match="appears twice"):
        load_seed(uow, randomness=SeededRandomness(), clock=FixedClock(), storage=InMemoryFileStorage(),
                  document=document)
    with uow:
        assert uow.companies.list() == []
