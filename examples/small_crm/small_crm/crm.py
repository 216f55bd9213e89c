"""The portal's repository ports over a small CRM's tables (schema.sql), using only the library's embedding kit:
CrmUnitOfWork, CompanyLinks (the CRM has no column for link tokens), read_only, OpaqueIds and CrmOwnedRecord.

The CRM keeps money as integer minor units (`total_cents`) and an invoice as one total: the portal sees one line of
that total, and no tax. It has no quotes, tasks, files or products: those lists are empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

from adapters.sqlalchemy.embedding import CompanyLinks, CrmUnitOfWork, read_only
from adapters.sqlalchemy.errors import database_errors
from portal_core import ordering
from portal_core.errors import CrmOwnedRecord, InvalidInput
from portal_core.ids import OpaqueIds
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Job, JobStatus, Line, Project, ProjectStatus
from portal_core.model.money import Money

T = TypeVar("T")

crm = sa.MetaData()
clients = sa.Table("clients", crm, sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.Text),
                   sa.Column("portal", sa.Integer))
client_people = sa.Table("client_people", crm, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("client_id", sa.Integer), sa.Column("full_name", sa.Text),
                         sa.Column("mail", sa.Text))
projects_crm = sa.Table("projects_crm", crm, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("client_id", sa.Integer), sa.Column("name", sa.Text))
work_orders = sa.Table("work_orders", crm, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("client_id", sa.Integer), sa.Column("wo_no", sa.Text), sa.Column("title", sa.Text),
                       sa.Column("stage", sa.Text), sa.Column("starts", sa.Text), sa.Column("project_id", sa.Integer))
invoices_crm = sa.Table("invoices_crm", crm, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("client_id", sa.Integer), sa.Column("inv_no", sa.Text), sa.Column("state", sa.Text),
                        sa.Column("currency", sa.Text), sa.Column("total_cents", sa.Integer),
                        sa.Column("paid_cents", sa.Integer), sa.Column("issued", sa.Text), sa.Column("due", sa.Text))

# The CRM's codes and what they mean to the portal; a code missing here is not shown (the portal fails closed).
STATES = {"draft": InvoiceStatus.DRAFT, "sent": InvoiceStatus.SENT, "part": InvoiceStatus.PARTIALLY_PAID,
          "paid": InvoiceStatus.PAID, "void": InvoiceStatus.VOID}
STAGES = {"open": JobStatus.SCHEDULED, "wip": JobStatus.IN_PROGRESS, "hold": JobStatus.ON_HOLD,
          "done": JobStatus.COMPLETED, "cancelled": JobStatus.CANCELLED}


def _page(items: list[T], key: Callable[[T], Any], offset: int, limit: int | None) -> list[T]:
    ordered = sorted(items, key=key)
    return ordered[offset:] if limit is None else ordered[offset:offset + limit]


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _number(ref: str, prefix: str) -> int | None:
    """The CRM's key behind a ref such as C12 (clients) or P3 (projects)."""
    found = re.fullmatch(re.escape(prefix) + r"([1-9][0-9]{0,17})", ref)  # ASCII digits, no leading zero
    return int(found.group(1)) if found else None


class _Reader:
    def __init__(self, connection: sa.Connection, ids: OpaqueIds) -> None:
        self._connection, self._ids = connection, ids

    def _rows(self, query: sa.Select[Any]) -> list[sa.RowMapping]:
        with database_errors():
            return list(self._connection.execute(query).mappings())

    def _client(self, company_id: str) -> int | None:
        return self._ids.key("client", company_id)


