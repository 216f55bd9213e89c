"""The seed format (docs/seed-format.md): a CRM export loaded in one transaction, matched by `ref` (reloads: no-op)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from portal_core.companies import new_link_token
from portal_core.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidSeed,
    NotFound,
    PortalError,
    StorageError,
    UnknownCompany,
)
from portal_core.ids import new_id
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact, email_key
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
from portal_core.model.money import Money, exponent, parse_decimal
from portal_core.ports import Clock, FileStorage, Progress, Randomness, UnitOfWork
from portal_core.seed_format import (
    Seed,
    SeedCompany,
    SeedFile,
    SeedLine,
    parse_company_records,
    parse_seed,
)

E = TypeVar("E")



@attrs.frozen(kw_only=True)
class SeedReport:
    companies: int
    contacts: int
    records: int
    created: tuple[str, ...] = ()  # the paths ("$.companies[0].invoices[2]") of the records that were new




def _date(value: str | None, where: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidSeed(f"{where}: {value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _status(enum_type: Callable[[str], E], value: str, where: str) -> E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = " / ".join(member.value for member in enum_type)  # type: ignore[attr-defined]
        raise InvalidSeed(f"{where}: unknown status {value!r} (expected {allowed})") from None


MAX_REF = 255  # the CRM's refs, as stored
MAX_NUMBER = 64  # an invoice's or a quote's number


def _at_most(text: str, limit: int, where: str) -> None:
    if len(text) > limit:
        raise InvalidSeed(f"{where}: at most {limit} characters")


def _currency(code: str, where: str) -> str:
    """A record's currency, its error said at its key."""
    try:
        exponent(code)
    except PortalError as exc:
        raise InvalidSeed(f"{where}: {exc}") from None
    return code


def _money(text: str, currency: str, where: str) -> Money:
    """An amount in a checked currency, its error said at its key."""
    try:
        return Money.parse(text, currency)
    except PortalError as exc:
        raise InvalidSeed(f"{where}: {exc}") from None


def _lines(lines: list[SeedLine], currency: str, where: str) -> tuple[Line, ...]:
    """The record's lines; its currency is checked first, at its own key."""
    _currency(currency, where + ".currency")
    def line_of(i: int, line: SeedLine) -> Line:
        try:
            quantity = parse_decimal(line.quantity, what="quantity")
        except PortalError as exc:
            raise InvalidSeed(f"{where}.lines[{i}].quantity: {exc}") from None
        return Line(description=line.description, quantity=quantity,
                    unit_price=_money(line.unit_price, currency, f"{where}.lines[{i}].unit_price"))

    return tuple(line_of(i, line) for i, line in enumerate(lines))


