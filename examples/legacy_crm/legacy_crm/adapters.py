"""The portal's repository ports over the CRM's own tables, read-only; the portal's own tables stay the portal's.

CRM-owned kinds (business, companies, contacts, invoices, quotes, jobs, products, files) are read from the CRM's
tables (schema.sql) and mapped to the portal's domain objects here; the CRM has no projects or tasks, so those lists
are empty. Everything the portal itself writes (codes, sessions, sign-in throttles, audit, notices, payments, client
requests) goes to the portal's tables beside the CRM's, through the SQLAlchemy adapter, in the same transaction.

Writing a CRM-owned record through a port raises CrmOwnedRecord: access, links, contacts and attachments are
changed in the CRM (docs/embedding.md). The unit of work, `read_only` and the opaque ids are the library's
(adapters.sqlalchemy.embedding, portal_core.ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any, BinaryIO, TypeVar

import sqlalchemy as sa

from adapters.sqlalchemy.embedding import CrmUnitOfWork, access_generations, read_only
from adapters.sqlalchemy.errors import database_errors
from portal_core import ordering
from portal_core.errors import CrmOwnedRecord, InvalidInput, StorageError
from portal_core.ids import OpaqueIds
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import (
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
)
from portal_core.model.files import File
from portal_core.model.money import Money

T = TypeVar("T")


# ---- the CRM's tables, as it defines them (schema.sql); only the columns the portal reads

crm = sa.MetaData()
firm = sa.Table("firm", crm, sa.Column("firm_id", sa.Integer, primary_key=True), sa.Column("trading_name", sa.Text),
                sa.Column("email", sa.Text), sa.Column("phone", sa.Text), sa.Column("street", sa.Text),
                sa.Column("city", sa.Text), sa.Column("web", sa.Text), sa.Column("brand_hex", sa.Text))
customers = sa.Table("customers", crm, sa.Column("customer_no", sa.Integer, primary_key=True),
                     sa.Column("account_code", sa.Text), sa.Column("display_name", sa.Text),
                     sa.Column("portal_flag", sa.Integer), sa.Column("portal_key", sa.Text))
people = sa.Table("people", crm, sa.Column("person_no", sa.Integer, primary_key=True),
                  sa.Column("customer_no", sa.Integer), sa.Column("full_name", sa.Text), sa.Column("mail", sa.Text),
                  sa.Column("archived", sa.Integer))
work_orders = sa.Table("work_orders", crm, sa.Column("wo_no", sa.Integer, primary_key=True),
                       sa.Column("customer_no", sa.Integer), sa.Column("wo_code", sa.Text),
                       sa.Column("summary", sa.Text), sa.Column("stage", sa.Text), sa.Column("starts", sa.Text),
                       sa.Column("ends", sa.Text))
bills = sa.Table("bills", crm, sa.Column("bill_no", sa.Integer, primary_key=True), sa.Column("customer_no", sa.Integer),
                 sa.Column("bill_code", sa.Text), sa.Column("state", sa.Integer), sa.Column("currency", sa.Text),
                 sa.Column("issued", sa.Text), sa.Column("due", sa.Text), sa.Column("amount", sa.Text),
                 sa.Column("vat", sa.Text), sa.Column("paid", sa.Text), sa.Column("wo_no", sa.Integer))
bill_items = sa.Table("bill_items", crm, sa.Column("item_no", sa.Integer, primary_key=True),
                      sa.Column("bill_no", sa.Integer), sa.Column("descr", sa.Text), sa.Column("qty", sa.Text),
                      sa.Column("unit_price", sa.Text))
estimates = sa.Table("estimates", crm, sa.Column("estimate_no", sa.Integer, primary_key=True),
                     sa.Column("customer_no", sa.Integer), sa.Column("estimate_code", sa.Text),
                     sa.Column("state", sa.Integer), sa.Column("currency", sa.Text), sa.Column("issued", sa.Text),
                     sa.Column("valid_to", sa.Text), sa.Column("amount", sa.Text))
price_list = sa.Table("price_list", crm, sa.Column("item_code", sa.Text, primary_key=True),
                      sa.Column("title", sa.Text), sa.Column("blurb", sa.Text), sa.Column("price", sa.Text),
                      sa.Column("currency", sa.Text), sa.Column("active", sa.Integer))
attachments = sa.Table("attachments", crm, sa.Column("attachment_no", sa.Integer, primary_key=True),
                       sa.Column("customer_no", sa.Integer), sa.Column("wo_no", sa.Integer),
                       sa.Column("bill_no", sa.Integer), sa.Column("filename", sa.Text), sa.Column("mime", sa.Text),
                       sa.Column("uploaded", sa.Text), sa.Column("content", sa.LargeBinary))

# The CRM's codes, and what they mean to the portal. A code missing here is not shown (the portal fails closed).
BILL_STATES = {0: InvoiceStatus.DRAFT, 1: InvoiceStatus.SENT, 2: InvoiceStatus.PARTIALLY_PAID,
               3: InvoiceStatus.PAID, 9: InvoiceStatus.VOID}
ESTIMATE_STATES = {0: QuoteStatus.DRAFT, 1: QuoteStatus.SENT, 2: QuoteStatus.ACCEPTED, 3: QuoteStatus.DECLINED,
                   4: QuoteStatus.EXPIRED}
WORK_ORDER_STAGES = {"NEW": JobStatus.SCHEDULED, "WIP": JobStatus.IN_PROGRESS, "HOLD": JobStatus.ON_HOLD,
                     "DONE": JobStatus.COMPLETED, "CXL": JobStatus.CANCELLED}

MIN_PORTAL_KEY = 22  # a link token carries at least 128 bits; shorter keys were never set up for the portal
ATTACHMENT_PREFIX = "crm-attachment-"


def money(value: object, currency: str) -> Money:
    """A DECIMAL column (Decimal on PostgreSQL, decimal text on SQLite) as exact minor units; a float is refused."""
    if isinstance(value, float):
        raise TypeError("an amount arrived as a float: map the column as TEXT or Numeric(asdecimal=True)")
    return Money.parse(str(value if value is not None else "0"), currency)


def day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _page(items: list[T], key: Callable[[T], Any], offset: int, limit: int | None) -> list[T]:
    # The CRM's tables hold no portal id to order by, so the tie-break on id happens here, after the company's rows
    # are fetched (a handful per client). A CRM with millions of rows per client would store the public id instead.
    ordered = sorted(items, key=key)
    return ordered[offset:] if limit is None else ordered[offset:offset + limit]


class _CrmReader:
    def __init__(self, connection: sa.Connection, ids: OpaqueIds) -> None:
        self._connection = connection
        self._ids = ids

    def _rows(self, statement: sa.Select[Any]) -> list[sa.RowMapping]:
        with database_errors():
            return list(self._connection.execute(statement).mappings())

    def _customer(self, company_id: str) -> int | None:
        return self._ids.key("customer", company_id)


class LegacyBusinessRepository(_CrmReader):
    save = read_only("the business details")

    def get(self) -> Business | None:
        rows = self._rows(sa.select(firm).where(firm.c.firm_id == 1))
        if not rows:
            return None
        row = rows[0]
        address = ", ".join(part for part in (row["street"], row["city"]) if part)
        return Business(name=row["trading_name"], email=row["email"], phone=row["phone"] or "", address=address,
                        website=row["web"] or "", brand_color=row["brand_hex"] or "")


class LegacyCompanyRepository(_CrmReader):
    add = update = read_only("customers")

    def _company(self, row: sa.RowMapping, generations: dict[str, int]) -> Company:
        return Company(id=self._ids.public("customer", row["customer_no"]), name=row["display_name"],
                       link_token=row["portal_key"], portal_enabled=row["portal_flag"] == 1, ref=row["account_code"],
                       access_generation=generations.get(str(row["customer_no"]), 0))

    def _where(self, *conditions: sa.ColumnElement[bool]) -> list[Company]:
        # A customer without a portal key was never set up for the portal: the portal does not see it.
        query = sa.select(customers).where(customers.c.portal_key.is_not(None),
                                           sa.func.length(customers.c.portal_key) >= MIN_PORTAL_KEY, *conditions)
        rows = self._rows(query.order_by(customers.c.customer_no))
        # Counted by the trigger on portal_flag (database.py): sessions from before a turn-off stay dead.
        generations = access_generations(self._connection, (row["customer_no"] for row in rows))
        return [self._company(row, generations) for row in rows]

    def _first(self, *conditions: sa.ColumnElement[bool]) -> Company | None:
        found = self._where(*conditions)
        return found[0] if found else None

    def get(self, company_id: str) -> Company | None:
        key = self._customer(company_id)
        return None if key is None else self._first(customers.c.customer_no == key)

    def get_by_ref(self, ref: str) -> Company | None:
        return self._first(customers.c.account_code == ref)

    def get_by_name(self, name: str) -> Company | None:
        return self._first(customers.c.display_name == name)

    def get_by_link_token(self, token: str) -> Company | None:
        return self._first(customers.c.portal_key == token)

    def list(self) -> list[Company]:
        return sorted(self._where(), key=lambda c: (c.name, c.id))


class LegacyContactRepository(_CrmReader):
    add = update = remove = read_only("contacts")

    def _contacts(self, *conditions: sa.ColumnElement[bool]) -> list[Contact]:
        query = sa.select(people).where(people.c.archived == 0, people.c.mail.is_not(None), *conditions)
        found = []
        for row in self._rows(query):
            try:
                found.append(Contact(id=self._ids.public("person", row["person_no"]),
                                     company_id=self._ids.public("customer", row["customer_no"]),
                                     name=row["full_name"], email=row["mail"]))
            except InvalidInput:  # 'n/a', a phone number in the mail field...: nobody can sign in with that
                continue
        return found

    def get(self, contact_id: str) -> Contact | None:
        key = self._ids.key("person", contact_id)
        found = self._contacts(people.c.person_no == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Contact | None:
        return None  # the CRM gives people no reference of their own

    def find(self, company_id: str, email_key: str) -> Contact | None:
        customer = self._customer(company_id)
        if customer is None:
            return None
        found = self._contacts(people.c.customer_no == customer,
                               sa.func.lower(sa.func.trim(people.c.mail)) == email_key)
        return min(found, key=lambda k: k.id) if found else None

    def list_for_company(self, company_id: str) -> list[Contact]:
        customer = self._customer(company_id)
        found = self._contacts(people.c.customer_no == customer) if customer is not None else []
        return sorted(found, key=lambda k: (k.name, k.id))


class LegacyInvoiceRepository(_CrmReader):
    add = update = read_only("bills")  # so are payments applied to them: see docs/embedding.md

    def _invoices(self, *conditions: sa.ColumnElement[bool]) -> list[Invoice]:
        rows = [row for row in self._rows(sa.select(bills).where(*conditions)) if row["state"] in BILL_STATES]
        items: dict[int, list[sa.RowMapping]] = {}
        if rows:
            query = (sa.select(bill_items).where(bill_items.c.bill_no.in_([row["bill_no"] for row in rows]))
                     .order_by(bill_items.c.item_no))
            for item in self._rows(query):
                items.setdefault(item["bill_no"], []).append(item)
        return [self._invoice(row, items.get(row["bill_no"], [])) for row in rows]

    def _invoice(self, row: sa.RowMapping, items: list[sa.RowMapping]) -> Invoice:
        currency = row["currency"]
        # A bill without items is one line of its net amount.
        lines = tuple(Line(item["descr"], Decimal(str(item["qty"])), money(item["unit_price"], currency))
                      for item in items) or (Line(f"Bill {row['bill_code']}", Decimal(1),
                                                  money(row["amount"], currency)),)
        return Invoice(id=self._ids.public("bill", row["bill_no"]),
                       company_id=self._ids.public("customer", row["customer_no"]), number=row["bill_code"],
                       status=BILL_STATES[row["state"]], currency=currency, issued_date=day(row["issued"]),
                       due_date=day(row["due"]), lines=lines, tax=money(row["vat"], currency),
                       amount_paid=money(row["paid"], currency),
                       job_id=self._ids.public("work_order", row["wo_no"]) if row["wo_no"] is not None else None,
                       ref=row["bill_code"])

    def get(self, invoice_id: str) -> Invoice | None:
        key = self._ids.key("bill", invoice_id)
        found = self._invoices(bills.c.bill_no == key) if key is not None else []
        return found[0] if found else None

    def get_for_update(self, invoice_id: str) -> Invoice | None:
        return self.get(invoice_id)

    def get_by_ref(self, ref: str) -> Invoice | None:
        found = self._invoices(bills.c.bill_code == ref)
        return found[0] if found else None

    def get_many(self, invoice_ids: list[str]) -> list[Invoice]:
        wanted = list(dict.fromkeys(invoice_ids))
        keys = [key for key in (self._ids.key("bill", i) for i in wanted) if key is not None]
        found = {i.id: i for i in self._invoices(bills.c.bill_no.in_(keys))} if keys else {}
        return [found[i] for i in wanted if i in found]

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        customer = self._customer(company_id)
        codes = [code for code, status in BILL_STATES.items() if status in statuses]
        if customer is None or not codes:
            return []
        found = self._invoices(bills.c.customer_no == customer, bills.c.state.in_(codes))
        return _page(found, lambda i: ordering.invoice_key(i, today), offset, limit)


class LegacyQuoteRepository(_CrmReader):
    add = update = read_only("estimates")

    def _quotes(self, *conditions: sa.ColumnElement[bool]) -> list[Quote]:
        found = []
        for row in self._rows(sa.select(estimates).where(*conditions)):
            if row["state"] not in ESTIMATE_STATES:
                continue
            currency = row["currency"]
            found.append(Quote(
                id=self._ids.public("estimate", row["estimate_no"]),
                company_id=self._ids.public("customer", row["customer_no"]), number=row["estimate_code"],
                status=ESTIMATE_STATES[row["state"]], currency=currency, issued_date=day(row["issued"]),
                valid_until=day(row["valid_to"]), ref=row["estimate_code"],
                lines=(Line(f"Estimate {row['estimate_code']}", Decimal(1), money(row["amount"], currency)),)))
        return found

    def get(self, quote_id: str) -> Quote | None:
        key = self._ids.key("estimate", quote_id)
        found = self._quotes(estimates.c.estimate_no == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Quote | None:
        found = self._quotes(estimates.c.estimate_code == ref)
        return found[0] if found else None

    def list_for_company(self, company_id: str, *, statuses: frozenset[QuoteStatus], offset: int = 0,
                         limit: int | None = None) -> list[Quote]:
        customer = self._customer(company_id)
        codes = [code for code, status in ESTIMATE_STATES.items() if status in statuses]
        if customer is None or not codes:
            return []
        found = self._quotes(estimates.c.customer_no == customer, estimates.c.state.in_(codes))
        return _page(found, ordering.quote_key, offset, limit)

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        sent = self.list_for_company(company_id, statuses=frozenset({QuoteStatus.SENT}))
        return ordering.awaiting_quotes(sent, today, expiring_by, limit)


class LegacyJobRepository(_CrmReader):
    add = update = read_only("work orders")

    def _jobs(self, *conditions: sa.ColumnElement[bool]) -> list[Job]:
        return [Job(id=self._ids.public("work_order", row["wo_no"]),
                    company_id=self._ids.public("customer", row["customer_no"]), title=row["summary"],
                    status=WORK_ORDER_STAGES[row["stage"]], scheduled_start=day(row["starts"]),
                    scheduled_end=day(row["ends"]), ref=row["wo_code"])
                for row in self._rows(sa.select(work_orders).where(*conditions))
                if row["stage"] in WORK_ORDER_STAGES]

    def get(self, job_id: str) -> Job | None:
        key = self._ids.key("work_order", job_id)
        found = self._jobs(work_orders.c.wo_no == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> Job | None:
        found = self._jobs(work_orders.c.wo_code == ref)
        return found[0] if found else None

    def get_many(self, job_ids: list[str]) -> list[Job]:
        wanted = list(dict.fromkeys(job_ids))
        keys = [key for key in (self._ids.key("work_order", j) for j in wanted) if key is not None]
        found = {j.id: j for j in self._jobs(work_orders.c.wo_no.in_(keys))} if keys else {}
        return [found[j] for j in wanted if j in found]

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        customer = self._customer(company_id)
        if customer is None or project_id is not None:  # the CRM has no projects
            return []
        found = [j for j in self._jobs(work_orders.c.customer_no == customer)
                 if statuses is None or j.status in statuses]
        return _page(found, ordering.job_key, offset, limit)


class LegacyProductRepository(_CrmReader):
    add = update = read_only("price list items")

    def _products(self, *conditions: sa.ColumnElement[bool]) -> list[Product]:
        # Price-list items are keyed by text, and the port never looks a product up by id: a keyed hash will do.
        return [Product(id=hmac.new(b"price_list", row["item_code"].encode(), hashlib.sha256).hexdigest()[:16],
                        name=row["title"], description=row["blurb"] or "", ref=row["item_code"],
                        unit_price=money(row["price"], row["currency"]))
                for row in self._rows(sa.select(price_list).where(price_list.c.active == 1, *conditions))]

    def get_by_ref(self, ref: str) -> Product | None:
        found = self._products(price_list.c.item_code == ref)
        return found[0] if found else None

    def list(self, *, offset: int = 0, limit: int | None = None) -> list[Product]:
        return _page(self._products(), lambda p: (p.name, p.id), offset, limit)


class LegacyFileRepository(_CrmReader):
    add = remove = read_only("attachments")

    def _files(self, *conditions: sa.ColumnElement[bool]) -> list[File]:
        c = attachments.c
        query = sa.select(c.attachment_no, c.customer_no, c.wo_no, c.bill_no, c.filename, c.mime, c.uploaded,
                          sa.func.length(c.content).label("size")).where(*conditions)
        found = []
        for row in self._rows(query):
            file_id = self._ids.public("attachment", row["attachment_no"])
            found.append(File(
                id=file_id, company_id=self._ids.public("customer", row["customer_no"]), name=row["filename"],
                content_type=row["mime"], size=row["size"], content_hash=ATTACHMENT_PREFIX + file_id,
                attached_at=dt.datetime.fromisoformat(row["uploaded"]).replace(tzinfo=dt.UTC),
                job_id=self._ids.public("work_order", row["wo_no"]) if row["wo_no"] is not None else None,
                invoice_id=self._ids.public("bill", row["bill_no"]) if row["bill_no"] is not None else None))
        return found

    def get(self, file_id: str) -> File | None:
        key = self._ids.key("attachment", file_id)
        found = self._files(attachments.c.attachment_no == key) if key is not None else []
        return found[0] if found else None

    def get_by_ref(self, ref: str) -> File | None:
        return None

    def list_for_company(self, company_id: str, *, job_id: str | None = None,
                         invoice_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[File]:
        customer = self._customer(company_id)
        if customer is None:
            return []
        conditions = [attachments.c.customer_no == customer]
        # A filter naming no record of its kind matches nothing (compared with None, SQL would match the files
        # that hang off no work order, or no bill: a filter that widens instead of narrowing).
        for wanted, column, kind in ((job_id, attachments.c.wo_no, "work_order"),
                                     (invoice_id, attachments.c.bill_no, "bill")):
            if wanted is not None:
                key = self._ids.key(kind, wanted)
                if key is None:
                    return []
                conditions.append(column == key)
        ordered = sorted(self._files(*conditions), key=ordering.file_key)
        return ordered[offset:] if limit is None else ordered[offset:offset + limit]


class _Nothing:
    """A kind the CRM does not have: nothing to list, nothing to find, nothing to write."""

    add = update = read_only("projects and tasks")

    def get(self, _id: str) -> None:
        return None

    def get_by_ref(self, _ref: str) -> None:
        return None

    def list_for_company(self, _company_id: str, **_filters: object) -> list[Project] | list[Task]:
        return []


class LegacyCrmUnitOfWork(CrmUnitOfWork):
    """The portal's UnitOfWork over the CRM's database: the CRM's tables read here, the portal's own through the
    SQLAlchemy adapter, one connection, one transaction for both sides (adapters.sqlalchemy.embedding)."""

    def __init__(self, engine: sa.Engine, ids: OpaqueIds) -> None:
        super().__init__(engine)
        self._ids = ids

    def crm_repositories(self, connection: sa.Connection) -> dict[str, Any]:
        ids, nothing = self._ids, _Nothing()
        return {"business": LegacyBusinessRepository(connection, ids),
                "companies": LegacyCompanyRepository(connection, ids),
                "contacts": LegacyContactRepository(connection, ids),
                "invoices": LegacyInvoiceRepository(connection, ids), "quotes": LegacyQuoteRepository(connection, ids),
                "jobs": LegacyJobRepository(connection, ids), "products": LegacyProductRepository(connection, ids),
                "files": LegacyFileRepository(connection, ids), "projects": nothing, "tasks": nothing}


class LegacyCrmFileStorage:
    """The FileStorage port over the CRM's attachment blobs (read-only: the CRM stores attachments).

    It reads on a connection of its own, outside the portal's transaction, which on SQLite holds the write lock
    (BEGIN IMMEDIATE) while a download is checked: a plain reader is not blocked by it (WAL mode).
    """

    def __init__(self, engine: sa.Engine, ids: OpaqueIds) -> None:
        self._engine = engine
        self._ids = ids

    @classmethod
    def from_url(cls, url: str, ids: OpaqueIds) -> LegacyCrmFileStorage:
        return cls(sa.create_engine(url), ids)

    def close(self) -> None:
        self._engine.dispose()

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        raise CrmOwnedRecord("attachments belong to the CRM: attach files there")

    def open(self, content_hash: str) -> BinaryIO:
        key = self._ids.key("attachment", content_hash.removeprefix(ATTACHMENT_PREFIX))
        if not content_hash.startswith(ATTACHMENT_PREFIX) or key is None:
            raise StorageError("the file's contents are missing from the store")
        with database_errors(), self._engine.connect() as connection:
            content = connection.execute(sa.select(attachments.c.content)
                                         .where(attachments.c.attachment_no == key)).scalar()
        if content is None:
            raise StorageError("the file's contents are missing from the store")
        return io.BytesIO(content)


def unit_of_work_factory(engine: sa.Engine, ids: OpaqueIds) -> Callable[[], LegacyCrmUnitOfWork]:
    return lambda: LegacyCrmUnitOfWork(engine, ids)
