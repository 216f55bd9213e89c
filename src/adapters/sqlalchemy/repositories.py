"""The repository ports over SQLAlchemy Core: explicit row-domain mapping, ordering as in portal_core.ordering."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import attrs
import cattrs
import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.errors import database_errors
from portal_core import ordering
from portal_core.model.api_key import ApiKey
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
    Quote,
    QuoteStatus,
    Task,
    TaskStatus,
)
from portal_core.model.files import File
from portal_core.model.mail import Attachment, Email
from portal_core.model.money import Money
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.model.payment import Allocation, Payment, PaymentStatus, Provider, ProviderConnection
from portal_core.model.session import PortalSession
from portal_core.ports import PageRows

T = TypeVar("T")

# The ordering functions sort None dates as date.max; coalescing to the same value keeps ties identical.
_OPEN_INVOICE_STATUSES = (InvoiceStatus.SENT.value, InvoiceStatus.PARTIALLY_PAID.value)


def _rows_converter() -> cattrs.Converter:
    """Maps entities whose attributes are exactly their columns; the driver already returns dates and datetimes."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(dt.datetime, lambda value, _type: value)
    converter.register_structure_hook(dt.date, lambda value, _type: value)
    return converter


_rows = _rows_converter()


def _lines_to_json(lines: Sequence[Line]) -> list[dict[str, Any]]:
    # Quantities as decimal strings: JSON numbers would go through float and lose exactness.
    return [{"description": line.description, "quantity": str(line.quantity),
             "unit_price_minor": line.unit_price.minor} for line in lines]


def _lines_from_json(data: list[dict[str, Any]], currency: str) -> tuple[Line, ...]:
    return tuple(Line(item["description"], Decimal(item["quantity"]), Money(item["unit_price_minor"], currency))
                 for item in data)


def _offset_limit(query: sa.Select[Any], offset: int, limit: int | None) -> sa.Select[Any]:
    if offset:
        query = query.offset(offset)
    return query if limit is None else query.limit(limit)


