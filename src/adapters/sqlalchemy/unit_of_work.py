"""The unit of work over one SQLAlchemy connection: one transaction, rolled back on exit unless committed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.outbox import SqlAlchemyOutbox
from adapters.sqlalchemy.payments import (
    SqlAlchemyPaymentRepository,
    SqlAlchemyProcessedEventLog,
    SqlAlchemyProviderConnectionRepository,
)
from adapters.sqlalchemy.repositories import (
    SqlAlchemyBusinessRepository,
    SqlAlchemyCompanyRepository,
    SqlAlchemyContactRepository,
    SqlAlchemyFileRepository,
    SqlAlchemyInvoiceRepository,
    SqlAlchemyJobRepository,
    SqlAlchemyNoticeLog,
    SqlAlchemyProductRepository,
    SqlAlchemyProjectRepository,
    SqlAlchemyQuoteRepository,
    SqlAlchemyRequestRepository,
    SqlAlchemyTaskRepository,
)
from adapters.sqlalchemy.sign_in import (
    SqlAlchemyApiKeyRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyLoginRequestLog,
    SqlAlchemyOneTimeCodeStore,
    SqlAlchemySessionStore,
    SqlAlchemySignedInReads,
)
from adapters.sqlalchemy.webhooks import SqlAlchemyWebhookDeliveries, SqlAlchemyWebhookRepository
from portal_core.ports import close_repositories


@sa.event.listens_for(sa.Engine, "before_cursor_execute")
def _refuse_writes(connection: sa.Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
    """A read-only unit of work runs SELECTs only (a write there would not be one transaction); SQLite's read-only
    units of work are transactions as before (engine.py's BEGIN IMMEDIATE)."""
    if (connection.get_execution_options().get("portal_read_only")
            and statement.lstrip()[:6].upper() not in ("SELECT", "BEGIN ")):
        raise ReadOnlyViolation(f"a read-only unit of work was asked to run: {statement.split(None, 1)[0]}")


class ReadOnlyViolation(RuntimeError):
    """A write attempted through a read-only unit of work: a programming error, never a client's."""


class SqlAlchemyUnitOfWork:
    """`with uow:` borrows a connection from the engine's pool and begins; commit() may be called more than once.

    Raises DatabaseUnavailable when the database cannot be reached, drops the connection, or is locked too long.
    """

    def __init__(self, engine: sa.Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self._connection: sa.Connection | None = None
        close_repositories(self, "signed_in")

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already open; use one per request or thread")
        with database_errors():
            connection = self.engine.connect()
            try:
                if self.read_only and connection.dialect.name == "postgresql":
                    # Reads only, each statement on its own: no BEGIN and ROLLBACK round trips around a page's
                    # reads (under READ COMMITTED each statement reads its own snapshot inside a transaction too).
                    # Any other statement is refused (_refuse_writes), and commit() raises.
                    connection.execution_options(isolation_level="AUTOCOMMIT", portal_read_only=True)
                else:
                    if self.read_only:
                        connection.execution_options(portal_read_only=True)
                    connection.begin()
            except BaseException:
                connection.close()
                raise
        self._connection = connection
        self.business = SqlAlchemyBusinessRepository(connection)
        self.companies = SqlAlchemyCompanyRepository(connection)
        self.contacts = SqlAlchemyContactRepository(connection)
        self.invoices = SqlAlchemyInvoiceRepository(connection)
        self.quotes = SqlAlchemyQuoteRepository(connection)
        self.projects = SqlAlchemyProjectRepository(connection)
        self.jobs = SqlAlchemyJobRepository(connection)
        self.tasks = SqlAlchemyTaskRepository(connection)
        self.requests = SqlAlchemyRequestRepository(connection)
        self.files = SqlAlchemyFileRepository(connection)
        self.products = SqlAlchemyProductRepository(connection)
        self.codes = SqlAlchemyOneTimeCodeStore(connection)
        self.sessions = SqlAlchemySessionStore(connection)
        self.login_requests = SqlAlchemyLoginRequestLog(connection)
        self.audit = SqlAlchemyAuditLog(connection)
        self.notices = SqlAlchemyNoticeLog(connection)
        self.payments = SqlAlchemyPaymentRepository(connection)
        self.payment_providers = SqlAlchemyProviderConnectionRepository(connection)
        self.processed_events = SqlAlchemyProcessedEventLog(connection)
        self.outbox = SqlAlchemyOutbox(connection)
        self.api_keys = SqlAlchemyApiKeyRepository(connection)
        self.webhooks = SqlAlchemyWebhookRepository(connection)
        self.webhook_deliveries = SqlAlchemyWebhookDeliveries(connection)
        self.signed_in = SqlAlchemySignedInReads(connection)  # optional port: what every page reads, in one query
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        close_repositories(self, "signed_in")
        try:
            with database_errors():
                connection.rollback()  # a no-op after commit()
        except Exception:
            if exc_type is None:
                raise
            # The block already failed (often for the same lost connection): let its error be the one reported.
        finally:
            connection.close()

    @property
    def connection(self) -> sa.Connection:
        """The open transaction's connection: an embedder's own repositories join it (docs/embedding.md)."""
        return self._open()

    def _open(self) -> sa.Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._connection

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work never writes, so it never commits")
        # The next statement begins a new transaction (autobegin), so the block may go on after committing.
        with database_errors():
            self._open().commit()

    def rollback(self) -> None:
        with database_errors():
            self._open().rollback()
