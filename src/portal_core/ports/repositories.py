"""The ports to the database: a repository per aggregate, and the unit of work, one transaction over all of them.
Every error from the database surfaces as DatabaseUnavailable (unreachable) or Conflict (a unique key taken); an
update of a record that is not stored raises RecordMissing. Outside its `with` block a unit of work refuses any use
(RuntimeError), and entering one that is open raises RuntimeError too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import attrs

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
from portal_core.model.one_time_code import OneTimeCode
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.model.payment import (
    Payment,
    Provider,
    ProviderConnection,
)
from portal_core.model.session import PortalSession
from portal_core.model.webhook import Delivery, Webhook

# ---- repositories (one per aggregate; all errors from the database surface as DatabaseUnavailable)


class BusinessRepository(Protocol):
    def get(self) -> Business | None: ...
    def save(self, business: Business) -> None: ...


class CompanyRepository(Protocol):
    def add(self, company: Company) -> None: ...
    def update(self, company: Company) -> None: ...
    def get(self, company_id: str) -> Company | None: ...
    def get_by_ref(self, ref: str) -> Company | None: ...
    def get_by_name(self, name: str) -> Company | None: ...
    def get_by_link_token(self, token: str) -> Company | None: ...
    def list(self) -> list[Company]: ...


class ContactRepository(Protocol):
    def add(self, contact: Contact) -> None: ...
    def update(self, contact: Contact) -> None: ...
    def remove(self, contact_id: str) -> None: ...
    def get(self, contact_id: str) -> Contact | None: ...
    def get_by_ref(self, ref: str) -> Contact | None: ...
    def find(self, company_id: str, email_key: str) -> Contact | None: ...
    def list_for_company(self, company_id: str) -> list[Contact]: ...


class InvoiceRepository(Protocol):
    def add(self, invoice: Invoice) -> None: ...
    def update(self, invoice: Invoice) -> None: ...
    def get(self, invoice_id: str) -> Invoice | None: ...

    def get_for_update(self, invoice_id: str) -> Invoice | None:
        """The invoice, its row locked until commit (SELECT ... FOR UPDATE): payments are applied one at a time."""
        ...

    def get_by_ref(self, ref: str) -> Invoice | None: ...
    def get_many(self, invoice_ids: list[str]) -> list[Invoice]: ...

    def list_for_company(self, company_id: str, *, statuses: frozenset[InvoiceStatus], today: dt.date,
                         offset: int = 0, limit: int | None = None) -> list[Invoice]:
        """Overdue first (open with a due date before today), then by due date, then number."""
        ...


class QuoteRepository(Protocol):
    def add(self, quote: Quote) -> None: ...
    def update(self, quote: Quote) -> None: ...
    def get(self, quote_id: str) -> Quote | None: ...
    def get_by_ref(self, ref: str) -> Quote | None: ...

    def list_for_company(self, company_id: str, *, statuses: frozenset[QuoteStatus], offset: int = 0,
                         limit: int | None = None) -> list[Quote]:
        """Newest issued first, then number."""
        ...

    def list_awaiting(self, company_id: str, *, today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
        """For the home page, in one read: the `limit` newest sent quotes still open for review (valid until today or
        later, or with no end), and the `limit` of those open ones that lapse soonest, on or before `expiring_by`.
        Each quote once, newest issued first (ordering.awaiting_quotes)."""
        ...


class ProjectRepository(Protocol):
    def add(self, project: Project) -> None: ...
    def update(self, project: Project) -> None: ...
    def get(self, project_id: str) -> Project | None: ...
    def get_by_ref(self, ref: str) -> Project | None: ...

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[Project]:
        """By name."""
        ...


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...
    def update(self, job: Job) -> None: ...
    def get(self, job_id: str) -> Job | None: ...
    def get_by_ref(self, ref: str) -> Job | None: ...
    def get_many(self, job_ids: list[str]) -> list[Job]: ...

    def list_for_company(self, company_id: str, *, statuses: frozenset[JobStatus] | None = None,
                         project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[Job]:
        """By scheduled start (unscheduled last), then title."""
        ...


class TaskRepository(Protocol):
    def add(self, task: Task) -> None: ...
    def update(self, task: Task) -> None: ...
    def get_by_ref(self, ref: str) -> Task | None: ...

    def list_for_company(self, company_id: str, *, job_id: str | None = None, offset: int = 0,
                         limit: int | None = None) -> list[Task]:
        """Open before done, then by due date (none last), then title."""
        ...


class RequestRepository(Protocol):
    def add(self, request: ClientRequest) -> None: ...
    def update(self, request: ClientRequest) -> None: ...
    def get(self, request_id: str) -> ClientRequest | None: ...
    def get_by_ref(self, ref: str) -> ClientRequest | None: ...

    def list_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[ClientRequest]:
        """Requests of every company in (created_at, id) order, from just after `after` or from the first."""
        ...

    def list_for_company(self, company_id: str, *, offset: int = 0, limit: int | None = None) -> list[ClientRequest]:
        """Newest first."""
        ...


class FileRepository(Protocol):
    def add(self, file: File) -> None: ...
    def remove(self, file_id: str) -> None: ...
    def get(self, file_id: str) -> File | None: ...
    def get_by_ref(self, ref: str) -> File | None: ...

    def list_for_company(self, company_id: str, *, job_id: str | None = None, invoice_id: str | None = None,
                         offset: int = 0, limit: int | None = None) -> list[File]:
        """Newest attached first, then name; `limit` rows from `offset` in that order (all when None)."""
        ...


class ProductRepository(Protocol):
    def add(self, product: Product) -> None: ...
    def update(self, product: Product) -> None: ...
    def get_by_ref(self, ref: str) -> Product | None: ...
    def list(self, *, offset: int = 0, limit: int | None = None) -> list[Product]: ...


class OneTimeCodeStore(Protocol):
    def add(self, code: OneTimeCode) -> None: ...
    def update(self, code: OneTimeCode) -> None: ...

    def active_for_flow(self, contact_id: str, flow_key: str, *, lock: bool = False) -> list[OneTimeCode]:
        """The contact's codes still in status active (possibly expired) that this sign-in flow asked for;
        lock=True holds them until commit."""
        ...

    def get(self, code_id: str) -> OneTimeCode | None: ...

    def latest_for_flow(self, contact_id: str, flow_key: str) -> OneTimeCode | None:
        """The newest code this flow asked for, in any status."""
        ...

    def prune(self, issued_before: dt.datetime) -> int:
        """Deletes the codes issued before then (all long expired); returns how many."""
        ...


class SessionStore(Protocol):
    def add(self, session: PortalSession) -> None: ...

    def update(self, session: PortalSession) -> None:
        """Stores the session's changes, but never reopens an ended one: a stored end stays when the update carries
        none (a page that read the session before a sign-out committed records its last-seen time, not a revival)."""
        ...

    def get(self, session_id: str) -> PortalSession | None: ...

    def prune(self, ended_before: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta) -> int:
        """Deletes the sessions that ended before then: signed out, or idle or past their absolute lifetime by then.
        Returns how many."""
        ...


@attrs.frozen(kw_only=True)
class PageRows:
    """What every signed-in page reads first: the company behind the link, the session under the cookie's key, that
    session's contact, the business and the connected payment providers. Nothing is checked yet: the core decides
    (sign_in.viewer_from)."""

    company: Company | None
    session: PortalSession | None = None
    contact: Contact | None = None
    business: Business | None = None
    providers: tuple[Provider, ...] = ()


class SignedInReads(Protocol):
    """Optional on a unit of work, as its `signed_in` attribute: PageRows in one query. A unit of work without it
    is read through its repositories instead (sign_in.read_page_rows), with the same result in five reads."""

    def load(self, link_token: str, session_id: str) -> PageRows:
        """The company with that link token (None when there is none, and then nothing else is read), the session
        with that id, its contact, the business, and the providers in provider order."""
        ...


class LoginRequestLog(Protocol):
    """The throttle log: one row per counted event (a code request, a wrong code, a client request) under a keyed
    hash, kept in the database so that every worker and host shares one count."""

    def lock(self, *keys: str) -> None:
        """Serialises decisions on each key, taken in the order given: until this transaction ends, another that
        locks the same key waits. Count-then-record is only safe under this lock."""
        ...

    def record(self, key: str, at: dt.datetime) -> None: ...
    def count_since(self, key: str, since: dt.datetime) -> int: ...

    def record_each(self, keys: Sequence[str], at: dt.datetime) -> None:
        """record() for each key, in one write."""
        ...

    def count_each_since(self, windows: Sequence[tuple[str, dt.datetime]]) -> list[int]:
        """count_since() for each (key, since), in one read; the counts in the same order."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Deletes the rows recorded before then (past every window); returns how many."""
        ...