class _Records(Generic[T]):
    """What every repository shares: the connection, the mapping, and insert/update/lookup by id or ref."""

    table: ClassVar[sa.Table]
    kind: ClassVar[type]

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def _to_row(self, item: T) -> dict[str, Any]:
        return dict(_rows.unstructure(item))

    def _from_row(self, row: sa.RowMapping) -> T:
        return _rows.structure(dict(row), self.kind)

    def _execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        with database_errors():
            return self._connection.execute(statement)

    def _text(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        # Python orders strings by code point; PostgreSQL by the database's locale unless told "C" (byte order,
        # which for UTF-8 is code point order). SQLite's default BINARY collation already is.
        return column.collate("C") if self._connection.dialect.name == "postgresql" else column

    def _last_day(self, column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[dt.date]:
        # "Unscheduled last": written as a literal, not a bound parameter, so that PostgreSQL sees the very
        # expression its index holds (migration 0007) and reads the index in order.
        last = "DATE '9999-12-31'" if self._connection.dialect.name == "postgresql" else "'9999-12-31'"
        return sa.func.coalesce(column, sa.literal_column(last, sa.Date()))

    def _select(self) -> sa.Select[Any]:
        return sa.select(self.table)

    def _one(self, *where: sa.ColumnElement[bool], order_by: Sequence[sa.ColumnElement[Any]] = ()) -> T | None:
        row = self._execute(self._select().where(*where).order_by(*order_by).limit(1)).mappings().first()
        return self._from_row(row) if row is not None else None

    def _all(self, *where: sa.ColumnElement[bool], order_by: Sequence[sa.ColumnElement[Any]],
             offset: int = 0, limit: int | None = None, lock: bool = False) -> list[T]:
        query = _offset_limit(self._select().where(*where).order_by(*order_by), offset, limit)
        if lock:
            query = query.with_for_update()
        return [self._from_row(row) for row in self._execute(query).mappings()]

    def add(self, item: T) -> None:
        self._execute(self.table.insert().values(self._to_row(item)))

    def update(self, item: T) -> None:
        row = self._to_row(item)
        result = self._execute(self.table.update().where(self.table.c.id == row.pop("id")).values(row))
        if result.rowcount == 0:
            raise KeyError(f"no {self.table.name} row {item.id}")  # type: ignore[attr-defined]

    def get(self, id_: str) -> T | None:
        return self._one(self.table.c.id == id_)

    def get_by_ref(self, ref: str) -> T | None:
        return self._one(self.table.c.ref == ref)

    def _get_many(self, ids: list[str]) -> list[T]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found = {item.id: item for item in self._all(self.table.c.id.in_(wanted), order_by=())}  # type: ignore[attr-defined]
        return [found[key] for key in wanted if key in found]

    def _remove(self, id_: str) -> None:
        self._execute(self.table.delete().where(self.table.c.id == id_))



class _Tried(Protocol):
    id: str
    claimed_until: dt.datetime | None

    def claim(self, now: dt.datetime) -> None: ...


Tried = TypeVar("Tried", bound=_Tried)


def claim_due(records: _Records[Tried], now: dt.datetime, *, limit: int,
              ids: Sequence[str] | None = None) -> list[Tried]:
    """Leases up to limit due entries of an outbox table (mail or webhook deliveries) to the caller: oldest due
    first, only those of ids when given, none that another dispatcher holds."""
    c = records.table.c
    if ids is not None and not ids:
        return []
    query = (sa.select(records.table)
             .where(c.status == OutboxStatus.PENDING.value, c.next_attempt_at <= now,
                    sa.or_(c.claimed_until.is_(None), c.claimed_until <= now))
             .order_by(c.next_attempt_at, records._text(c.id)).limit(limit))
    if ids is not None:
        query = query.where(c.id.in_(list(ids)))
    if records._connection.dialect.name == "postgresql":
        # Another dispatcher's claimed rows are skipped, not waited for: any number can run at once.
        query = query.with_for_update(skip_locked=True)
    claimed = [records._from_row(row) for row in records._execute(query).mappings()]
    for entry in claimed:
        entry.claim(now)
    if claimed:
        records._execute(records.table.update().where(c.id.in_([e.id for e in claimed]))
                         .values(claimed_until=claimed[0].claimed_until))
    return claimed


class SqlAlchemyBusinessRepository:
    _KEY = 1  # the single row

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def get(self) -> Business | None:
        with database_errors():
            row = self._connection.execute(sa.select(t.business).where(t.business.c.id == self._KEY)).mappings().first()
        if row is None:
            return None
        values = dict(row)
        del values["id"]
        return _rows.structure(values, Business)

    def save(self, business: Business) -> None:
        values = _rows.unstructure(business)
        with database_errors():
            result = self._connection.execute(t.business.update().where(t.business.c.id == self._KEY).values(values))
            if result.rowcount == 0:
                self._connection.execute(t.business.insert().values(id=self._KEY, **values))


class SqlAlchemyCompanyRepository(_Records[Company]):
    table, kind = t.companies, Company

    def get_by_name(self, name: str) -> Company | None:
        return self._one(t.companies.c.name == name, order_by=[self._text(t.companies.c.id)])

    def get_by_link_token(self, token: str) -> Company | None:
        return self._one(t.companies.c.link_token == token)

    def list(self) -> list[Company]:
        return self._all(order_by=[self._text(t.companies.c.name), self._text(t.companies.c.id)])


class SqlAlchemyContactRepository(_Records[Contact]):
    table, kind = t.contacts, Contact

    def _to_row(self, item: Contact) -> dict[str, Any]:
        return {**super()._to_row(item), "email_key": item.email_key}

    def _from_row(self, row: sa.RowMapping) -> Contact:
        values = dict(row)
        del values["email_key"]  # derived from email
        return _rows.structure(values, Contact)

    def remove(self, contact_id: str) -> None:
        # Codes and sessions go with the contact (ON DELETE CASCADE); its requests stay, unattributed.
        self._remove(contact_id)

    def find(self, company_id: str, email_key: str) -> Contact | None:
        return self._one(t.contacts.c.company_id == company_id, t.contacts.c.email_key == email_key)

    def list_for_company(self, company_id: str) -> list[Contact]:
        return self._all(t.contacts.c.company_id == company_id,
                         order_by=[self._text(t.contacts.c.name), self._text(t.contacts.c.id)])


class SqlAlchemyProductRepository(_Records[Product]):
    table, kind = t.products, Product

    def _to_row(self, item: Product) -> dict[str, Any]:
        return {"id": item.id, "name": item.name, "description": item.description, "ref": item.ref,
                "unit_price_minor": item.unit_price.minor, "currency": item.unit_price.currency}

    def _from_row(self, row: sa.RowMapping) -> Product:
        return Product(id=row["id"], name=row["name"], description=row["description"], ref=row["ref"],
                       unit_price=Money(row["unit_price_minor"], row["currency"]))

    def list(self, *, offset: int = 0, limit: int | None = None) -> list[Product]:
        return self._all(order_by=[self._text(t.products.c.name), self._text(t.products.c.id)],
                         offset=offset, limit=limit)


class SqlAlchemyProjectRepository(_Records[Project]):
    table, kind = t.projects, Project

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[Project]:
        return self._all(t.projects.c.company_id == company_id,
                         order_by=[self._text(t.projects.c.name), self._text(t.projects.c.id)],
                         offset=offset, limit=limit)


class SqlAlchemyJobRepository(_Records[Job]):
    table, kind = t.jobs, Job

    def get_many(self, job_ids: list[str]) -> list[Job]:
        return self._get_many(job_ids)

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        c = t.jobs.c
        where = [c.company_id == company_id]
        if statuses is not None:
            where.append(c.status.in_(sorted(statuses)))
        if project_id is not None:
            where.append(c.project_id == project_id)
        return self._all(*where, order_by=[self._last_day(c.scheduled_start), self._text(c.title),
                                           self._text(c.id)], offset=offset, limit=limit)


class SqlAlchemyTaskRepository(_Records[Task]):
    table, kind = t.tasks, Task

    def list_for_company(self, company_id: str, *, job_id: str | None = None, offset: int = 0,
                         limit: int | None = None) -> list[Task]:
        c = t.tasks.c
        where = [c.company_id == company_id]
        if job_id is not None:
            where.append(c.job_id == job_id)
        open_first = sa.case((c.status == TaskStatus.OPEN.value, 0), else_=1)
        return self._all(*where, order_by=[open_first, self._last_day(c.due_date), self._text(c.title),
                                           self._text(c.id)], offset=offset, limit=limit)


class SqlAlchemyQuoteRepository(_Records[Quote]):
    table, kind = t.quotes, Quote

    def _to_row(self, item: Quote) -> dict[str, Any]:
        return {"id": item.id, "company_id": item.company_id, "number": item.number, "status": item.status.value,
                "currency": item.currency, "issued_date": item.issued_date, "valid_until": item.valid_until,
                "lines": _lines_to_json(item.lines), "ref": item.ref}

    def _from_row(self, row: sa.RowMapping) -> Quote:
        return Quote(id=row["id"], company_id=row["company_id"], number=row["number"],
                     status=QuoteStatus(row["status"]), currency=row["currency"], issued_date=row["issued_date"],
                     valid_until=row["valid_until"], lines=_lines_from_json(row["lines"], row["currency"]),
                     ref=row["ref"])

    def list_for_company(self, company_id: str, *, statuses: frozenset[QuoteStatus], offset: int = 0,
                         limit: int | None = None) -> list[Quote]:
        c = t.quotes.c
        # Newest issued first, unissued last: the order of its index (migration 0007).
        return self._all(c.company_id == company_id, c.status.in_(sorted(statuses)), order_by=self._newest_first(),
                         offset=offset, limit=limit)

    def _newest_first(self) -> list[sa.ColumnElement[Any]]:
        c = t.quotes.c
        return [c.issued_date.desc().nulls_last(), self._text(c.number), self._text(c.id)]

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        c = t.quotes.c
        # Quote.awaiting_review: sent, and valid until today or later (or with no end). Both parts in one statement.
        where = [c.company_id == company_id, c.status == QuoteStatus.SENT.value,
                 sa.or_(c.valid_until.is_(None), c.valid_until >= sa.literal(today, sa.Date()))]
        newest = self._select().where(*where).order_by(*self._newest_first()).limit(limit).subquery()
        soonest = (self._select().where(*where, c.valid_until <= sa.literal(expiring_by, sa.Date()))
                   .order_by(c.valid_until, self._text(c.number), self._text(c.id)).limit(limit).subquery())
        rows = self._execute(sa.union_all(sa.select(newest), sa.select(soonest))).mappings()
        found = {row["id"]: self._from_row(row) for row in rows}  # a quote in both parts comes twice
        return sorted(found.values(), key=ordering.quote_key)


class SqlAlchemyInvoiceRepository(_Records[Invoice]):
    table, kind = t.invoices, Invoice

    def _to_row(self, item: Invoice) -> dict[str, Any]:
        return {"id": item.id, "company_id": item.company_id, "number": item.number, "status": item.status.value,
                "currency": item.currency, "issued_date": item.issued_date, "due_date": item.due_date,
                "lines": _lines_to_json(item.lines), "tax_minor": item.tax.minor,
                "amount_paid_minor": item.amount_paid.minor, "total_minor": item.total.minor, "job_id": item.job_id,
                "ref": item.ref}

    def _from_row(self, row: sa.RowMapping) -> Invoice:
        currency = row["currency"]
        return Invoice(id=row["id"], company_id=row["company_id"], number=row["number"],
                       status=InvoiceStatus(row["status"]), currency=currency, issued_date=row["issued_date"],
                       due_date=row["due_date"], lines=_lines_from_json(row["lines"], currency),
                       tax=Money(row["tax_minor"], currency), amount_paid=Money(row["amount_paid_minor"], currency),
                       job_id=row["job_id"], ref=row["ref"])

    def get_many(self, invoice_ids: list[str]) -> list[Invoice]:
        return self._get_many(invoice_ids)

    def get_for_update(self, invoice_id: str) -> Invoice | None:
        # FOR UPDATE on PostgreSQL: a second confirmation of the same invoice waits here until the first commits.
        # SQLite ignores it; there every transaction already holds the write lock (BEGIN IMMEDIATE).
        rows = self._all(self.table.c.id == invoice_id, order_by=(), lock=True)
        return rows[0] if rows else None

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        c = t.invoices.c
        # Overdue first, then by due date (ordering.invoice_key). "Overdue" depends on today, so no index holds that
        # order; instead each part is read in the order of one index (due date, number, id; migration 0007) and
        # stops after offset + limit rows, both in one statement, and the page is cut from the two in Python.
        due = self._last_day(c.due_date)
        # Invoice.is_overdue: open (sent or partially paid with something outstanding) and due before today.
        overdue = sa.and_(c.status.in_(_OPEN_INVOICE_STATUSES), c.total_minor > c.amount_paid_minor,
                          c.due_date.is_not(None), due < sa.literal(today, sa.Date()))
        order = [due, self._text(c.number), self._text(c.id)]
        wanted = None if limit is None else offset + limit
        mine = [c.company_id == company_id, c.status.in_(sorted(statuses))]
        parts = [_offset_limit(self._select().add_columns(sa.literal(rank).label("overdue_rank"))
                       .where(*mine, condition).order_by(*order), 0, wanted).subquery()
                 for rank, condition in ((0, overdue), (1, sa.not_(overdue)))]
        query = sa.union_all(*(sa.select(part) for part in parts))
        rows = list(self._execute(query).mappings())
        # The order of ordering.invoice_key, read from the columns (overdue_rank is its first part, computed by the
        # same rule), so that only the page's rows become Invoices.
        rows.sort(key=lambda row: (row["overdue_rank"], row["due_date"] or dt.date.max, row["number"], row["id"]))
        return [self._from_row(row) for row in (rows[offset:] if wanted is None else rows[offset:wanted])]


class SqlAlchemyRequestRepository(_Records[ClientRequest]):
    table, kind = t.requests, ClientRequest

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[ClientRequest]:
        c = t.requests.c
        return self._all(c.company_id == company_id, order_by=[c.created_at.desc(), self._text(c.id)],
                         offset=offset, limit=limit)


    def list_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[ClientRequest]:
        c = t.requests.c
        where = [] if after is None else [sa.or_(c.created_at > after[0],
                                                 sa.and_(c.created_at == after[0], self._text(c.id) > after[1]))]
        return self._all(*where, order_by=[c.created_at, self._text(c.id)], limit=limit)


class SqlAlchemyFileRepository(_Records[File]):
    table, kind = t.files, File

    def remove(self, file_id: str) -> None:
        self._remove(file_id)

    def list_for_company(self, company_id: str, *, job_id: str | None = None, invoice_id: str | None = None,
                         offset: int = 0, limit: int | None = None) -> list[File]:
        c = t.files.c
        where = [c.company_id == company_id]
        if job_id is not None:
            where.append(c.job_id == job_id)
        if invoice_id is not None:
            where.append(c.invoice_id == invoice_id)
        return self._all(*where, order_by=[c.attached_at.desc(), self._text(c.name), self._text(c.id)],
                         offset=offset, limit=limit)


class SqlAlchemyOneTimeCodeStore(_Records[OneTimeCode]):
    table, kind = t.one_time_codes, OneTimeCode

    def active_for_flow(self, contact_id: str, flow_key: str, *, lock: bool = False) -> list[OneTimeCode]:
        c = t.one_time_codes.c
        # FOR UPDATE makes a second sign-in in the same flow wait here until this one commits.
        return self._all(c.contact_id == contact_id, c.flow_key == flow_key, c.status == CodeStatus.ACTIVE.value,
                         order_by=[c.issued_at, self._text(c.id)], lock=lock)

    def latest_for_flow(self, contact_id: str, flow_key: str) -> OneTimeCode | None:
        c = t.one_time_codes.c
        return self._one(c.contact_id == contact_id, c.flow_key == flow_key,
                         order_by=[c.issued_at.desc(), self._text(c.id).desc()])

    def prune(self, issued_before: dt.datetime) -> int:
        return _delete(self._connection, t.one_time_codes, t.one_time_codes.c.issued_at < issued_before)


class SqlAlchemySessionStore(_Records[PortalSession]):
    table, kind = t.portal_sessions, PortalSession

    def prune(self, ended_before: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta) -> int:
        c = t.portal_sessions.c
        return _delete(self._connection, t.portal_sessions, sa.or_(
            c.ended_at < ended_before, c.last_seen_at < ended_before - idle, c.created_at < ended_before - absolute))


def _delete(connection: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    with database_errors():
        return int(connection.execute(table.delete().where(where)).rowcount)


def _advisory_lock_id(key: str) -> int:
    """A signed 64-bit number for pg_advisory_xact_lock, from the (already keyed-hash) throttle key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class SqlAlchemyLoginRequestLog:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def lock(self, *keys: str) -> None:
        # PostgreSQL: transaction-scoped advisory locks, released at commit or rollback; nothing is written. Taken
        # by one statement whose select list PostgreSQL evaluates left to right, so in the order given.
        # SQLite needs none: every transaction there begins IMMEDIATE (engine.py), so writers already take turns.
        if self._connection.dialect.name == "postgresql" and keys:
            with database_errors():
                self._connection.execute(sa.select(*(sa.func.pg_advisory_xact_lock(_advisory_lock_id(key))
                                                     .label(f"lock_{n}") for n, key in enumerate(keys))))

    def record(self, key: str, at: dt.datetime) -> None:
        self.record_each([key], at)

    def count_since(self, key: str, since: dt.datetime) -> int:
        return self.count_each_since([(key, since)])[0]

    def record_each(self, keys: Sequence[str], at: dt.datetime) -> None:
        if keys:
            with database_errors():
                self._connection.execute(t.login_requests.insert().values([{"key": key, "at": at} for key in keys]))

    def count_each_since(self, windows: Sequence[tuple[str, dt.datetime]]) -> list[int]:
        if not windows:
            return []
        c = t.login_requests.c
        counts = [sa.func.coalesce(sa.func.sum(sa.case((sa.and_(c.key == key, c.at >= since), 1), else_=0)), 0)
                  .label(f"count_{n}") for n, (key, since) in enumerate(windows)]
        query = sa.select(*counts).where(c.key.in_(sorted({key for key, _since in windows})),
                                         c.at >= min(since for _key, since in windows))
        with database_errors():
            return [int(value) for value in self._connection.execute(query).one()]

    def prune(self, before: dt.datetime) -> int:
        return _delete(self._connection, t.login_requests, t.login_requests.c.at < before)


class SqlAlchemyAuditLog(_Records[AuditEntry]):
    table, kind = t.audit_log, AuditEntry

    def append(self, entry: AuditEntry) -> None:
        self.add(entry)

    def list_for_company(self, company_id: str, *, limit: int = 200) -> list[AuditEntry]:
        c = t.audit_log.c
        return self._all(c.company_id == company_id, order_by=[c.at.desc(), self._text(c.id).desc()], limit=limit)

    def prune(self, before: dt.datetime) -> int:
        return _delete(self._connection, t.audit_log, t.audit_log.c.at < before)


class SqlAlchemyNoticeLog:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def _execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        with database_errors():
            return self._connection.execute(statement)

    def record(self, document_id: str, kind: str, at: dt.datetime) -> None:
        self._execute(t.notices.insert().values(document_id=document_id, kind=kind, sent_at=at))

    def last_sent(self, document_id: str, kind: str) -> dt.datetime | None:
        c = t.notices.c
        query = (sa.select(c.sent_at).where(c.document_id == document_id, c.kind == kind)
                 .order_by(c.sent_at.desc()).limit(1))
        value: dt.datetime | None = self._execute(query).scalar_one_or_none()
        return value

    def forget(self, document_id: str, kind: str, at: dt.datetime) -> None:
        c = t.notices.c
        self._execute(t.notices.delete().where(c.document_id == document_id, c.kind == kind, c.sent_at == at))


class SqlAlchemyPaymentRepository(_Records[Payment]):
    table, kind = t.payments, Payment

    def _to_row(self, item: Payment) -> dict[str, Any]:
        return {"id": item.id, "invoice_id": item.invoice_id, "company_id": item.company_id,
                "contact_id": item.contact_id, "provider": item.provider.value, "amount_minor": item.amount.minor,
                "currency": item.amount.currency, "status": item.status.value, "provider_ref": item.provider_ref,
                "attempt_key": item.attempt_key, "created_at": item.created_at, "settled_at": item.settled_at,
                "received_minor": item.received_minor, "received_currency": item.received_currency,
                "note": item.note, "checkout_url": item.checkout_url, "expires_at": item.expires_at}

    def _from_row(self, row: sa.RowMapping) -> Payment:
        return Payment(id=row["id"], invoice_id=row["invoice_id"], company_id=row["company_id"],
                       contact_id=row["contact_id"], provider=Provider(row["provider"]),
                       amount=Money(row["amount_minor"], row["currency"]), status=PaymentStatus(row["status"]),
                       provider_ref=row["provider_ref"], attempt_key=row["attempt_key"],
                       created_at=row["created_at"], settled_at=row["settled_at"],
                       received_minor=row["received_minor"], received_currency=row["received_currency"],
                       note=row["note"], checkout_url=row["checkout_url"], expires_at=row["expires_at"])

    def add(self, item: Payment) -> None:
        super().add(item)
        self._execute(t.payment_allocations.insert().values([
            {"payment_id": item.id, "invoice_id": a.invoice_id, "amount_minor": a.amount.minor}
            for a in item.allocations]))

    def _with_allocations(self, payments: list[Payment]) -> list[Payment]:
        """Each payment's shares, read in one statement for all of them."""
        if not payments:
            return payments
        a = t.payment_allocations.c
        rows = self._execute(sa.select(a.payment_id, a.invoice_id, a.amount_minor)
                             .where(a.payment_id.in_([p.id for p in payments]))
                             .order_by(a.payment_id, self._text(a.invoice_id))).all()
        shares: dict[str, list[tuple[str, int]]] = {}
        for payment_id, invoice_id, minor in rows:
            shares.setdefault(payment_id, []).append((invoice_id, minor))
        for payment in payments:
            if payment.id in shares:
                payment.allocations = tuple(Allocation(invoice_id=i, amount=Money(m, payment.amount.currency))
                                            for i, m in shares[payment.id])
        return payments

    def _first_with_allocations(self, found: Payment | None) -> Payment | None:
        return self._with_allocations([found])[0] if found is not None else None

    def get(self, id_: str) -> Payment | None:
        return self._first_with_allocations(super().get(id_))

    def get_by_provider_ref(self, provider: Provider, provider_ref: str) -> Payment | None:
        c = t.payments.c
        return self._first_with_allocations(
            self._one(c.provider == Provider(provider).value, c.provider_ref == provider_ref))

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        """Every payment with a share of the invoice: its own, and those of several invoices that include it."""
        c, a = t.payments.c, t.payment_allocations.c
        paying = sa.select(a.payment_id).where(a.invoice_id == invoice_id)
        return self._with_allocations(self._all(c.id.in_(paying), order_by=[c.created_at, self._text(c.id)]))

    def list_pending(self, *, limit: int = 500) -> list[Payment]:
        c = t.payments.c
        return self._with_allocations(self._all(c.status == PaymentStatus.PENDING.value, c.provider_ref.is_not(None),
                                                order_by=[c.created_at, self._text(c.id)], limit=limit))

    def list_settled_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[Payment]:
        c = t.payments.c
        where = [c.status == PaymentStatus.SUCCEEDED.value, c.settled_at.is_not(None)]
        if after is not None:
            where.append(sa.or_(c.settled_at > after[0],
                                sa.and_(c.settled_at == after[0], self._text(c.id) > after[1])))
        return self._with_allocations(self._all(*where, order_by=[c.settled_at, self._text(c.id)], limit=limit))

    def count_succeeded(self) -> dict[Provider, int]:
        c = t.payments.c
        rows = self._execute(sa.select(c.provider, sa.func.count()).where(
            c.status == PaymentStatus.SUCCEEDED.value).group_by(c.provider)).all()
        return {Provider(provider): int(count) for provider, count in rows}


class SqlAlchemyApiKeyRepository(_Records[ApiKey]):
    table, kind = t.api_keys, ApiKey

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._one(t.api_keys.c.key_hash == key_hash)

    def list(self) -> list[ApiKey]:
        c = t.api_keys.c
        return self._all(order_by=[c.created_at, self._text(c.id)])


class SqlAlchemyProviderConnectionRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def _execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        with database_errors():
            return self._connection.execute(statement)

    @staticmethod
    def _from_row(row: sa.RowMapping) -> ProviderConnection:
        return ProviderConnection(provider=Provider(row["provider"]), sealed_credentials=row["sealed_credentials"],
                                  connected_at=row["connected_at"])

    def get(self, provider: Provider) -> ProviderConnection | None:
        c = t.payment_providers.c
        row = self._execute(sa.select(t.payment_providers).where(c.provider == Provider(provider).value)).mappings()
        found = row.first()
        return self._from_row(found) if found is not None else None

    def save(self, connection: ProviderConnection) -> None:
        values = {"sealed_credentials": connection.sealed_credentials, "connected_at": connection.connected_at}
        c = t.payment_providers.c
        result = self._execute(t.payment_providers.update().where(c.provider == connection.provider.value)
                               .values(values))
        if result.rowcount == 0:
            self._execute(t.payment_providers.insert().values(provider=connection.provider.value, **values))

    def remove(self, provider: Provider) -> None:
        self._execute(t.payment_providers.delete().where(t.payment_providers.c.provider == Provider(provider).value))

    def list(self) -> list[ProviderConnection]:
        rows = self._execute(sa.select(t.payment_providers).order_by(t.payment_providers.c.provider)).mappings()
        return [self._from_row(row) for row in rows]


class SqlAlchemyProcessedEventLog:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def record(self, provider: Provider, event_id: str, at: dt.datetime) -> bool:
        # INSERT ... ON CONFLICT DO NOTHING: a concurrent transaction inserting the same id makes this one wait for
        # it, then insert nothing; no error, so the transaction stays usable on PostgreSQL.
        values = {"provider": Provider(provider).value, "event_id": event_id, "processed_at": at}
        dialect = self._connection.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(t.processed_events).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(t.processed_events).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only PostgreSQL and SQLite are supported
            raise RuntimeError(f"unsupported database {dialect}")
        # RETURNING says whether a row went in (the driver's rowcount is not reliable for this statement).
        with database_errors():
            return self._connection.execute(statement.returning(t.processed_events.c.event_id)).first() is not None

    def prune(self, before: dt.datetime) -> int:
        return _delete(self._connection, t.processed_events, t.processed_events.c.processed_at < before)


class SqlAlchemyOutbox(_Records[OutboxMessage]):
    table, kind = t.outbox, OutboxMessage

    def _to_row(self, item: OutboxMessage) -> dict[str, Any]:
        return {"id": item.id, "message_id": item.message_id, "purpose": item.purpose.value,
                "to_addr": item.email.to, "reply_to": item.email.reply_to, "subject": item.email.subject,
                "text_body": item.email.text, "html_body": item.email.html, "status": item.status.value,
                "attempts": item.attempts, "created_at": item.created_at, "next_attempt_at": item.next_attempt_at,
                "give_up_at": item.give_up_at, "claimed_until": item.claimed_until, "sent_at": item.sent_at,
                "last_error": item.last_error, "company_id": item.company_id, "contact_id": item.contact_id,
                "subject_ref": item.subject_ref, "audit_action": item.audit_action,
                "audit_detail": item.audit_detail}

    def _from_row(self, row: sa.RowMapping) -> OutboxMessage:
        email = Email(to=row["to_addr"], subject=row["subject"], text=row["text_body"], html=row["html_body"],
                      reply_to=row["reply_to"])
        return OutboxMessage(id=row["id"], message_id=row["message_id"], email=email, purpose=row["purpose"],
                             created_at=row["created_at"], give_up_at=row["give_up_at"],
                             next_attempt_at=row["next_attempt_at"], status=row["status"],
                             attempts=row["attempts"], claimed_until=row["claimed_until"], sent_at=row["sent_at"],
                             last_error=row["last_error"], company_id=row["company_id"],
                             contact_id=row["contact_id"], subject_ref=row["subject_ref"],
                             audit_action=row["audit_action"], audit_detail=row["audit_detail"])

    def add(self, item: OutboxMessage) -> None:
        super().add(item)
        if item.email.attachments:
            self._execute(t.outbox_attachments.insert().values([
                {"outbox_id": item.id, "position": n, "filename": a.filename, "content_type": a.content_type,
                 "content": a.content} for n, a in enumerate(item.email.attachments)]))

    def _with_attachments(self, messages: list[OutboxMessage]) -> list[OutboxMessage]:
        """The messages with their attachments, read in one statement (none when no message has any)."""
        if not messages:
            return messages
        a = t.outbox_attachments.c
        rows = self._execute(sa.select(t.outbox_attachments).where(a.outbox_id.in_([m.id for m in messages]))
                             .order_by(a.outbox_id, a.position)).mappings()
        found: dict[str, list[Attachment]] = {}
        for row in rows:
            found.setdefault(row["outbox_id"], []).append(
                Attachment(filename=row["filename"], content_type=row["content_type"], content=bytes(row["content"])))
        for message in messages:
            if message.id in found:
                message.email = attrs.evolve(message.email, attachments=tuple(found[message.id]))
        return messages

    def get(self, id_: str) -> OutboxMessage | None:
        found = super().get(id_)
        return self._with_attachments([found])[0] if found is not None else None

    def claim_due(self, now: dt.datetime, *, limit: int, ids: Sequence[str] | None = None) -> list[OutboxMessage]:
        return self._with_attachments(claim_due(self, now, limit=limit, ids=ids))

    def latest_about(self, subject_ref: str) -> OutboxMessage | None:
        c = t.outbox.c
        found = self._one(c.subject_ref == subject_ref, order_by=[c.created_at.desc(), self._text(c.id).desc()])
        return self._with_attachments([found])[0] if found is not None else None

    def counts(self) -> dict[OutboxStatus, int]:
        c = t.outbox.c
        rows = self._execute(sa.select(c.status, sa.func.count()).group_by(c.status)).all()
        return {OutboxStatus(status): int(count) for status, count in rows}

    def list_failed(self, *, limit: int = 1000) -> list[OutboxMessage]:
        c = t.outbox.c
        return self._with_attachments(self._all(c.status == OutboxStatus.FAILED.value,
                                                order_by=[c.created_at, self._text(c.id)], limit=limit))

    def prune(self, sent_before: dt.datetime) -> int:
        c = t.outbox.c
        old = sa.and_(c.status == OutboxStatus.SENT.value, c.sent_at < sent_before)
        # Explicitly, not only by the foreign key's cascade: an embedder's SQLite engine may leave foreign keys off.
        self._execute(t.outbox_attachments.delete().where(
            t.outbox_attachments.c.outbox_id.in_(sa.select(c.id).where(old))))
        return _delete(self._connection, t.outbox, old)


class SqlAlchemySignedInReads:
    """PageRows in one statement: the company by its link token, left-joined to the session by id, the session's
    contact, the business row and every connected provider (one row per provider, or one row without)."""

    _PARTS = (("co", t.companies), ("se", t.portal_sessions), ("ct", t.contacts), ("bu", t.business))

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._companies = SqlAlchemyCompanyRepository(connection)
        self._sessions = SqlAlchemySessionStore(connection)
        self._contacts = SqlAlchemyContactRepository(connection)

    def load(self, link_token: str, session_id: str) -> PageRows:
        co, se, ct, bu, pp = t.companies, t.portal_sessions, t.contacts, t.business, t.payment_providers
        columns = [column.label(f"{prefix}_{column.name}") for prefix, table in self._PARTS for column in table.c]
        query = (sa.select(*columns, pp.c.provider.label("pp_provider"))
                 .select_from(co.outerjoin(se, se.c.id == session_id)
                              .outerjoin(ct, ct.c.id == se.c.contact_id)
                              .outerjoin(bu, bu.c.id == SqlAlchemyBusinessRepository._KEY)
                              .outerjoin(pp, sa.true()))
                 .where(co.c.link_token == link_token).order_by(pp.c.provider))
        with database_errors():
            rows = self._connection.execute(query).mappings().all()
        if not rows:
            return PageRows(company=None)

        def part(prefix: str) -> dict[str, Any] | None:
            values = {key[len(prefix) + 1:]: value for key, value in rows[0].items() if key.startswith(prefix + "_")}
            return None if values["id"] is None else values

        session, contact, business = part("se"), part("ct"), part("bu")
        if business is not None:
            del business["id"]
        return PageRows(
            company=self._companies._from_row(part("co")),  # type: ignore[arg-type]
            session=self._sessions._from_row(session) if session is not None else None,  # type: ignore[arg-type]
            contact=self._contacts._from_row(contact) if contact is not None else None,  # type: ignore[arg-type]
            business=_rows.structure(business, Business) if business is not None else None,
            providers=tuple(Provider(row["pp_provider"]) for row in rows if row["pp_provider"] is not None))
