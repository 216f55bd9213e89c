"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, optionally slow or refusing."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.peers: list[object] = []  # each message's client address and port: one per connection it came on
        self.delay = 0.0
        self.refuse = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # aiosmtpd's hook
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return "554 Transaction failed"
        content = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        message = message_from_bytes(content, policy=policy.default)
        with self._lock:
            self.messages.append(([r.lower() for r in envelope.rcpt_tos], message))  # type: ignore[attr-defined]
            self.peers.append(session.peer)  # type: ignore[attr-defined]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for rcpts, m in self.messages if address.lower() in rcpts]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.to(address)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s) for {address}, got {len(self.to(address))}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def code_in(message: EmailMessage) -> str:
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", text_of(message))
    assert found, "no six-digit code in the message"
    return found.group(1)


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.controller.stop()

    @property
    def running(self) -> bool:
        return getattr(self.controller, "_thread", None) is not None

    def stop(self) -> None:
        """The relay goes away: connections to its port are refused until start()."""
        self.controller.stop()

    def start(self) -> None:
        """The relay comes back on the same port, with the same mailbox."""
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
