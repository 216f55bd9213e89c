"""Runs the outbox's dispatcher: a thread in every `portal serve` worker, or the whole of `portal mail run`.

It wakes when told that mail was queued (nudge) and at least once a second, and sends whatever is due, in any
process on any host: the outbox's claims keep two dispatchers off one message. Its log lines count messages; they
never name an address.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from entrypoints.bootstrap import Services
from portal_core import outbox
from portal_core.errors import PortalError

log = logging.getLogger("portal.mail")
POLL_SECONDS = 1.0


class Dispatcher:
    def __init__(self, services: Services, *, synchronous: bool = False, interval: float = POLL_SECONDS) -> None:
        self._services = services
        self._synchronous = synchronous  # tests: a nudge delivers at once, in the caller's thread
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Dispatcher:
        if not self._synchronous and self._thread is None:
            self._thread = threading.Thread(target=self.run, name="portal-mail", daemon=True)
            self._thread.start()
        return self

    def nudge(self, ids: Sequence[str | None] = ()) -> None:
        """Mail was queued (and committed): send it now rather than at the next poll."""
        wanted = [i for i in ids if i]
        if self._synchronous:
            if wanted:
                self._dispatch(wanted)
            return
        self._wake.set()

    def run(self) -> None:
        """Dispatches until stop(); each round sends everything due."""
        while not self._stopping.is_set():
            self._dispatch(None)
            self._wake.wait(self._interval)
            self._wake.clear()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

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
