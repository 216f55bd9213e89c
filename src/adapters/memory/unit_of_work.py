"""The unit of work and repositories over plain dicts; a transaction works on a copy and commits by swapping it in."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import attrs

from adapters.memory.webhooks import InMemoryWebhookDeliveries, InMemoryWebhookRepository
from portal_core import ordering
from portal_core.errors import Conflict
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

T = TypeVar("T")


def _slice(items: list[T], offset: int, limit: int | None) -> list[T]:
    return items[offset:] if limit is None else items[offset:offset + limit]


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


class _Rows(Generic[T]):
    """Rows of one kind, keyed by id; copies in and out so callers never hold the stored object."""

    def __init__(self, rows: dict[str, T]) -> None:
        self._rows = rows

    def add(self, item: T) -> None:
        key = item.id  # type: ignore[attr-defined]
        if key in self._rows:
            raise Conflict(f"duplicate id {key}")
        self._rows[key] = copy.deepcopy(item)

    def update(self, item: T) -> None:
        key = item.id  # type: ignore[attr-defined]
        if key not in self._rows:
            raise KeyError(f"no row {key}")
        self._rows[key] = copy.deepcopy(item)

    def remove(self, key: str) -> None:
        self._rows.pop(key, None)

    def get(self, key: str) -> T | None:
        item = self._rows.get(key)
        return copy.deepcopy(item) if item is not None else None

    def get_many(self, keys: list[str]) -> list[T]:
        return [copy.deepcopy(self._rows[k]) for k in dict.fromkeys(keys) if k in self._rows]

    def get_by_ref(self, ref: str) -> T | None:
        return self._first(lambda item: item.ref == ref)  # type: ignore[attr-defined]

    def _first(self, pred: Any) -> T | None:
        for item in self._rows.values():
            if pred(item):
                return copy.deepcopy(item)
        return None

    def _where(self, pred: Any) -> list[T]:
        return [copy.deepcopy(item) for item in self._rows.values() if pred(item)]


class InMemoryCompanyRepository(_Rows[Company]):
    def get_by_name(self, name: str) -> Company | None:
        return self._first(lambda c: c.name == name)

    def get_by_link_token(self, token: str) -> Company | None:
        return self._first(lambda c: c.link_token == token)

    def list(self) -> list[Company]:
        return sorted(self._where(lambda c: True), key=lambda c: (c.name, c.id))


class InMemoryContactRepository(_Rows[Contact]):
    def find(self, company_id: str, email_key: str) -> Contact | None:
        return self._first(lambda c: c.company_id == company_id and c.email_key == email_key)

    def list_for_company(self, company_id: str) -> list[Contact]:
        return sorted(self._where(lambda c: c.company_id == company_id), key=lambda c: (c.name, c.id))


class InMemoryInvoiceRepository(_Rows[Invoice]):
    def get_for_update(self, invoice_id: str) -> Invoice | None:
        return self.get(invoice_id)  # a transaction here works on its own copy; the commit publishes it whole

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        rows = self._where(lambda i: i.company_id == company_id and i.status in statuses)
        return _slice(sorted(rows, key=lambda i: ordering.invoice_key(i, today)), offset, limit)


class InMemoryQuoteRepository(_Rows[Quote]):
    def list_for_company(self, company_id: str, *, statuses: frozenset[QuoteStatus], offset: int = 0,
                         limit: int | None = None) -> list[Quote]:
        rows = self._where(lambda q: q.company_id == company_id and q.status in statuses)
        return _slice(sorted(rows, key=ordering.quote_key), offset, limit)

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        return ordering.awaiting_quotes(self._where(lambda q: q.company_id == company_id), today, expiring_by, limit)


class InMemoryProjectRepository(_Rows[Project]):
    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[Project]:
        mine = self._where(lambda p: p.company_id == company_id)
        return _slice(sorted(mine, key=ordering.project_key), offset, limit)


class InMemoryJobRepository(_Rows[Job]):
    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        rows = self._where(lambda j: j.company_id == company_id and (statuses is None or j.status in statuses)
                           and (project_id is None or j.project_id == project_id))
        return _slice(sorted(rows, key=ordering.job_key), offset, limit)


class InMemoryTaskRepository(_Rows[Task]):
    def list_for_company(self, company_id: str, *, job_id: str | None = None, offset: int = 0,
                         limit: int | None = None) -> list[Task]:
        rows = self._where(lambda t: t.company_id == company_id and (job_id is None or t.job_id == job_id))
        return _slice(sorted(rows, key=ordering.task_key), offset, limit)


class InMemoryRequestRepository(_Rows[ClientRequest]):
    def list_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[ClientRequest]:
        rows = self._where(lambda r: after is None or (r.created_at, r.id) > after)
        return sorted(rows, key=lambda r: (r.created_at, r.id))[:limit]

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[ClientRequest]:
        return _slice(sorted(self._where(lambda r: r.company_id == company_id), key=ordering.request_key),
                     offset, limit)


class InMemoryFileRepository(_Rows[File]):
    def list_for_company(self, company_id: str, *, job_id: str | None = None, invoice_id: str | None = None,
                         offset: int = 0, limit: int | None = None) -> list[File]:
        rows = self._where(lambda f: f.company_id == company_id and (job_id is None or f.job_id == job_id)
                           and (invoice_id is None or f.invoice_id == invoice_id))
        return _slice(sorted(rows, key=ordering.file_key), offset, limit)


class InMemoryProductRepository(_Rows[Product]):
    def list(self, *, offset: int = 0, limit: int | None = None) -> list[Product]:
        return _slice(sorted(self._where(lambda p: True), key=lambda p: (p.name, p.id)), offset, limit)


def _prune(rows: dict[str, T], dead: Any) -> int:
    doomed = [key for key, row in rows.items() if dead(row)]
    for key in doomed:
        del rows[key]
    return len(doomed)


class InMemoryOneTimeCodeStore(_Rows[OneTimeCode]):
    def active_for_flow(self, contact_id: str, flow_key: str, *, lock: bool = False) -> list[OneTimeCode]:
        rows = self._where(lambda c: c.contact_id == contact_id and c.flow_key == flow_key
                           and c.status == CodeStatus.ACTIVE)
        return sorted(rows, key=lambda c: (c.issued_at, c.id))

    def latest_for_flow(self, contact_id: str, flow_key: str) -> OneTimeCode | None:
        rows = sorted(self._where(lambda c: c.contact_id == contact_id and c.flow_key == flow_key),
                      key=lambda c: (c.issued_at, c.id))
        return rows[-1] if rows else None

    def prune(self, issued_before: dt.datetime) -> int:
        return _prune(self._rows, lambda c: c.issued_at < issued_before)


class InMemorySessionStore(_Rows[PortalSession]):
    def prune(self, ended_before: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta) -> int:
        return _prune(self._rows, lambda s: (s.ended_at is not None and s.ended_at < ended_before)
                      or s.last_seen_at < ended_before - idle or s.created_at < ended_before - absolute)


class InMemoryPaymentRepository(_Rows[Payment]):
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


class InMemoryApiKeyRepository(_Rows[ApiKey]):
    def add(self, item: ApiKey) -> None:
        if self._first(lambda k: k.key_hash == item.key_hash) is not None:
            raise Conflict("duplicate API key")
        super().add(item)

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._first(lambda k: k.key_hash == key_hash)

    def list(self) -> list[ApiKey]:
        return sorted(self._where(lambda k: True), key=lambda k: (k.created_at, k.id))


class InMemoryProviderConnectionRepository:
    def __init__(self, rows: dict[str, ProviderConnection]) -> None:
        self._rows = rows

    def get(self, provider: Provider) -> ProviderConnection | None:
        return self._rows.get(Provider(provider).value)

    def save(self, connection: ProviderConnection) -> None:
        self._rows[connection.provider.value] = connection

    def remove(self, provider: Provider) -> None:
        self._rows.pop(Provider(provider).value, None)

    def list(self) -> list[ProviderConnection]:
        return [self._rows[key] for key in sorted(self._rows)]


class InMemoryProcessedEventLog:
    def __init__(self, rows: dict[tuple[str, str], dt.datetime]) -> None:
        self._rows = rows

    def record(self, provider: Provider, event_id: str, at: dt.datetime) -> bool:
        key = (Provider(provider).value, event_id)
        if key in self._rows:
            return False
        self._rows[key] = at
        return True

    def prune(self, before: dt.datetime) -> int:
        doomed = [key for key, at in self._rows.items() if at < before]
        for key in doomed:
            del self._rows[key]
        return len(doomed)


class InMemoryOutbox(_Rows[OutboxMessage]):
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
        return _prune(self._rows, lambda m: m.status == OutboxStatus.SENT and m.sent_at is not None
                      and m.sent_at < sent_before)


class InMemoryBusinessRepository:
    def __init__(self, rows: dict[str, Business]) -> None:
        self._rows = rows

    def get(self) -> Business | None:
        return copy.deepcopy(self._rows.get("business"))

    def save(self, business: Business) -> None:
        self._rows["business"] = copy.deepcopy(business)


class InMemoryLoginRequestLog:
    def __init__(self, rows: list[tuple[str, dt.datetime]]) -> None:
        self._rows = rows

    def lock(self, *keys: str) -> None:
        """Nothing to do: the in-memory store is for one thread at a time (tests, embedders' own fakes)."""

    def record(self, key: str, at: dt.datetime) -> None:
        self._rows.append((key, at))

    def count_since(self, key: str, since: dt.datetime) -> int:
        return sum(1 for k, at in self._rows if k == key and at >= since)

    def record_each(self, keys: Sequence[str], at: dt.datetime) -> None:
        for key in keys:
            self.record(key, at)

    def count_each_since(self, windows: Sequence[tuple[str, dt.datetime]]) -> list[int]:
        return [self.count_since(key, since) for key, since in windows]

    def prune(self, before: dt.datetime) -> int:
        kept = [row for row in self._rows if row[1] >= before]
        removed = len(self._rows) - len(kept)
        self._rows[:] = kept
        return removed


class InMemoryAuditLog:
    def __init__(self, rows: list[AuditEntry]) -> None:
        self._rows = rows

    def append(self, entry: AuditEntry) -> None:
        self._rows.append(entry)

    def list_for_company(self, company_id: str, *, limit: int = 200) -> list[AuditEntry]:
        rows = [e for e in self._rows if e.company_id == company_id]
        return sorted(rows, key=lambda e: (e.at, e.id), reverse=True)[:limit]

    def prune(self, before: dt.datetime) -> int:
        kept = [e for e in self._rows if e.at >= before]
        removed = len(self._rows) - len(kept)
        self._rows[:] = kept
        return removed


class InMemoryNoticeLog:
    def __init__(self, rows: list[tuple[str, str, dt.datetime]]) -> None:
        self._rows = rows

    def record(self, document_id: str, kind: str, at: dt.datetime) -> None:
        self._rows.append((document_id, kind, at))

    def last_sent(self, document_id: str, kind: str) -> dt.datetime | None:
        return max((at for doc, k, at in self._rows if doc == document_id and k == kind), default=None)

    def forget(self, document_id: str, kind: str, at: dt.datetime) -> None:
        self._rows[:] = [row for row in self._rows if row != (document_id, kind, at)]


_KINDS = {
    "companies": InMemoryCompanyRepository, "contacts": InMemoryContactRepository,
    "invoices": InMemoryInvoiceRepository, "quotes": InMemoryQuoteRepository,
    "projects": InMemoryProjectRepository, "jobs": InMemoryJobRepository, "tasks": InMemoryTaskRepository,
    "requests": InMemoryRequestRepository, "files": InMemoryFileRepository, "products": InMemoryProductRepository,
    "codes": InMemoryOneTimeCodeStore, "sessions": InMemorySessionStore, "payments": InMemoryPaymentRepository,
    "api_keys": InMemoryApiKeyRepository,
}


class InMemoryUnitOfWork:
    """`with uow:` works on a private copy of the store; commit() publishes it, leaving the block drops it."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()
        self.committed = False

    def __enter__(self) -> InMemoryUnitOfWork:
        self.committed = False
        self._begin()
        return self

    def _begin(self) -> None:
        with self.store.lock:
            self._work = copy.deepcopy(self.store.state)
        self.business = InMemoryBusinessRepository(self._work.business)
        for name, repo in _KINDS.items():
            setattr(self, name, repo(self._work.tables.setdefault(name, {})))
        self.login_requests = InMemoryLoginRequestLog(self._work.login_requests)
        self.audit = InMemoryAuditLog(self._work.audit)
        self.notices = InMemoryNoticeLog(self._work.notices)
        self.payment_providers = InMemoryProviderConnectionRepository(self._work.payment_providers)
        self.processed_events = InMemoryProcessedEventLog(self._work.processed_events)
        self.outbox = InMemoryOutbox(self._work.outbox)
        self.webhooks = InMemoryWebhookRepository(self._work.webhooks)
        self.webhook_deliveries = InMemoryWebhookDeliveries(self._work.webhook_deliveries)

    def __exit__(self, *exc: object) -> None:
        self._begin()  # whatever was not committed is dropped

    def commit(self) -> None:
        with self.store.lock:
            self.store.state = copy.deepcopy(self._work)
        self.committed = True

    def rollback(self) -> None:
        self._begin()