class Companies(_Reader):
    add = read_only("clients")

    def __init__(self, connection: sa.Connection, ids: OpaqueIds, links: CompanyLinks) -> None:
        super().__init__(connection, ids)
        self._links = links

    def _where(self, *conditions: sa.ColumnElement[bool]) -> list[Company]:
        rows = self._rows(sa.select(clients).where(*conditions).order_by(clients.c.id))
        links = self._links.of(row["id"] for row in rows)
        return [Company(id=self._ids.public("client", row["id"]), name=row["title"], ref=f"C{row['id']}",
                        portal_enabled=row["portal"] == 1, link_token=links[row["id"]][0],
                        access_generation=links[row["id"]][1]) for row in rows]

    def _one(self, *conditions: sa.ColumnElement[bool]) -> Company | None:
        found = self._where(*conditions)
        return found[0] if found else None

    def get(self, company_id: str) -> Company | None:
        key = self._client(company_id)
        return None if key is None else self._one(clients.c.id == key)

    def get_by_ref(self, ref: str) -> Company | None:
        key = _number(ref, "C")
        return None if key is None else self._one(clients.c.id == key)

    def get_by_name(self, name: str) -> Company | None:
        return self._one(clients.c.title == name)

    def get_by_link_token(self, token: str) -> Company | None:
        key = self._links.key_of(token)
        return None if key is None else self._one(clients.c.id == key)

    def list(self) -> list[Company]:
        return sorted(self._where(), key=lambda c: (c.name, c.id))

    def update(self, company: Company) -> None:
        """Only what the portal keeps (the link token, the access generation) changes here; the rest is the CRM's."""
        stored = self.get(company.id)
        if stored is None:
            raise CrmOwnedRecord("no such client in the CRM")
        if attrs.evolve(stored, link_token=company.link_token, access_generation=company.access_generation) != company:
            raise CrmOwnedRecord("clients belong to the CRM: turn the portal on or off, or rename, in the CRM")
        key = self._client(company.id)
        assert key is not None  # stored was found by it
        self._links.save(key, link_token=company.link_token,
                         access_generation=company.access_generation)


