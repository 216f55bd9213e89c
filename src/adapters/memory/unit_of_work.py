"""The unit of work and repositories over plain dicts; a transaction works on a copy and commits by swapping it in."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

import attrs

from adapters.memory.logs import (
    InMemoryAuditLog,
    InMemoryBusinessRepository,
    InMemoryLoginRequestLog,
    InMemoryNoticeLog,
    InMemoryProcessedEventLog,
    InMemoryProviderConnectionRepository,
)
from adapters.memory.rows import REF, Rows, slice_of
from adapters.memory.webhooks import InMemoryWebhookDeliveries, InMemoryWebhookRepository
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
    Product,
    Project,
    Quote,
    QuoteStatus,
    Task,
)
from portal_core.model.files import File
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.model.payment import Payment, PaymentStatus, Provider, ProviderConnection
from portal_core.model.session import PortalSession
from portal_core.model.webhook import Delivery, Webhook
from portal_core.ports import close_repositories

T = TypeVar("T")


@attrs.define
class _State:
    business: dict[str, Business] = attrs.Factory(dict)
    tables: dict[str, dict[str, Any]] = attrs.Factory(dict)
    login_requests: list[tuple[str, dt.datetime]] = attrs.Factory(list)
    audit: list[AuditEntry] = attrs.Factory(list)
    notices: list[tuple[str, str, dt.datetime]] = attrs.Factory(list)
    payment_providers: dict[str, ProviderConnection] = attrs.Factory(dict)
    processed_events: dict[tuple[str, str], dt.datetime] = attrs.Factory(dict)
    outbox: dict[str, OutboxMessage] = attrs.Factory(dict)
    webhooks: dict[str, Webhook] = attrs.Factory(dict)
    webhook_deliveries: dict[str, Delivery] = attrs.Factory(dict)


class InMemoryStore:
    """What all units of work over it share: the committed state."""

    def __init__(self) -> None:
        self.state = _State()
        self.lock = threading.RLock()


class InMemoryCompanyRepository(Rows[Company]):
    kind = "company"
    unique = (*REF, ("link token", lambda c: c.link_token))

    def get_by_name(self, name: str) -> Company | None:
        return self._first(lambda c: c.name == name)

    def get_by_link_token(self, token: str) -> Company | None:
        return self._first(lambda c: c.link_token == token)

    def list(self) -> list[Company]:
        return sorted(self._where(lambda c: True), key=lambda c: (c.name, c.id))


class InMemoryContactRepository(Rows[Contact]):
    kind = "contact"
    unique = (*REF, ("email in its company", lambda c: (c.company_id, c.email_key)))

    def find(self, company_id: str, email_key: str) -> Contact | None:
        return self._first(lambda c: c.company_id == company_id and c.email_key == email_key)

    def list_for_company(self, company_id: str) -> list[Contact]:
        return sorted(self._where(lambda c: c.company_id == company_id), key=lambda c: (c.name, c.id))


class InMemoryInvoiceRepository(Rows[Invoice]):
    kind, unique = "invoice", REF

    def get_for_update(self, invoice_id: str) -> Invoice | None:
        return self.get(invoice_id)  # a transaction here works on its own copy; the commit publishes it whole

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        rows = self._where(lambda i: i.company_id == company_id and i.status in statuses)
        return slice_of(sorted(rows, key=lambda i: ordering.invoice_key(i, today)), offset, limit)


class InMemoryQuoteRepository(Rows[Quote]):
    kind, unique = "quote", REF

    def list_for_company(self, company_id: str, *, statuses: frozenset[QuoteStatus], offset: int = 0,
                         limit: int | None = None) -> list[Quote]:
        rows = self._where(lambda q: q.company_id == company_id and q.status in statuses)
        return slice_of(sorted(rows, key=ordering.quote_key), offset, limit)

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        return ordering.awaiting_quotes(self._where(lambda q: q.company_id == company_id), today, expiring_by, limit)


class InMemoryProjectRepository(Rows[Project]):
    kind, unique = "project", REF

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[Project]:
        mine = self._where(lambda p: p.company_id == company_id)
        return slice_of(sorted(mine, key=ordering.project_key), offset, limit)


class InMemoryJobRepository(Rows[Job]):
    kind, unique = "job", REF

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        rows = self._where(lambda j: j.company_id == company_id and (statuses is None or j.status in statuses)
                           and (project_id is None or j.project_id == project_id))
        return slice_of(sorted(rows, key=ordering.job_key), offset, limit)


class InMemoryTaskRepository(Rows[Task]):
    kind, unique = "task", REF

    def list_for_company(self, company_id: str, *, job_id: str | None = None, offset: int = 0,
                         limit: int | None = None) -> list[Task]:
        rows = self._where(lambda t: t.company_id == company_id and (job_id is None or t.job_id == job_id))
        return slice_of(sorted(rows, key=ordering.task_key), offset, limit)


class InMemoryRequestRepository(Rows[ClientRequest]):
    kind, unique = "request", REF

    def list_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[ClientRequest]:
        rows = self._where(lambda r: after is None or (r.created_at, r.id) > after)
        return sorted(rows, key=lambda r: (r.created_at, r.id))[:limit]

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[ClientRequest]:
        return slice_of(sorted(self._where(lambda r: r.company_id == company_id), key=ordering.request_key),
                     offset, limit)


class InMemoryFileRepository(Rows[File]):
    kind, unique = "file", REF

    def list_for_company(self, company_id: str, *, job_id: str | None = None, invoice_id: str | None = None,
                         offset: int = 0, limit: int | None = None) -> list[File]:
        rows = self._where(lambda f: f.company_id == company_id and (job_id is None or f.job_id == job_id)
                           and (invoice_id is None or f.invoice_id == invoice_id))
        return slice_of(sorted(rows, key=ordering.file_key), offset, limit)


class InMemoryProductRepository(Rows[Product]):
    kind, unique = "product", REF

    def list(self, *, offset: int = 0, limit: int | None = None) -> list[Product]:
        return slice_of(sorted(self._where(lambda p: True), key=lambda p: (p.name, p.id)), offset, limit)


class InMemoryOneTimeCodeStore(Rows[OneTimeCode]):
    kind = "code"

    def active_for_flow(self, contact_id: str, flow_key: str, *, lock: bool = False) -> list[OneTimeCode]:
        rows = self._where(lambda c: c.contact_id == contact_id and c.flow_key == flow_key
                           and c.status == CodeStatus.ACTIVE)
        return sorted(rows, key=lambda c: (c.issued_at, c.id))

    def latest_for_flow(self, contact_id: str, flow_key: str) -> OneTimeCode | None:
        rows = sorted(self._where(lambda c: c.contact_id == contact_id and c.flow_key == flow_key),
                      key=lambda c: (c.issued_at, c.id))
        return rows[-1] if rows else None

    def prune(self, issued_before: dt.datetime) -> int:
        return self._delete_where(lambda c: c.issued_at < issued_before)


class InMemorySessionStore(Rows[PortalSession]):
    kind = "session"

    def update(self, item: PortalSession) -> None:
        stored = self._rows.get(item.id)
        if stored is not None and stored.ended_at is not None and item.ended_at is None:
            item = attrs.evolve(item, ended_at=stored.ended_at)  # an ended session stays ended (SessionStore)
        super().update(item)

    def prune(self, ended_before: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta) -> int:
        return self._delete_where(lambda s: (s.ended_at is not None and s.ended_at < ended_before)
                      or s.last_seen_at < ended_before - idle or s.created_at < ended_before - absolute)


class InMemoryPaymentRepository(Rows[Payment]):
    kind = "payment"
    unique = (("attempt key", lambda p: p.attempt_key), ("provider reference", lambda p: p.provider_ref))

    def get_by_provider_ref(self, provider: Provider, provider_ref: str) -> Payment | None:
        return self._first(lambda p: p.provider == provider and p.provider_ref == provider_ref)

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        return sorted(self._where(lambda p: invoice_id in p.invoice_ids), key=lambda p: (p.created_at, p.id))

    def list_pending(self, *, limit: int = 500) -> list[Payment]:
        rows = self._where(lambda p: p.status == PaymentStatus.PENDING and p.provider_ref is not None)
        return sorted(rows, key=lambda p: (p.created_at, p.id))[:limit]

    def list_settled_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[Payment]:
        rows = self._where(lambda p: p.status == PaymentStatus.SUCCEEDED and p.settled_at is not None
                           and (after is None or (p.settled_at, p.id) > after))
        return sorted(rows, key=lambda p: (p.settled_at, p.id))[:limit]

    def count_succeeded(self) -> dict[Provider, int]:
        counts: dict[Provider, int] = {}
        for payment in self._where(lambda p: p.status == PaymentStatus.SUCCEEDED):
            counts[payment.provider] = counts.get(payment.provider, 0) + 1
        return counts


class InMemoryApiKeyRepository(Rows[ApiKey]):
    kind = "API key"
    unique = (("hash", lambda k: k.key_hash),)

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._first(lambda k: k.key_hash == key_hash)

    def list(self) -> list[ApiKey]:
        return sorted(self._where(lambda k: True), key=lambda k: (k.created_at, k.id))


class InMemoryOutbox(Rows[OutboxMessage]):
    kind = "message"
    unique = (("message id", lambda m: m.message_id),)

    def claim_due(self, now: dt.datetime, *, limit: int, ids: Sequence[str] | None = None) -> list[OutboxMessage]:
        wanted = set(ids) if ids is not None else None
        due = sorted((m for m in self._rows.values() if m.is_due(now) and (wanted is None or m.id in wanted)),
                     key=lambda m: (m.next_attempt_at, m.id))[:limit]
        for message in due:
            message.claim(now)
        return [copy.deepcopy(m) for m in due]

    def latest_about(self, subject_ref: str) -> OutboxMessage | None:
        found = sorted((m for m in self._rows.values() if m.subject_ref == subject_ref),
                       key=lambda m: (m.created_at, m.id))
        return copy.deepcopy(found[-1]) if found else None

    def counts(self) -> dict[OutboxStatus, int]:
        counts: dict[OutboxStatus, int] = {}
        for message in self._rows.values():
            counts[message.status] = counts.get(message.status, 0) + 1
        return counts

    def list_failed(self, *, limit: int = 1000) -> list[OutboxMessage]:
        failed = self._where(lambda m: m.status == OutboxStatus.FAILED)
        return sorted(failed, key=lambda m: (m.created_at, m.id))[:limit]

    def prune(self, sent_before: dt.datetime) -> int:
        return self._delete_where(lambda m: m.status == OutboxStatus.SENT and m.sent_at is not None
                      and m.sent_at < sent_before)


_KINDS = {
    "companies": InMemoryCompanyRepository, "contacts": InMemoryContactRepository,
    "invoices": InMemoryInvoiceRepository, "quotes": InMemoryQuoteRepository,
    "projects": InMemoryProjectRepository, "jobs": InMemoryJobRepository, "tasks": InMemoryTaskRepository,
    "requests": InMemoryRequestRepository, "files": InMemoryFileRepository, "products": InMemoryProductRepository,
    "codes": InMemoryOneTimeCodeStore, "sessions": InMemorySessionStore, "payments": InMemoryPaymentRepository,
    "api_keys": InMemoryApiKeyRepository,
}


class InMemoryUnitOfWork:
    """`with uow:` works on a private copy of the store; commit() publishes it, leaving the block drops it.

    Like the SQL one, it is for one block at a time: entering it while open, or using it outside its block, raises
    RuntimeError (work done there would otherwise be dropped without a word).
    """

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()
        self.committed = False
        self._work: _State | None = None
        close_repositories(self)

    def __enter__(self) -> InMemoryUnitOfWork:
        if self._work is not None:
            raise RuntimeError("this unit of work is already open; use one per request or thread")
        self.committed = False
        self._begin()
        return self

    def _begin(self) -> None:
        with self.store.lock:
            work = self._work = copy.deepcopy(self.store.state)
        self.business = InMemoryBusinessRepository(work.business)
        for name, repo in _KINDS.items():
            setattr(self, name, repo(work.tables.setdefault(name, {})))
        self.login_requests = InMemoryLoginRequestLog(work.login_requests)
        self.audit = InMemoryAuditLog(work.audit)
        self.notices = InMemoryNoticeLog(work.notices)
        self.payment_providers = InMemoryProviderConnectionRepository(work.payment_providers)
        self.processed_events = InMemoryProcessedEventLog(work.processed_events)
        self.outbox = InMemoryOutbox(work.outbox)
        self.webhooks = InMemoryWebhookRepository(work.webhooks)
        self.webhook_deliveries = InMemoryWebhookDeliveries(work.webhook_deliveries)

    def __exit__(self, *exc: object) -> None:
        self._work = None  # whatever was not committed is dropped
        close_repositories(self)

    def _open(self) -> _State:
        if self._work is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._work

    def commit(self) -> None:
        work = self._open()
        with self.store.lock:
            self.store.state = copy.deepcopy(work)
        self.committed = True

    def rollback(self) -> None:
        self._open()
        self._begin()
