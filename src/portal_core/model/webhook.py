"""Webhooks: a CRM's URL told of events in the portal, and each event's delivery to it (an outbox entry).

A delivery's body is fixed when the event happens, so every try sends the same bytes with the same event id, and a
receiver that saw it before can tell; only the signature's time changes from try to try.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

import attrs

from portal_core.model.outbox import Tries

RETRY_FOR = dt.timedelta(days=3)  # a receiver that is down for a weekend still gets every event


class EventType(enum.StrEnum):
    INVOICE_PAID = "invoice.paid"
    INVOICE_PARTIALLY_PAID = "invoice.partially_paid"
    REQUEST_CREATED = "request.created"
    FILE_DOWNLOADED = "file.downloaded"
    CONTACT_SIGNED_IN = "contact.signed_in"


def _event_types(values: object) -> tuple[EventType, ...]:
    return tuple(sorted({EventType(v) for v in values}))  # type: ignore[attr-defined]


@attrs.define(kw_only=True)
class Webhook:
    id: str
    url: str
    events: tuple[EventType, ...] = attrs.field(converter=_event_types)
    created_at: dt.datetime

    def wants(self, event: EventType) -> bool:
        return event in self.events


@attrs.define(kw_only=True)
class Delivery(Tries):
    """One event on its way to one webhook."""

    id: str
    webhook_id: str
    event_id: str  # the same for every webhook told of this event
    event_type: EventType = attrs.field(converter=EventType)
    body: str  # the JSON sent, exactly
    retry_for: ClassVar[dt.timedelta] = RETRY_FOR

    @classmethod
    def queue(cls, *, id: str, webhook_id: str, event_id: str, event_type: EventType, body: str,
              now: dt.datetime) -> Delivery:
        return cls(id=id, webhook_id=webhook_id, event_id=event_id, event_type=event_type, body=body,
                   created_at=now, give_up_at=now + RETRY_FOR, next_attempt_at=now)
