"""Sends mail off the request path, so a slow relay neither delays a page nor tells whether an email exists."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from portal_core.errors import PortalError

log = logging.getLogger("portal.mail")


class MailQueue:
    def __init__(self, *, synchronous: bool = False, workers: int = 2) -> None:
        self._synchronous = synchronous
        self._executor = None if synchronous else ThreadPoolExecutor(max_workers=workers,
                                                                     thread_name_prefix="portal-mail")
        self._pending: list[Future[None]] = []

    def submit(self, job: Callable[[], None], what: str) -> None:
        if self._executor is None:
            self._run(job, what)
            return
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._run, job, what))

    @staticmethod
    def _run(job: Callable[[], None], what: str) -> None:
        try:
            job()
        except PortalError as exc:
            # The use case already made the failure safe (an undelivered code is ended); here it is only reported,
            # without the recipient or the message.
            log.warning("%s was not delivered: %s", what, exc)

    def drain(self, timeout: float = 30.0) -> None:
        """Waits for the mail in flight (tests and shutdown)."""
        for future in list(self._pending):
            future.result(timeout=timeout)
        self._pending.clear()
