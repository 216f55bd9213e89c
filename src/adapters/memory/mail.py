"""An email sender that keeps what it was asked to send, for tests to read."""

from __future__ import annotations

import threading

from portal_core.errors import DeliveryFailed
from portal_core.model.mail import Email


class RecordingEmailSender:
    def __init__(self) -> None:
        self.outbox: list[Email] = []
        self.fail_with: str | None = None  # set to make the next sends fail, as a relay that is down would
        self._lock = threading.Lock()

    def send(self, email: Email) -> None:
        if self.fail_with:
            raise DeliveryFailed(self.fail_with)
        with self._lock:
            self.outbox.append(email)

    def to(self, address: str) -> list[Email]:
        return [email for email in self.outbox if email.to.lower() == address.lower()]
