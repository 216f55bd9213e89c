"""The SMTP sender keeps its connection between messages, and never at the cost of a message: a relay that went
away and came back, or one that is down, loses nothing and doubles nothing (a real aiosmtpd on loopback)."""

from __future__ import annotations

import pytest

from adapters import smtp as smtp_adapter
from adapters.smtp import SmtpEmailSender
from portal_core.errors import DeliveryFailed
from portal_core.model.mail import Email
from tests.support.smtp import SmtpServer


def _email(n: int) -> Email:
    return Email(to=f"client{n}@example.com", subject=f"Notice {n}", text=f"body {n}", html=f"<p>body {n}</p>",
                 reply_to="office@falcon.example")


def _received(smtp: SmtpServer) -> list[str]:
    return [str(message["Subject"]) for _rcpts, message in smtp.mailbox.messages]


def test_messages_share_a_connection_and_a_restarted_or_stopped_relay_loses_and_doubles_nothing() -> None:
    with SmtpServer() as smtp:
        sender = SmtpEmailSender.from_url(smtp.url, from_addr="portal@falcon.example", timeout=5)
        for n in range(3):
            sender.send(_email(n))
        assert len(set(smtp.mailbox.peers)) == 1  # three messages, one connection

        smtp.stop()
        smtp.start()  # the kept connection died with the relay: the next message goes on a new one
        sender.send(_email(3))
        assert len(set(smtp.mailbox.peers)) == 2

        smtp.stop()
        with pytest.raises(DeliveryFailed):
            sender.send(_email(4))  # refused, and said so: the outbox tries again later
        smtp.start()
        sender.send(_email(4))
        sender.close()
        assert _received(smtp) == [f"Notice {n}" for n in range(5)]  # each once, in order


def test_a_connection_idle_too_long_is_not_used_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_adapter, "MAX_IDLE_SECONDS", 0.0)
    with SmtpServer() as smtp:
        sender = SmtpEmailSender.from_url(smtp.url, from_addr="portal@falcon.example", timeout=5)
        for n in range(2):
            sender.send(_email(n))
        assert len(set(smtp.mailbox.peers)) == 2
        assert _received(smtp) == ["Notice 0", "Notice 1"]
