"""The webhook ports over SQLAlchemy Core: the webhooks, and their deliveries as an outbox table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.records import _delete, _Records, claim_due
from portal_core.model.outbox import OutboxStatus
from portal_core.model.webhook import Delivery, Webhook


class SqlAlchemyWebhookRepository(_Records[Webhook]):
    table, kind = t.webhooks, Webhook

    def _to_row(self, item: Webhook) -> dict[str, Any]:
        return {"id": item.id, "url": item.url, "events": ",".join(e.value for e in item.events),
                "created_at": item.created_at}

    def _from_row(self, row: sa.RowMapping) -> Webhook:
        return Webhook(id=row["id"], url=row["url"], events=row["events"].split(","), created_at=row["created_at"])

    def remove(self, webhook_id: str) -> None:
        self._remove(webhook_id)

    def list(self) -> list[Webhook]:
        c = t.webhooks.c
        return self._all(order_by=[c.created_at, self._text(c.id)])


class SqlAlchemyWebhookDeliveries(_Records[Delivery]):
    table, kind = t.webhook_deliveries, Delivery

    def _to_row(self, item: Delivery) -> dict[str, Any]:
        return {"id": item.id, "webhook_id": item.webhook_id, "event_id": item.event_id,
                "event_type": item.event_type.value, "body": item.body, "status": item.status.value,
                "attempts": item.attempts, "created_at": item.created_at, "next_attempt_at": item.next_attempt_at,
                "give_up_at": item.give_up_at, "claimed_until": item.claimed_until, "sent_at": item.sent_at,
                "last_error": item.last_error}

    def _from_row(self, row: sa.RowMapping) -> Delivery:
        return Delivery(**dict(row))

    def claim_due(self, now: dt.datetime, *, limit: int) -> list[Delivery]:
        return claim_due(self, now, limit=limit)

    def list_for(self, webhook_id: str, *, limit: int = 100) -> list[Delivery]:
        c = t.webhook_deliveries.c
        return self._all(c.webhook_id == webhook_id, order_by=[c.created_at.desc(), self._text(c.id).desc()],
                         limit=limit)

    def prune(self, before: dt.datetime) -> int:
        c = t.webhook_deliveries.c
        return _delete(self._connection, t.webhook_deliveries,
                       sa.and_(c.status != OutboxStatus.PENDING.value, c.created_at < before))
