"""Sends email through an SMTP relay (smtplib), configured by a smtp://[user:pass@]host:port[?starttls=1|ssl=1] URL.

A URL with a user name must say how the password is protected (starttls=1 or ssl=1), or insecure=1 on purpose.
A connection is kept between messages (briefly: MAX_IDLE_SECONDS) and checked with NOOP before it is used again."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from portal_core.errors import DeliveryFailed, InvalidInput
from portal_core.model.mail import Email

# A connection the relay has accepted a message on is kept for the next one (no new TCP connection, greeting, EHLO,
# STARTTLS and login per message), at most this many per sender and for this long idle: relays close idle
# connections after a few minutes, and one that sat longer is not trusted.
MAX_IDLE_CONNECTIONS = 2
MAX_IDLE_SECONDS = 30.0


class _IdleConnections:
    """Connections between messages, taken by one sending thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[tuple[smtplib.SMTP, float]] = []

    def take(self) -> smtplib.SMTP | None:
        with self._lock:
            now = time.monotonic()
            stale = [client for client, since in self._idle if now - since >= MAX_IDLE_SECONDS]
            self._idle = [(client, since) for client, since in self._idle if now - since < MAX_IDLE_SECONDS]
            found = self._idle.pop()[0] if self._idle else None
        for client in stale:
            client.close()  # the socket only: a QUIT to a relay that may be gone could wait for the timeout
        return found

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client, _since in idle:
            client.close()

    def __del__(self) -> None:  # a sender dropped with a connection kept: its socket is closed, not leaked
        self.close()

    def give_back(self, client: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append((client, time.monotonic()))
                return
        client.close()


@attrs.frozen(kw_only=True)
class SmtpEmailSender:
    host: str
    port: int
    from_addr: str | None = None  # None: the business's own address (the message's reply-to)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0
    _idle: _IdleConnections = attrs.field(factory=_IdleConnections, init=False, repr=False, eq=False)

    @classmethod
    def from_url(cls, url: str, *, from_addr: str | None, timeout: float = 10.0) -> SmtpEmailSender:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise InvalidInput("PORTAL_EMAIL_URL must look like smtp://[user:pass@]host:port[?starttls=1|ssl=1]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        use_ssl = query.get("ssl") == "1"
        if parts.username and not use_ssl and query.get("starttls") != "1" and query.get("insecure") != "1":
            # The password would cross the network in clear text. (The message names neither user nor password.)
            raise InvalidInput("PORTAL_EMAIL_URL has a user name but neither starttls=1 nor ssl=1: the password "
                               "would be sent unencrypted (add insecure=1 only for a relay on this host)")
        return cls(host=parts.hostname, port=parts.port or (465 if use_ssl else 25), from_addr=from_addr,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   starttls=query.get("starttls") == "1", use_ssl=use_ssl, timeout=timeout)

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        sender = self.from_addr or email.reply_to or "portal@localhost"
        message["From"] = sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        # The outbox's id when it gave one: the same on every try, so a duplicate can be recognised downstream.
        message["Message-ID"] = email.message_id or make_msgid(domain=sender.rpartition("@")[2] or None)
        if email.reply_to:
            message["Reply-To"] = email.reply_to
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        for attachment in email.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(attachment.content, maintype=maintype, subtype=subtype or "octet-stream",
                                   filename=attachment.filename)
        return message

    def send(self, email: Email) -> None:
        """Hands the message to the relay, on a connection kept from the last message when there is one that still
        answers (NOOP), else on a new one. Raises DeliveryFailed; the connection is then dropped."""
        message = self._message(email)
        client = self._live(self._idle.take())
        try:
            if client is None:
                client = self._connect()
            client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            if client is not None:
                client.close()
            # The reason names the relay's failure, never the recipient or the body.
            raise DeliveryFailed(f"the mail relay did not accept the message ({type(exc).__name__})") from exc
        self._idle.give_back(client)

    def close(self) -> None:
        """Closes the connections kept for the next message (a later send opens a new one)."""
        self._idle.close()

    @staticmethod
    def _live(client: smtplib.SMTP | None) -> smtplib.SMTP | None:
        """A kept connection if the relay still answers on it; None (and the connection closed) if not."""
        if client is None:
            return None
        try:
            if client.noop()[0] == 250:
                return client
        except (OSError, smtplib.SMTPException):
            pass
        client.close()
        return None

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                     context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client
