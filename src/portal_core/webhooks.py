"""Webhooks out: a CRM is told of what happens in the portal (docs/api.md, "Webhooks").

An event is stored as one delivery per webhook that wants it, in the transaction of the change it reports (a
payment that rolls back tells nobody; a process that dies after the commit loses nothing). Any dispatcher, in any
process on any host, claims due deliveries (a lease, as the mail outbox does), POSTs each outside any transaction,
and records the outcome: a receiver that answers non-2xx or not within the transport's timeout gets the same event
again with backoff (model/outbox.py), at least once, for three days. Each POST is signed like Stripe's webhooks:
`Portal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">`, keyed by the webhook's secret.

A webhook's secret is never stored: it is derived from the portal's secret and the webhook's id, printed once when
the webhook is added, and derived again for every delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

import attrs

from portal_core.errors import DeliveryFailed, InvalidInput, NotFound
from portal_core.ids import new_id
from portal_core.model.outbox import OutboxStatus
from portal_core.model.webhook import Delivery, EventType, Webhook
from portal_core.ports import Clock, Randomness, UnitOfWork, WebhookTransport

SIGNATURE_HEADER = "Portal-Signature"
SECRET_PREFIX = "whsec_"
MAX_URL = 2000
DELIVERY_BATCH = 10
EVENT_NAMES = ", ".join(e.value for e in EventType)


@attrs.frozen
class WebhookSecrets:
    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> WebhookSecrets:
        return cls(hmac.new(secret.encode(), b"portal webhooks v1", hashlib.sha256).digest())

    def for_webhook(self, webhook_id: str) -> str:
        tag = hmac.new(self.key, webhook_id.encode(), hashlib.sha256).digest()
        return SECRET_PREFIX + base64.urlsafe_b64encode(tag).decode().rstrip("=")


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The Portal-Signature header's value for one try: t=<timestamp>,v1=<hex HMAC-SHA-256 of "<t>.<body>">."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def parse_events(text: str) -> tuple[EventType, ...]:
    """A comma-separated list of event types. Raises InvalidInput naming the first unknown one."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidInput(f"--events: name at least one of {EVENT_NAMES}")
    for name in names:
        if name not in EventType._value2member_map_:
            raise InvalidInput(f"--events: {name!r} is not an event; the events are {EVENT_NAMES}")
    return tuple(sorted({EventType(name) for name in names}))


def add_webhook(uow: UnitOfWork, *, transport: WebhookTransport, secrets: WebhookSecrets, randomness: Randomness,
                clock: Clock, url: str, events: str) -> tuple[Webhook, str]:
    """A new webhook; returns it and its signing secret (which the portal does not keep). Raises InvalidInput for
    a URL the transport refuses or an unknown event."""
    wanted = parse_events(events)
    if len(url) > MAX_URL:
        raise InvalidInput(f"URL: at most {MAX_URL} characters")
    refused = transport.refusal(url)
    if refused:
        raise InvalidInput(f"URL: {refused}")
    webhook = Webhook(id=new_id(randomness), url=url, events=wanted, created_at=clock.now())
    with uow:
        uow.webhooks.add(webhook)
        uow.commit()
    return webhook, secrets.for_webhook(webhook.id)


def list_webhooks(uow: UnitOfWork) -> list[Webhook]:
    with uow:
        return uow.webhooks.list()


def remove_webhook(uow: UnitOfWork, webhook_id: str) -> Webhook:
    """Removes a webhook; its deliveries not yet made are never made. Raises NotFound."""
    with uow:
        found = uow.webhooks.get(webhook_id)
        if found is None:
            raise NotFound(f"no webhook has the id {webhook_id!r} (see portal webhook list)")
        uow.webhooks.remove(webhook_id)
        uow.commit()
    return found