class _Loader:
    """Upserts one seed inside one unit of work; refs are matched per kind across the whole database."""

    def __init__(self, uow: UnitOfWork, randomness: Randomness, clock: Clock, storage: FileStorage,
                 progress: Progress | None = None) -> None:
        self.uow = uow
        self.progress = progress
        self.randomness = randomness
        self.clock = clock
        self.storage = storage
        self.records = 0
        self.created: list[str] = []
        self._seen: set[tuple[int, str]] = set()

    def claim(self, repo: Any, ref: str, where: str) -> None:
        """A ref names one record of its kind: twice in one seed is a mistake, never a silent merge."""
        if not 0 < len(ref) <= MAX_REF:
            raise InvalidSeed(f"{where}.ref: a ref is 1 to {MAX_REF} characters")
        key = (id(repo), ref)
        if key in self._seen:
            raise InvalidSeed(f"{where}: ref {ref!r} appears twice in this seed")
        self._seen.add(key)

    def upsert(self, repo: Any, ref: str, company: Company | None, build: Callable[..., Any],
               where: str) -> Any:
        existing = repo.get_by_ref(ref)
        if existing is not None and company is not None and existing.company_id != company.id:
            raise InvalidSeed(f"{where}: ref {ref!r} already names a record of another company")
        self.claim(repo, ref, where)
        try:
            entity = build(existing.id if existing else new_id(self.randomness), existing)
            (repo.update if existing else repo.add)(entity)  # storing may compute more (an invoice's totals)
        except (InvalidSeed, Conflict, DatabaseUnavailable, StorageError):
            raise
        except PortalError as exc:  # a rule of the entity (a due date before the issue date): said where
            raise InvalidSeed(f"{where}: {exc}") from None
        self.records += 1
        if existing is None:
            self.created.append(where)
        return entity

    def lookup(self, repo: Any, ref: str | None, company: Company, kind: str, where: str) -> str | None:
        if ref is None:
            return None
        found = repo.get_by_ref(ref)
        if found is None or found.company_id != company.id:
            raise InvalidSeed(f"{where}: {kind} {ref!r} is not a {kind} of company {company.ref!r}")
        return str(found.id)

    def load(self, seed: Seed) -> SeedReport:
        uow = self.uow
        if seed.business is not None:
            b = seed.business
            uow.business.save(Business(name=b.name, email=b.email, about=b.about, phone=b.phone, address=b.address,
                                       website=b.website, brand_color=b.brand_color or "", logo_url=b.logo_url,
                                       default_language=b.default_language))
        elif uow.business.get() is None:
            raise InvalidSeed("$.business: the first seed must describe the business")
        for i, p in enumerate(seed.products):
            self.upsert(uow.products, p.ref, None, lambda id_, _old, p=p, i=i: Product(
                id=id_, ref=p.ref, name=p.name, description=p.description,
                unit_price=_money(p.unit_price, _currency(p.currency, f"$.products[{i}].currency"),
                                  f"$.products[{i}].unit_price")), f"$.products[{i}]")
        contacts = 0
        for ci, c in enumerate(seed.companies):
            self.load_company(c, f"$.companies[{ci}]")
            contacts += len(c.contacts)
            if self.progress is not None:
                self.progress(ci + 1, len(seed.companies))
        return self.report(companies=len(seed.companies), contacts=contacts)

    def report(self, *, companies: int, contacts: int) -> SeedReport:
        return SeedReport(companies=companies, contacts=contacts, records=self.records, created=tuple(self.created))

    def load_company(self, c: SeedCompany, at: str) -> None:
        uow = self.uow
        self.claim(uow.companies, c.ref, at)
        existing = uow.companies.get_by_ref(c.ref)
        if existing is None:
            company = Company(id=new_id(self.randomness), ref=c.ref, name=c.name, portal_enabled=c.portal_enabled,
                              link_token=new_link_token(self.randomness))
            uow.companies.add(company)
            self.created.append(at)
        else:
            company = existing
            company.name = c.name
            company.set_access(c.portal_enabled)
            uow.companies.update(company)
        self.load_records(company, c, at)

    def load_records(self, company: Company, c: SeedCompany, at: str) -> None:
        """The company's records of each kind in `c` (the company itself is left as it is)."""
        uow = self.uow
        seen_emails: set[str] = set()
        for i, p in enumerate(c.contacts):
            where = f"{at}.contacts[{i}]"
            key = email_key(p.email)
            if key in seen_emails:
                raise InvalidSeed(f"{where}: email appears twice in company {c.ref!r}")
            seen_emails.add(key)
            clash = uow.contacts.find(company.id, key)
            if clash is not None and clash.ref != p.ref:
                raise InvalidSeed(f"{where}: company {c.ref!r} already has a contact with that email")
            self.upsert(uow.contacts, p.ref, company, lambda id_, old, p=p: Contact(
                id=id_, ref=p.ref, company_id=company.id, name=p.name, email=p.email,
                language=p.language if p.language is not None else (old.language if old else None)), where)
        for i, pr in enumerate(c.projects):
            where = f"{at}.projects[{i}]"
            self.upsert(uow.projects, pr.ref, company, lambda id_, _old, pr=pr, where=where: Project(
                id=id_, ref=pr.ref, company_id=company.id, name=pr.name,
                status=_status(ProjectStatus, pr.status, where + ".status")), where)
        for i, j in enumerate(c.jobs):
            where = f"{at}.jobs[{i}]"
            project_id = self.lookup(uow.projects, j.project, company, "project", where)
            start = _date(j.scheduled_start, where + ".scheduled_start")
            end = _date(j.scheduled_end, where + ".scheduled_end")
            if start and end and end < start:
                raise InvalidSeed(f"{where}: scheduled_end is before scheduled_start")
            self.upsert(uow.jobs, j.ref, company, lambda id_, _old, j=j, where=where, pid=project_id, s=start, e=end:
                        Job(id=id_, ref=j.ref, company_id=company.id, title=j.title,
                            status=_status(JobStatus, j.status, where + ".status"), scheduled_start=s, scheduled_end=e,
                            project_id=pid), where)
        for i, t in enumerate(c.tasks):
            where = f"{at}.tasks[{i}]"
            job_id = self.lookup(uow.jobs, t.job, company, "job", where)
            self.upsert(uow.tasks, t.ref, company, lambda id_, _old, t=t, where=where, jid=job_id: Task(
                id=id_, ref=t.ref, company_id=company.id, title=t.title,
                status=_status(TaskStatus, t.status, where + ".status"),
                job_id=jid, due_date=_date(t.due_date, where + ".due_date")), where)
        for i, q in enumerate(c.quotes):
            where = f"{at}.quotes[{i}]"
            _at_most(q.number, MAX_NUMBER, where + ".number")
            self.upsert(uow.quotes, q.ref, company, lambda id_, _old, q=q, where=where: Quote(
                id=id_, ref=q.ref, company_id=company.id, number=q.number,
                status=_status(QuoteStatus, q.status, where + ".status"), currency=q.currency,
                issued_date=_date(q.issued_date, where + ".issued_date"),
                valid_until=_date(q.valid_until, where + ".valid_until"),
                lines=_lines(q.lines, q.currency, where)), where)
        for i, inv in enumerate(c.invoices):
            where = f"{at}.invoices[{i}]"
            _at_most(inv.number, MAX_NUMBER, where + ".number")
            job_id = self.lookup(uow.jobs, inv.job, company, "job", where)
            self.upsert(uow.invoices, inv.ref, company, lambda id_, _old, inv=inv, where=where, jid=job_id: Invoice(
                id=id_, ref=inv.ref, company_id=company.id, number=inv.number,
                status=_status(InvoiceStatus, inv.status, where + ".status"), currency=inv.currency,
                issued_date=_date(inv.issued_date, where + ".issued_date"),
                due_date=_date(inv.due_date, where + ".due_date"),
                lines=_lines(inv.lines, inv.currency, where), tax=_money(inv.tax, inv.currency, where + ".tax"),
                amount_paid=_money(inv.amount_paid, inv.currency, where + ".amount_paid"), job_id=jid), where)
        for i, r in enumerate(c.requests):
            where = f"{at}.requests[{i}]"
            by = self.lookup(uow.contacts, r.submitted_by, company, "contact", where)
            self.upsert(uow.requests, r.ref, company, lambda id_, old, r=r, where=where, by=by: ClientRequest(
                id=id_, ref=r.ref, company_id=company.id, title=r.title, details=r.details,
                status=_status(RequestStatus, r.status, where + ".status"), submitted_by=by,
                created_at=old.created_at if old else self.clock.now()), where)
        for i, f in enumerate(c.files):
            self.load_file(company, f, f"{at}.files[{i}]")

    def load_file(self, company: Company, f: SeedFile, where: str) -> None:
        uow = self.uow
        target = f.attached_to
        if (target.job is None) == (target.invoice is None):
            raise InvalidSeed(f'{where}.attached_to: name exactly one of {{"job": REF}} or {{"invoice": REF}}')
        job_id = self.lookup(uow.jobs, target.job, company, "job", where + ".attached_to")
        invoice_id = self.lookup(uow.invoices, target.invoice, company, "invoice", where + ".attached_to")
        try:
            data = base64.b64decode(f.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSeed(f"{where}.content_base64: not valid base64") from None
        content_hash, size = self.storage.put(io.BytesIO(data))
        self.upsert(uow.files, f.ref, company, lambda id_, old: File(
            id=id_, ref=f.ref, company_id=company.id, name=f.name, content_type=f.content_type, size=size,
            content_hash=content_hash, attached_at=old.attached_at if old else self.clock.now(),
            job_id=job_id, invoice_id=invoice_id), where)


def load_seed(uow: UnitOfWork, *, randomness: Randomness, clock: Clock, storage: FileStorage,
              document: object, progress: Progress | None = None) -> SeedReport:
    """Loads the whole seed or nothing. Raises InvalidSeed (or another InvalidInput) naming where it went wrong.
    `progress` is told of each company loaded (before the one commit at the end)."""
    seed = parse_seed(document)
    return _in_one_transaction(uow, lambda: _Loader(uow, randomness, clock, storage, progress).load(seed))


def load_company_records(uow: UnitOfWork, *, randomness: Randomness, clock: Clock, storage: FileStorage,
                         company_ref: str, document: object) -> SeedReport:
    """Loads records of an existing company, given as a seed company's lists without the company's own fields
    (`{"invoices": [...]}`); paths in errors start at that document ($.invoices[0].number). All or nothing.
    Raises UnknownCompany when no company has that ref."""
    records = parse_company_records(company_ref, document)

    def load() -> SeedReport:
        company = uow.companies.get_by_ref(company_ref)
        if company is None:
            raise UnknownCompany(f"no company has the ref {company_ref!r}")
        loader = _Loader(uow, randomness, clock, storage)
        loader.load_records(company, records, "$")
        return loader.report(companies=0, contacts=len(records.contacts))

    return _in_one_transaction(uow, load)


def _in_one_transaction(uow: UnitOfWork, load: Callable[[], SeedReport]) -> SeedReport:
    with uow:
        try:
            report = load()
        except (InvalidSeed, NotFound, Conflict, DatabaseUnavailable, StorageError):
            raise  # a clash with another writer or an outage is not a mistake in the seed: said as what it is
        except PortalError as exc:
            raise InvalidSeed(str(exc)) from exc
        uow.commit()
    return report
