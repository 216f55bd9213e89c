"""The business's records over SQLAlchemy Core: companies, contacts, the catalogue, documents, jobs, requests,
files, and when notices about documents went out. Ordering as in portal_core.ordering."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.records import (
    _OPEN_INVOICE_STATUSES,
    _lines_from_json,
    _lines_to_json,
    _Records,
    _rows,
)
from portal_core import ordering
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import (
    ClientRequest,
    Invoice,
    InvoiceStatus,
    Job,
    JobStatus,
    Product,
    Project,
    Quote,
    QuoteStatus,
    Task,
    TaskStatus,
)
from portal_core.model.files import File
from portal_core.model.money import Money


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
        return self._first(("by_link_token",), lambda: self._select().where(
            t.companies.c.link_token == sa.bindparam("token")), {"token": token})

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
        c = t.contacts.c
        return self._first(("find",), lambda: self._select().where(
            c.company_id == sa.bindparam("company_id"), c.email_key == sa.bindparam("email_key")),
            {"company_id": company_id, "email_key": email_key})

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
        c = t.projects.c
        return self._list(("list",), lambda: self._select().where(c.company_id == sa.bindparam("company_id"))
                          .order_by(self._text(c.name), self._text(c.id)),
                          {"company_id": company_id}, offset=offset, limit=limit)


class SqlAlchemyJobRepository(_Records[Job]):
    table, kind = t.jobs, Job

    def get_many(self, job_ids: list[str]) -> list[Job]:
        return self._get_many(job_ids)

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        c = t.jobs.c
        wanted = None if statuses is None else tuple(sorted(statuses))

        def build() -> sa.Select[Any]:
            where = [c.company_id == sa.bindparam("company_id")]
            if wanted is not None:
                where.append(self._one_of(c.status, [s.value for s in wanted]))
            if project_id is not None:
                where.append(c.project_id == sa.bindparam("project_id"))
            return (self._select().where(*where)
                    .order_by(self._last_day(c.scheduled_start), self._text(c.title), self._text(c.id)))

        return self._list(("list", wanted, project_id is not None), build,
                          {"company_id": company_id, "project_id": project_id}, offset=offset, limit=limit)


class SqlAlchemyTaskRepository(_Records[Task]):
    table, kind = t.tasks, Task

    def list_for_company(self, company_id: str, *, job_id: str | None = None, offset: int = 0,
                         limit: int | None = None) -> list[Task]:
        c = t.tasks.c

        def build() -> sa.Select[Any]:
            where = [c.company_id == sa.bindparam("company_id")]
            if job_id is not None:
                where.append(c.job_id == sa.bindparam("job_id"))
            open_first = sa.case((self._one_of(c.status, [TaskStatus.OPEN.value]), 0), else_=1)
            return (self._select().where(*where)
                    .order_by(open_first, self._last_day(c.due_date), self._text(c.title), self._text(c.id)))

        return self._list(("list", job_id is not None), build, {"company_id": company_id, "job_id": job_id},
                          offset=offset, limit=limit)


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
        wanted = tuple(sorted(statuses))
        # Newest issued first, unissued last: the order of its index (migration 0007).
        return self._list(("list", wanted), lambda: self._select().where(
            c.company_id == sa.bindparam("company_id"), self._one_of(c.status, [s.value for s in wanted]))
            .order_by(*self._newest_first()),
            {"company_id": company_id}, offset=offset, limit=limit)

    def _newest_first(self) -> list[sa.ColumnElement[Any]]:
        c = t.quotes.c
        return [c.issued_date.desc().nulls_last(), self._text(c.number), self._text(c.id)]

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        query = self._built(("awaiting",), self._build_awaiting)
        rows = self._execute_with(query, {"company_id": company_id, "today": today, "expiring_by": expiring_by,
                                          "limit": limit}).mappings()
        found = {row["id"]: self._from_row(row) for row in rows}  # a quote in both parts comes twice
        return sorted(found.values(), key=ordering.quote_key)

    def _build_awaiting(self) -> sa.CompoundSelect:
        c = t.quotes.c
        # Quote.awaiting_review: sent, and valid until today or later (or with no end). Both parts in one statement.
        where = [c.company_id == sa.bindparam("company_id"), self._one_of(c.status, [QuoteStatus.SENT.value]),
                 sa.or_(c.valid_until.is_(None), c.valid_until >= sa.bindparam("today", type_=sa.Date()))]
        limit = sa.bindparam("limit", type_=sa.Integer())
        newest = self._select().where(*where).order_by(*self._newest_first()).limit(limit).subquery()
        soonest = (self._select().where(*where, c.valid_until <= sa.bindparam("expiring_by", type_=sa.Date()))
                   .order_by(c.valid_until, self._text(c.number), self._text(c.id)).limit(limit).subquery())
        return sa.union_all(sa.select(newest), sa.select(soonest))


_OPEN_STATUSES = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID})


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
        wanted = None if limit is None else offset + limit
        shape = tuple(sorted(statuses))
        query = self._built(("list", shape, wanted is not None),
                            lambda: self._build_list_query(shape, limited=wanted is not None))
        values: dict[str, Any] = {"company_id": company_id, "today": today}
        if wanted is not None:
            values["wanted"] = wanted
        rows = list(self._execute_with(query, values).mappings())
        # The order of ordering.invoice_key, read from the columns (overdue_rank is its first part, computed by the
        # same rule), so that only the page's rows become Invoices.
        rows.sort(key=lambda row: (row["overdue_rank"], row["due_date"] or dt.date.max, row["number"], row["id"]))
        # The lines come as text (see _build_list_query): only the page's rows decode theirs.
        return [self._from_row({**row, "lines": json.loads(row["lines"])})
                for row in (rows[offset:] if wanted is None else rows[offset:wanted])]

    def _build_list_query(self, statuses: tuple[InvoiceStatus, ...], *, limited: bool) -> sa.CompoundSelect:
        """The list's statement (built once per shape: the company, today and the row count are parameters)."""
        c = t.invoices.c
        # Overdue first, then by due date (ordering.invoice_key). "Overdue" depends on today, so no index holds that
        # order; instead each part is read in the order of one index (due date, number, id; migration 0007) and
        # stops after offset + limit rows, all in one statement, and the page is cut from the parts in Python.
        due = self._last_day(c.due_date)
        today = sa.bindparam("today", type_=sa.Date())
        # Invoice.is_overdue: open (sent or partially paid with something outstanding) and due before today.
        overdue = sa.and_(self._one_of(c.status, _OPEN_INVOICE_STATUSES), c.total_minor > c.amount_paid_minor,
                          c.due_date.is_not(None), due < today)
        order = [due, self._text(c.number), self._text(c.id)]
        mine = [c.company_id == sa.bindparam("company_id"), self._one_of(c.status, [s.value for s in statuses])]
        # "Not overdue" in two parts, each a range of an index: due today or later (read from today on, not from the
        # company's first invoice), and due earlier but not overdue. When only open statuses are asked for (the home
        # page), the latter is "nothing outstanding", which has an index of its own (migration 0014).
        settled = (c.total_minor <= c.amount_paid_minor if frozenset(statuses) <= _OPEN_STATUSES
                   else sa.not_(overdue))
        conditions = ((0, overdue), (1, due >= today), (1, sa.and_(due < today, settled)))
        # Up to three times a page is read and only the page kept: the lines (JSON) come as text, so that the rows
        # left out are not decoded.
        columns = [sa.cast(column, sa.Text).label("lines") if column.name == "lines" else column for column in c]
        parts = []
        for rank, condition in conditions:
            part = (sa.select(*columns).add_columns(sa.literal(rank).label("overdue_rank")).where(*mine, condition)
                    .order_by(*order))
            if limited:
                part = part.limit(sa.bindparam("wanted", type_=sa.Integer()))
            parts.append(part.subquery())
        return sa.union_all(*(sa.select(part) for part in parts))


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

        def build() -> sa.Select[Any]:
            where = [c.company_id == sa.bindparam("company_id")]
            if job_id is not None:
                where.append(c.job_id == sa.bindparam("job_id"))
            if invoice_id is not None:
                where.append(c.invoice_id == sa.bindparam("invoice_id"))
            return self._select().where(*where).order_by(c.attached_at.desc(), self._text(c.name), self._text(c.id))

        return self._list(("list", job_id is not None, invoice_id is not None), build,
                          {"company_id": company_id, "job_id": job_id, "invoice_id": invoice_id},
                          offset=offset, limit=limit)



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
