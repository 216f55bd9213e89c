"""The webhook ports over plain dicts (see unit_of_work.py: each transaction works on its own copy)."""

from __future__ import annotations

import copy
import datetime as dt

from portal_core.errors import Conflict
from portal_core.model.outbox import OutboxStatus
from portal_core.model.webhook import Delivery, Webhook


class InMemoryWebhookRepository:
    def __init__(self, rows: dict[str, Webhook]) -> None:
        self._rows = rows

    def add(self, webhook: Webhook) -> None:
        if webhook.id in self._rows:
            raise Conflict(f"duplicate id {webhook.id}")
        self._rows[webhook.id] = copy.deepcopy(webhook)

    def get(self, webhook_id: str) -> Webhook | None:
        return copy.deepcopy(self._rows.get(webhook_id))

    def remove(self, webhook_id: str) -> None:
        self._rows.pop(webhook_id, None)

    def list(self) -> list[Webhook]:
        return sorted((copy.deepcopy(w) for w in self._rows.values()), key=lambda w: (w.created_at, w.id))


class InMemoryWebhookDeliveries:
    def __init__(self, rows: dict[str, Delivery]) -> None:
        self._rows = rows

    def add(self, delivery: Delivery) -> None:
        if delivery.id in self._rows:
            raise Conflict(f"duplicate id {delivery.id}")
        self._rows[delivery.id] = copy.deepcopy(delivery)

    def update(self, delivery: Delivery) -> None:
        if delivery.id not in self._rows:
            raise KeyError(f"no delivery {delivery.id}")
        self._rows[delivery.id] = copy.deepcopy(delivery)

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
        doomed = [k for k, d in self._rows.items() if d.status != OutboxStatus.PENDING and d.created_at < before]
        for key in doomed:
            del self._rows[key]
        return len(doomed)
