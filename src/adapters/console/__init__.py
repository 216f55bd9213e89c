"""An email sender that prints each message to the server's output: for the demo and local development."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from portal_core.model.mail import Email


class ConsoleEmailSender:
    def __init__(self, stream: TextIO | None = None, from_addr: str = "") -> None:
        self._stream = stream
        self._from = from_addr
        self._lock = threading.Lock()

    def send(self, email: Email) -> None:
        stream = self._stream or sys.stdout
        sender = self._from or email.reply_to or "portal@localhost"  # as the SMTP sender's From line would say
        with self._lock:
            stream.write(f"\n----- email (console://) -----\nFrom: {sender}\nTo: {email.to}\n"
                         f"Subject: {email.subject}\n\n{email.text}\n------------------------------\n")
            stream.flush()