class Contacts(_Reader):
    add = update = remove = read_only("client people")

    def _contacts(self, *conditions: sa.ColumnElement[bool]) -> list[Contact]:
        found = []
        for row in self._rows(sa.select(client_people).where(client_people.c.mail.is_not(None), *conditions)):
            try:
                found.append(Contact(id=self._ids.public("person", row["id"]), name=row["full_name"],
                                     company_id=self._ids.public("client", row["client_id"]), email=row["mail"]))
            except InvalidInput:  # not an address anyone can sign in with
                continue
        return found

    def get(self, contact_id: str) -> Contact | None:
        key = self._ids.key("person", contact_id)
        found = self._contacts(client_people.c.id == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Contact | None:
        return None  # the CRM gives people no reference of their own

    def find(self, company_id: str, email_key: str) -> Contact | None:
        client = self._client(company_id)
        found = self._contacts(client_people.c.client_id == client,
                               sa.func.lower(sa.func.trim(client_people.c.mail)) == email_key
                               ) if client is not None else []
        return min(found, key=lambda k: k.id) if found else None

    def list_for_company(self, company_id: str) -> list[Contact]:
        client = self._client(company_id)
        found = self._contacts(client_people.c.client_id == client) if client is not None else []
        return sorted(found, key=lambda k: (k.name, k.id))


class Invoices(_Reader):
    add = update = read_only("invoices")

    def _invoices(self, *conditions: sa.ColumnElement[bool]) -> list[Invoice]:
        found = []
        for row in self._rows(sa.select(invoices_crm).where(*conditions)):
            if row["state"] not in STATES:
                continue
            currency = row["currency"]
            try:
                invoice = self._invoice(row, currency)
            except InvalidInput:  # a row the CRM let through (an unknown currency, due before issued): not shown
                continue
            found.append(invoice)
        return found

    def _invoice(self, row: sa.RowMapping, currency: str) -> Invoice:
        return Invoice(  # one line of the CRM's total, as the CRM keeps no lines
            id=self._ids.public("invoice", row["id"]), company_id=self._ids.public("client", row["client_id"]),
            number=row["inv_no"], ref=row["inv_no"], status=STATES[row["state"]], currency=currency,
            issued_date=_day(row["issued"]), due_date=_day(row["due"]), tax=Money.zero(currency),
            lines=(Line(f"Invoice {row['inv_no']}", Decimal(1), Money(row["total_cents"], currency)),),
            amount_paid=Money(row["paid_cents"], currency))

    def get(self, invoice_id: str) -> Invoice | None:
        key = self._ids.key("invoice", invoice_id)
        found = self._invoices(invoices_crm.c.id == key) if key is not None else []
        return found[0] if found else None

    def get_for_update(self, invoice_id: str) -> Invoice | None:
        return self.get(invoice_id)

    def get_by_ref(self, ref: str) -> Invoice | None:
        found = self._invoices(invoices_crm.c.inv_no == ref)
        return found[0] if found else None

    def get_many(self, invoice_ids: Sequence[str]) -> list[Invoice]:
        wanted = list(dict.fromkeys(invoice_ids))
        keys = [k for k in (self._ids.key("invoice", i) for i in wanted) if k is not None]
        found = {i.id: i for i in self._invoices(invoices_crm.c.id.in_(keys))} if keys else {}
        return [found[i] for i in wanted if i in found]

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        client = self._client(company_id)
        codes = [code for code, status in STATES.items() if status in statuses]
        if client is None or not codes:
            return []
        found = self._invoices(invoices_crm.c.client_id == client, invoices_crm.c.state.in_(codes))
        return _page(found, lambda i: ordering.invoice_key(i, today), offset, limit)


class Projects(_Reader):
    add = update = read_only("projects")

    def _projects(self, *conditions: sa.ColumnElement[bool]) -> list[Project]:
        return [Project(id=self._ids.public("project", row["id"]), ref=f"P{row['id']}", name=row["name"],
                        company_id=self._ids.public("client", row["client_id"]), status=ProjectStatus.ACTIVE)
                for row in self._rows(sa.select(projects_crm).where(*conditions))]

    def get(self, project_id: str) -> Project | None:
        key = self._ids.key("project", project_id)
        found = self._projects(projects_crm.c.id == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Project | None:
        key = _number(ref, "P")
        found = self._projects(projects_crm.c.id == key) if key is not None else []
        return found[0] if found else None

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[Project]:
        client = self._client(company_id)
        found = self._projects(projects_crm.c.client_id == client) if client is not None else []
        return _page(found, ordering.project_key, offset, limit)


class Jobs(_Reader):
    add = update = read_only("work orders")

    def _jobs(self, *conditions: sa.ColumnElement[bool]) -> list[Job]:
        return [Job(id=self._ids.public("work_order", row["id"]), ref=row["wo_no"], title=row["title"],
                    company_id=self._ids.public("client", row["client_id"]), status=STAGES[row["stage"]],
                    scheduled_start=_day(row["starts"]), scheduled_end=None,
                    project_id=self._ids.public("project", row["project_id"]) if row["project_id"] else None)
                for row in self._rows(sa.select(work_orders).where(*conditions)) if row["stage"] in STAGES]

    def get(self, job_id: str) -> Job | None:
        key = self._ids.key("work_order", job_id)
        found = self._jobs(work_orders.c.id == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Job | None:
        found = self._jobs(work_orders.c.wo_no == ref)
        return found[0] if found else None

    def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        wanted = list(dict.fromkeys(job_ids))
        keys = [k for k in (self._ids.key("work_order", j) for j in wanted) if k is not None]
        found = {j.id: j for j in self._jobs(work_orders.c.id.in_(keys))} if keys else {}
        return [found[j] for j in wanted if j in found]

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        client = self._client(company_id)
        conditions = [work_orders.c.client_id == client]
        if project_id is not None:
            project = self._ids.key("project", project_id)
            if project is None:
                return []  # a filter naming no project matches nothing
            conditions.append(work_orders.c.project_id == project)
        found = ([j for j in self._jobs(*conditions) if statuses is None or j.status in statuses]
                 if client is not None else [])
        return _page(found, ordering.job_key, offset, limit)


class _Nothing:
    """A kind the CRM does not have (quotes, tasks, files, products): nothing to list, find or write."""

    add = update = remove = read_only("quotes, tasks, files and products")

    def get(self, _id: str) -> None:
        return None

    def get_by_ref(self, _ref: str) -> None:
        return None

    def get_many(self, _ids: Sequence[str]) -> list[Any]:
        return []

    def list_for_company(self, _company_id: str, **_filters: object) -> list[Any]:
        return []

    def list_awaiting(self, _company_id: str, **_filters: object) -> list[Any]:
        return []

    def list(self, **_filters: object) -> list[Any]:
        return []


class BusinessDetails:
    """The CRM has no table for the business itself: its details come from the embedder's configuration."""

    save = read_only("the business's details")

    def __init__(self, business: Business) -> None:
        self._business = business

    def get(self) -> Business:
        return self._business


class SmallCrmUnitOfWork(CrmUnitOfWork):
    """The portal's UnitOfWork over the small CRM: `secret` keys the ids and the derived link tokens."""

    def __init__(self, engine: sa.Engine, secret: str, business: Business) -> None:
        super().__init__(engine)
        self._secret, self._ids, self._business = secret, OpaqueIds.from_secret(secret, "small crm ids v1"), business

    def crm_repositories(self, connection: sa.Connection) -> dict[str, Any]:
        ids, nothing = self._ids, _Nothing()
        companies = Companies(connection, ids, CompanyLinks(connection, self._secret))
        return {"business": BusinessDetails(self._business), "companies": companies,
                "contacts": Contacts(connection, ids), "invoices": Invoices(connection, ids),
                "projects": Projects(connection, ids), "jobs": Jobs(connection, ids), "quotes": nothing,
                "tasks": nothing, "files": nothing, "products": nothing}