class NoticeLog(Protocol):
    """When notices about a document (invoice or quote) went out: clients get at most one reminder a day."""

    def record(self, document_id: str, kind: str, at: dt.datetime) -> None: ...

    def last_sent(self, document_id: str, kind: str) -> dt.datetime | None:
        """The latest time recorded for this document and kind, or None."""
        ...

    def forget(self, document_id: str, kind: str, at: dt.datetime) -> None:
        """Drops the record made at `at` (a notice that reached nobody must not hold the next one back)."""
        ...


class Outbox(Protocol):
    """The mail outbox (a table in the same database, so a message is stored in the transaction that causes it)."""

    def add(self, message: OutboxMessage) -> None: ...
    def update(self, message: OutboxMessage) -> None: ...
    def get(self, message_id: str) -> OutboxMessage | None: ...

    def claim_due(self, now: dt.datetime, *, limit: int, ids: Sequence[str] | None = None) -> list[OutboxMessage]:
        """Up to limit messages due now (oldest due first; only those of ids, when given) that no other
        dispatcher holds, each leased to the caller (claimed_until set and stored) until the transaction commits.
        Two dispatchers never claim the same message (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
        ...

    def latest_about(self, subject_ref: str) -> OutboxMessage | None:
        """The newest message about one thing (a sign-in code), or None."""
        ...

    def counts(self) -> dict[OutboxStatus, int]:
        """How many messages are in each state."""
        ...

    def list_failed(self, *, limit: int = 1000) -> list[OutboxMessage]: ...

    def prune(self, sent_before: dt.datetime) -> int:
        """Deletes the messages sent before then; returns how many."""
        ...


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> None: ...
    def list_for_company(self, company_id: str, *, limit: int = 200) -> list[AuditEntry]:
        """Newest first."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Deletes the entries older than then (past the retention period); returns how many."""
        ...