def emit(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, event: EventType,
         data: Mapping[str, object]) -> list[str]:
    """Queues the event for every webhook that wants it, inside the open transaction; returns the delivery ids."""
    wanting = [w for w in uow.webhooks.list() if w.wants(event)]
    if not wanting:
        return []
    now = clock.now()
    event_id = "evt_" + new_id(randomness)
    body = json.dumps({"id": event_id, "type": event.value, "created": int(now.timestamp()), "data": dict(data)},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    ids = []
    for webhook in wanting:
        delivery = Delivery.queue(id=new_id(randomness), webhook_id=webhook.id, event_id=event_id, event_type=event,
                                  body=body, now=now)
        uow.webhook_deliveries.add(delivery)
        ids.append(delivery.id)
    return ids


@attrs.frozen(kw_only=True)
class DeliveryAttempt:
    delivery_id: str
    event_id: str
    problem: str | None = None  # None: the receiver answered 2xx
    status: OutboxStatus = OutboxStatus.PENDING  # the delivery's state after this try


def deliver(uow: UnitOfWork, *, transport: WebhookTransport, secrets: WebhookSecrets, clock: Clock,
            limit: int = DELIVERY_BATCH) -> list[DeliveryAttempt]:
    """Claims up to limit due deliveries, POSTs each once (outside any transaction, so a slow receiver holds no
    lock), and records each outcome. Raises nothing for a receiver that fails: that is an attempt's problem."""
    with uow:
        now = clock.now()
        claimed = uow.webhook_deliveries.claim_due(now, limit=limit)
        webhooks = {w.id: w for w in uow.webhooks.list()} if claimed else {}
        attempts, ready = [], []
        for delivery in claimed:
            webhook = webhooks.get(delivery.webhook_id)
            if webhook is None or now > delivery.give_up_at:
                delivery.give_up(now, "its webhook was removed" if webhook is None else "its time ran out")
                uow.webhook_deliveries.update(delivery)
                attempts.append(DeliveryAttempt(delivery_id=delivery.id, event_id=delivery.event_id,
                                                problem=delivery.last_error, status=delivery.status))
            else:
                ready.append((delivery, webhook))
        uow.commit()
    for delivery, webhook in ready:
        body = delivery.body.encode("utf-8")
        header = signature(secrets.for_webhook(webhook.id), body, int(clock.now().timestamp()))
        try:
            transport.post(webhook.url, body, {"Content-Type": "application/json", SIGNATURE_HEADER: header,
                                               "Portal-Event-Id": delivery.event_id})
            problem: str | None = None
        except DeliveryFailed as exc:
            problem = str(exc)
        except Exception as exc:  # a transport's bug must not strand the rest of the batch under its lease
            problem = f"the delivery failed unexpectedly ({type(exc).__name__})"
        with uow:
            now = clock.now()
            if problem is None:
                delivery.sent(now)
            else:
                delivery.try_failed(now, problem)
            uow.webhook_deliveries.update(delivery)
            uow.commit()
        attempts.append(DeliveryAttempt(delivery_id=delivery.id, event_id=delivery.event_id, problem=problem,
                                        status=delivery.status))
    return attempts


def deliver_due(uow: UnitOfWork, *, transport: WebhookTransport, secrets: WebhookSecrets, clock: Clock,
                max_batches: int = 50, keep_going: Callable[[], bool] = lambda: True) -> int:
    """Delivers what is due now, batch after batch, until nothing is left, max_batches, or keep_going() is false
    (a dispatcher that is stopping); returns how many it tried."""
    tried = 0
    for _ in range(max_batches):
        if not keep_going():
            break
        attempts = deliver(uow, transport=transport, secrets=secrets, clock=clock)
        tried += len(attempts)
        if len(attempts) < DELIVERY_BATCH:
            break
    return tried


def recent_deliveries(uow: UnitOfWork, webhook_id: str, *, limit: int = 20) -> list[Delivery]:
    """A webhook's latest deliveries, newest first. Raises NotFound."""
    with uow:
        if uow.webhooks.get(webhook_id) is None:
            raise NotFound(f"no webhook has the id {webhook_id!r} (see portal webhook list)")
        return uow.webhook_deliveries.list_for(webhook_id, limit=limit)
