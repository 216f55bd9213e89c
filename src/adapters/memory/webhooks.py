"""The webhook ports over plain dicts (see unit_of_work.py: each transaction works on its own copy)."""

from __future__ import annotations

import copy
import datetime as dt

from adapters.memory.rows import Rows
from portal_core.model.outbox import OutboxStatus
from portal_core.model.webhook import Delivery, Webhook


class InMemoryWebhookRepository(Rows[Webhook]):
    kind = "webhook"

    def list(self) -> list[Webhook]:
        return sorted((copy.deepcopy(w) for w in self._rows.values()), key=lambda w: (w.created_at, w.id))


class InMemoryWebhookDeliveries(Rows[Delivery]):
    kind = "delivery"

    def claim_due(self, now: dt.datetime, *, limit: int) -> list[Delivery]:
        due = sorted((d for d in self._rows.values() if d.is_due(now)), key=lambda d: (d.next_attempt_at, d.id))
        for delivery in due[:limit]:
            delivery.claim(now)
        return [copy.deepcopy(d) for d in due[:limit]]

    def list_for(self, webhook_id: str, *, limit: int = 100) -> list[Delivery]:
        mine = sorted((d for d in self._rows.values() if d.webhook_id == webhook_id),
                      key=lambda d: (d.created_at, d.id), reverse=True)
        return [copy.deepcopy(d) for d in mine[:limit]]

    def prune(self, before: dt.datetime) -> int:
        return self._delete_where(lambda d: d.status != OutboxStatus.PENDING and d.created_at < before)
