"""Email as the core sees it: what to say (a notice) and the rendered message handed to the sender."""

from __future__ import annotations

import attrs

from portal_core.model.business import Business


@attrs.frozen(kw_only=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None

    def __repr__(self) -> str:  # bodies may hold a code: never in a repr, a log line or a traceback
        return f"Email(subject={self.subject!r})"


@attrs.frozen(kw_only=True)
class SignInCodeNotice:
    business: Business
    company_name: str
    contact_name: str
    code: str = attrs.field(repr=False)
    valid_minutes: int


@attrs.frozen(kw_only=True)
class NewRequestNotice:
    """Tells the business that a contact sent a request from the portal."""

    business: Business
    request_id: str
    company_name: str
    contact_name: str
    contact_email: str
    title: str
    details: str


Notice = SignInCodeNotice | NewRequestNotice
