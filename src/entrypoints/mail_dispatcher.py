"""Runs the outbox's dispatcher: threads in every `portal serve` worker, or the whole of `portal mail run`.

It wakes when told that mail was queued (nudge) and at least once a second, and sends whatever is due (mail, and
webhook deliveries), in any process on any host: the outbox's claims keep two dispatchers off one entry. Its log
lines count messages and deliveries; they never name an address or a URL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from entrypoints.bootstrap import Services
from portal_core import outbox, webhooks
from portal_core.errors import PortalError

log = logging.getLogger("portal.mail")
POLL_SECONDS = 1.0


class Dispatcher:
    """Two loops, each in a thread of its own so that a slow receiver never holds mail back: the mail outbox's, and
    the webhook deliveries' (portal_core.webhooks)."""

    def __init__(self, services: Services, *, synchronous: bool = False, interval: float = POLL_SECONDS) -> None:
        self._services = services
        self._synchronous = synchronous  # tests: a nudge delivers mail at once, in the caller's thread
        self._interval = interval
        self._wakes = {"mail": threading.Event(), "webhooks": threading.Event()}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, *, mail: bool = True) -> Dispatcher:
        if not self._synchronous and not self._threads:
            loops = [("webhooks", self._deliver_webhooks)] + ([("mail", lambda: self._dispatch(None))] if mail else [])
            for name, round_ in loops:
                thread = threading.Thread(target=self._loop, args=(name, round_), name=f"portal-{name}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return self

    def nudge(self, ids: Sequence[str | None] = (), *, webhooks: bool = True) -> None:
        """Mail or an event was queued (and committed): send it now rather than at the next poll. webhooks=False
        when the request queued mail only (the webhook loop then waits for its own poll)."""
        wanted = [i for i in ids if i]
        if self._synchronous:
            if wanted:
                self._dispatch(wanted)
            return
        self._wakes["mail"].set()
        if webhooks:
            self._wakes["webhooks"].set()

    def run(self) -> None:
        """Dispatches until stop(): mail in this thread, webhook deliveries in another."""
        self.start(mail=False)
        self._loop("mail", lambda: self._dispatch(None))

    def _loop(self, name: str, round_: Callable[[], None]) -> None:
        wake = self._wakes[name]
        while not self._stopping.is_set():
            round_()
            wake.wait(self._interval)
            wake.clear()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _deliver_webhooks(self) -> None:
        s = self._services
        try:
            tried = webhooks.deliver_due(s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets,
                                         clock=s.clock, keep_going=lambda: not self._stopping.is_set())
            if tried:
                log.info("webhooks: %d delivery(ies) tried", tried)
        except PortalError as exc:  # the database is away: the next round tries again
            log.warning("webhooks: delivery round failed: %s", type(exc).__name__)
        except Exception:
            log.exception("webhooks: delivery round failed")

    def _dispatch(self, ids: Sequence[str] | None) -> None:
        s = self._services
        try:
            if ids is None:
                tried = outbox.dispatch_due(s.uow(), sender=s.email_sender, clock=s.clock, randomness=s.randomness)
                if tried:
                    log.info("mail: %d message(s) tried", tried)
                return
            attempts = outbox.dispatch(s.uow(), sender=s.email_sender, clock=s.clock, randomness=s.randomness,
                                       ids=ids, limit=len(ids))
            for attempt in attempts:
                if not attempt.delivered:
                    log.warning("mail: a message was not delivered and stays queued: %s", attempt.problem)
        except PortalError as exc:  # the database is away: the next round tries again
            log.warning("mail: dispatch round failed: %s", type(exc).__name__)
        except Exception:  # a dispatcher that dies silently loses nothing, but sends nothing either
            log.exception("mail: dispatch round failed")
