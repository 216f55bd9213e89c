"""Sends email through an SMTP relay (smtplib), configured by a smtp://[user:pass@]host:port[?starttls=1|ssl=1] URL.

A URL with a user name must say how the password is protected (starttls=1 or ssl=1), or insecure=1 on purpose."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from portal_core.errors import DeliveryFailed, InvalidInput
from portal_core.model.mail import Email


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
        message = self._message(email)
        try:
            if self.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                         context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The reason names the relay's failure, never the recipient or the body.
            raise DeliveryFailed(f"the mail relay did not accept the message ({type(exc).__name__})") from exc
