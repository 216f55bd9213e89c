"""Webhooks in the core, over the in-memory adapters: who is told of what, the signature, retries with backoff, and
the URLs the portal refuses to call. The HTTP side, with a real receiver on loopback, is in
tests/integration/test_webhooks.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from adapters.webhook_http import HttpWebhookTransport
from portal_core import webhooks
from portal_core.errors import DeliveryFailed, InvalidInput, NotFound
from portal_core.model.outbox import OutboxStatus
from portal_core.model.webhook import EventType

NOW = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
SECRETS = webhooks.WebhookSecrets.from_secret("unit-test-secret-for-webhooks")


@attrs.define
class Receiver:
    """A transport that records each POST and fails while `failing` is positive (a fake of the HTTP adapter,
    for the core's bookkeeping; the adapter itself is tested against a real server)."""

    posts: list[tuple[str, bytes, dict[str, str]]] = attrs.Factory(list)
    failing: int = 0

    def refusal(self, url: str) -> str:
        return "" if url.startswith("https://") else "only https here"

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.posts.append((url, body, dict(headers)))
        if self.failing:
            self.failing -= 1
            raise DeliveryFailed("the receiver answered 503")


@attrs.define
class World:
    uow: InMemoryUnitOfWork = attrs.Factory(lambda: InMemoryUnitOfWork(InMemoryStore()))
    clock: FixedClock = attrs.Factory(lambda: FixedClock(NOW))
    randomness: SeededRandomness = attrs.Factory(lambda: SeededRandomness(7))
    receiver: Receiver = attrs.Factory(Receiver)

    def add(self, url: str, events: str) -> tuple[str, str]:
        webhook, secret = webhooks.add_webhook(self.uow, transport=self.receiver, secrets=SECRETS,
                                               randomness=self.randomness, clock=self.clock, url=url, events=events)
        return webhook.id, secret

    def emit(self, event: EventType, data: dict[str, Any], *, commit: bool = True) -> list[str]:
        with self.uow:
            ids = webhooks.emit(self.uow, clock=self.clock, randomness=self.randomness, event=event, data=data)
            if commit:
                self.uow.commit()
        return ids

    def deliver(self) -> list[webhooks.DeliveryAttempt]:
        return webhooks.deliver(self.uow, transport=self.receiver, secrets=SECRETS, clock=self.clock)


@pytest.fixture
def world() -> World:
    return World()


def check(secret: str, header: str, body: bytes) -> int:
    """The receiver's check, written from docs/api.md rather than from the portal's code: returns t."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"])
    return int(parts["t"])


def test_an_event_reaches_exactly_the_webhooks_that_asked_for_it_signed_with_their_own_secret(world: World) -> None:
    paid_id, paid_secret = world.add("https://crm.example/paid", "invoice.paid,invoice.partially_paid")
    both_id, both_secret = world.add("https://crm.example/all", "request.created, invoice.paid")
    world.add("https://crm.example/files", "file.downloaded")
    assert paid_secret.startswith("whsec_") and paid_secret != both_secret
    assert SECRETS.for_webhook(paid_id) == paid_secret  # derived again for each delivery, never stored

    assert len(world.emit(EventType.INVOICE_PAID, {"invoice": "i-1", "number": "INV-1"})) == 2
    assert len(world.emit(EventType.REQUEST_CREATED, {"id": "r1", "title": "Leak"})) == 1
    assert world.emit(EventType.CONTACT_SIGNED_IN, {"company": "c1"}) == []
    world.clock.advance(seconds=3)
    attempts = world.deliver()
    assert [a.status for a in attempts] == [OutboxStatus.SENT] * 3

    by_url: dict[str, list[dict[str, Any]]] = {}
    for url, body, headers in world.receiver.posts:
        secret = paid_secret if url.endswith("/paid") else both_secret
        assert check(secret, headers["Portal-Signature"], body) == int(world.clock.now().timestamp())
        assert headers["Content-Type"] == "application/json"
        by_url.setdefault(url, []).append(json.loads(body))
    assert [e["type"] for e in by_url["https://crm.example/paid"]] == ["invoice.paid"]
    assert sorted(e["type"] for e in by_url["https://crm.example/all"]) == ["invoice.paid", "request.created"]
    paid = by_url["https://crm.example/paid"][0]
    assert set(paid) == {"id", "type", "created", "data"}
    assert paid["data"] == {"invoice": "i-1", "number": "INV-1"} and paid["created"] == int(NOW.timestamp())
    # One event, one id, whoever is told of it.
    same = [e for e in by_url["https://crm.example/all"] if e["type"] == "invoice.paid"][0]
    assert same["id"] == paid["id"] and paid["id"].startswith("evt_")
    assert world.deliver() == []  # nothing is sent twice


def test_an_event_of_a_transaction_that_rolls_back_tells_nobody(world: World) -> None:
    world.add("https://crm.example/hook", "request.created")
    world.emit(EventType.REQUEST_CREATED, {"id": "r1"}, commit=False)
    assert world.deliver() == [] and world.receiver.posts == []


def test_a_failing_receiver_gets_the_same_event_again_within_a_minute_then_with_backoff(world: World) -> None:
    webhook_id, secret = world.add("https://crm.example/hook", "request.created")
    world.emit(EventType.REQUEST_CREATED, {"id": "r1", "title": "Leak"})
    world.receiver.failing = 3
    first = world.deliver()
    assert first[0].problem == "the receiver answered 503" and first[0].status == OutboxStatus.PENDING
    assert world.deliver() == []  # not due yet
    waits = []
    for _ in range(3):
        before = world.clock.now()
        while not world.deliver():
            world.clock.advance(seconds=1)
        waits.append((world.clock.now() - before).total_seconds())
    assert waits[0] <= 60, "the first retry comes within a minute"
    assert waits == sorted(waits), "each wait at least as long as the one before"
    bodies = [body for _url, body, _headers in world.receiver.posts]
    assert len(bodies) == 4 and len(set(bodies)) == 1, "every try sends the same bytes, with the same event id"
    stamps = [check(secret, h["Portal-Signature"], b) for _u, b, h in world.receiver.posts]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4, "t is the time of each try"
    [delivery] = webhooks.recent_deliveries(world.uow, webhook_id)
    assert delivery.status == OutboxStatus.SENT and delivery.attempts == 4


def test_a_receiver_down_for_three_days_fails_for_good_and_is_not_tried_after(world: World) -> None:
    webhook_id, _secret = world.add("https://crm.example/hook", "request.created")
    world.emit(EventType.REQUEST_CREATED, {"id": "r1"})
    world.receiver.failing = 10_000
    while True:
        world.deliver()
        [delivery] = webhooks.recent_deliveries(world.uow, webhook_id)
        if delivery.status != OutboxStatus.PENDING:
            break
        world.clock.advance(minutes=30)
    assert delivery.status == OutboxStatus.FAILED
    assert dt.timedelta(days=2, hours=23) <= world.clock.now() - NOW <= dt.timedelta(days=3)
    tries = len(world.receiver.posts)
    world.clock.advance(days=1)
    assert world.deliver() == [] and len(world.receiver.posts) == tries


def test_a_removed_webhook_is_told_nothing_more(world: World) -> None:
    webhook_id, _secret = world.add("https://crm.example/hook", "request.created")
    world.emit(EventType.REQUEST_CREATED, {"id": "r1"})
    removed = webhooks.remove_webhook(world.uow, webhook_id)
    assert removed.id == webhook_id and webhooks.list_webhooks(world.uow) == []
    [attempt] = world.deliver()
    assert attempt.status == OutboxStatus.FAILED and attempt.problem == "its webhook was removed"
    assert world.receiver.posts == []
    with pytest.raises(NotFound, match="no webhook has the id"):
        webhooks.remove_webhook(world.uow, webhook_id)


@pytest.mark.parametrize(("url", "events", "message"), [
    ("https://crm.example/hook", "", "name at least one of invoice.paid"),
    ("https://crm.example/hook", "invoice.paid,invoice.refunded", "'invoice.refunded' is not an event"),
    ("http://crm.example/hook", "invoice.paid", "URL: only https here"),
    ("https://crm.example/" + "a" * 2000, "invoice.paid", "URL: at most 2000 characters"),
])
def test_a_webhook_the_rules_refuse_is_not_stored(world: World, url: str, events: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        world.add(url, events)
    assert webhooks.list_webhooks(world.uow) == []


def test_the_secret_depends_on_the_portal_secret_and_the_webhook() -> None:
    other = webhooks.WebhookSecrets.from_secret("another-portal-secret-0123")
    assert SECRETS.for_webhook("a") != SECRETS.for_webhook("b") != other.for_webhook("b")
    assert SECRETS.for_webhook("a") == SECRETS.for_webhook("a")


# ---- the URLs the HTTP transport refuses --------------------------------------------------------------------------

def resolving_to(*addresses: str) -> Any:
    def resolve(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]
    return resolve


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.7", "172.16.3.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1",
    "::1", "::", "fc00::1", "fe80::1", "fec0::1", "ff02::1",
    # IPv6 forms that reach an IPv4 address: mapped, NAT64 (of the cloud metadata address), 6to4, IPv4-compatible,
    # IPv4-translated, Teredo (its client, 127.0.0.1, stored inverted)
    "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:7", "2002:7f00:1::", "::7f00:1", "::ffff:0:7f00:1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
])
def test_loopback_private_and_link_local_hosts_are_refused(address: str) -> None:
    transport = HttpWebhookTransport(resolve=resolving_to("93.184.216.34", address))
    assert "loopback or a private network" in transport.refusal("https://crm.example/hook")
    with pytest.raises(DeliveryFailed, match="will not call this URL"):  # checked again on every try
        transport.post("https://crm.example/hook", b"{}", {})


def test_a_public_host_is_allowed_and_private_ones_only_when_the_portal_says_so() -> None:
    assert HttpWebhookTransport(resolve=resolving_to("93.184.216.34")).refusal("https://crm.example/h") == ""
    for public in ("2606:4700::1111", "64:ff9b::5db8:d822", "::ffff:93.184.216.34", "2002:5db8:d822::1"):
        assert HttpWebhookTransport(resolve=resolving_to(public)).refusal("https://crm.example/h") == "", public
    allowing = HttpWebhookTransport(allow_private=True, resolve=resolving_to("127.0.0.1"))
    assert allowing.refusal("http://127.0.0.1:8080/hook") == ""


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://crm.example/hook", "only http:// and https://"), ("file:///etc/passwd", "only http:// and https://"),
    ("https:///no-host", "has no host"), ("https://crm.example:99999/", "not a URL"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("https://crm.example/h\u00e9", "no spaces, control or non-ASCII"), ("https://crm.example/a b", "no spaces"),
    ("https://crm.example/a\r\nHost: evil", "no spaces, control"), ("https://cr\u00e9m.example/", "non-ASCII"),
])
def test_a_url_that_is_not_http_is_refused_even_when_private_hosts_are_allowed(url: str, message: str) -> None:
    assert message in HttpWebhookTransport(allow_private=True).refusal(url)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def fails(*_args: Any, **_kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert HttpWebhookTransport(resolve=fails).refusal("https://nowhere.invalid/") == \
        "its host name does not resolve"


def test_a_transport_that_breaks_fails_its_try_and_the_rest_of_the_batch_goes_out(world: World) -> None:
    world.add("https://crm.example/broken", "request.created")
    world.add("https://crm.example/fine", "request.created")

    class Breaking(Receiver):
        def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
            if url.endswith("/broken"):
                raise UnicodeEncodeError("ascii", "\u00e9", 0, 1, "a bug of the transport's")
            super().post(url, body, headers)

    world.receiver = Breaking()
    world.emit(EventType.REQUEST_CREATED, {"id": "r1"})
    attempts = {a.problem: a.status for a in world.deliver()}
    assert attempts == {"the delivery failed unexpectedly (UnicodeEncodeError)": OutboxStatus.PENDING,
                        None: OutboxStatus.SENT}
    assert [url for url, _b, _h in world.receiver.posts] == ["https://crm.example/fine"]
