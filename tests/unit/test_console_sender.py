"""The console sender (console://) shows what an SMTP relay would be handed: a real From line, never a placeholder."""

from __future__ import annotations

import io

from adapters.console import ConsoleEmailSender
from portal_core.model.mail import Email


def _printed(sender: ConsoleEmailSender, stream: io.StringIO, reply_to: str | None) -> str:
    sender.send(Email(to="homer@globex.example", subject="Your code", text="123456", html="<p>123456</p>",
                      reply_to=reply_to))
    return stream.getvalue()


def test_the_from_line_is_the_configured_address() -> None:
    stream = io.StringIO()
    printed = _printed(ConsoleEmailSender(stream, from_addr="portal@falcon.example"), stream, "office@falcon.example")
    assert "From: portal@falcon.example\nTo: homer@globex.example\nSubject: Your code\n" in printed


def test_without_one_it_is_what_smtp_would_use_the_reply_to_then_a_local_address() -> None:
    stream = io.StringIO()
    assert "From: office@falcon.example\n" in _printed(ConsoleEmailSender(stream), stream, "office@falcon.example")
    stream = io.StringIO()
    printed = _printed(ConsoleEmailSender(stream), stream, None)
    assert "From: portal@localhost\n" in printed and "(the business email)" not in printed
