"""Payments over SQLAlchemy Core: the ledger's rows, the connected providers' (encrypted) credentials, and the
providers' events already processed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.records import (
    _delete,
    _Records,
)
from portal_core.model.money import Money
from portal_core.model.payment import Allocation, Payment, PaymentStatus, Provider, ProviderConnection


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