# ---- payments


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> None: ...
    def update(self, payment: Payment) -> None: ...
    def get(self, payment_id: str) -> Payment | None: ...
    def get_by_provider_ref(self, provider: Provider, provider_ref: str) -> Payment | None: ...

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        """Oldest first."""
        ...

    def list_pending(self, *, limit: int = 500) -> list[Payment]:
        """Pending payments with a provider ref (the ones a provider can be asked about), oldest first."""
        ...

    def list_settled_after(self, after: tuple[dt.datetime, str] | None, *, limit: int) -> list[Payment]:
        """Succeeded payments of every company in (settled_at, id) order, from just after `after` (a payment's
        settled_at and id) or from the first."""
        ...

    def count_succeeded(self) -> dict[Provider, int]:
        """How many payments each provider confirmed and the ledger applied (providers with none left out)."""
        ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def update(self, key: ApiKey) -> None: ...
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...


class WebhookRepository(Protocol):
    def add(self, webhook: Webhook) -> None: ...
    def get(self, webhook_id: str) -> Webhook | None: ...
    def remove(self, webhook_id: str) -> None: ...

    def list(self) -> list[Webhook]:
        """Every webhook, oldest first."""
        ...


class WebhookDeliveries(Protocol):
    """The outbox of webhook deliveries: stored in the transaction of the event, claimed and tried like mail."""

    def add(self, delivery: Delivery) -> None: ...
    def update(self, delivery: Delivery) -> None: ...

    def claim_due(self, now: dt.datetime, *, limit: int) -> list[Delivery]:
        """As Outbox.claim_due: up to limit due deliveries no other dispatcher holds, each leased to the caller."""
        ...

    def list_for(self, webhook_id: str, *, limit: int = 100) -> list[Delivery]:
        """A webhook's deliveries, newest first."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Deletes the deliveries made before then that are no longer pending (delivered or failed for good);
        returns how many."""
        ...


class ProviderConnectionRepository(Protocol):
    def get(self, provider: Provider) -> ProviderConnection | None: ...
    def save(self, connection: ProviderConnection) -> None: ...
    def remove(self, provider: Provider) -> None: ...
    def list(self) -> list[ProviderConnection]: ...


class ProcessedEventLog(Protocol):
    """Provider event ids already handled: each is processed once, however often it is delivered."""

    def record(self, provider: Provider, event_id: str, at: dt.datetime) -> bool:
        """True when the id is new (and now recorded), False when it was recorded before (by any transaction)."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Forgets the ids processed before then (providers stop retrying long before); returns how many."""
        ...


class UnitOfWork(Protocol):
    """A transaction over every repository: `with uow:` rolls back unless `uow.commit()` was called."""

    business: BusinessRepository
    companies: CompanyRepository
    contacts: ContactRepository
    invoices: InvoiceRepository
    quotes: QuoteRepository
    projects: ProjectRepository
    jobs: JobRepository
    tasks: TaskRepository
    requests: RequestRepository
    files: FileRepository
    products: ProductRepository
    codes: OneTimeCodeStore
    sessions: SessionStore
    login_requests: LoginRequestLog
    audit: AuditLog
    notices: NoticeLog
    payments: PaymentRepository
    payment_providers: ProviderConnectionRepository
    processed_events: ProcessedEventLog
    outbox: Outbox
    api_keys: ApiKeyRepository
    webhooks: WebhookRepository
    webhook_deliveries: WebhookDeliveries

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc: object) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


#: The repositories every unit of work holds, by attribute name.
REPOSITORY_NAMES: tuple[str, ...] = tuple(UnitOfWork.__annotations__)


class ClosedRepository:
    """What a unit of work holds in place of its repositories outside its `with` block: any use raises RuntimeError
    (the work would belong to no transaction, and be lost)."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("the unit of work is used outside its `with` block")


def close_repositories(uow: object, *extra: str) -> None:
    """Puts a ClosedRepository in place of each of the unit of work's repositories (and of the `extra` names)."""
    for name in (*REPOSITORY_NAMES, *extra):
        setattr(uow, name, ClosedRepository())
