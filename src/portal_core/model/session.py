"""Server-side portal sessions, bound to one contact of one company, with idle and absolute limits."""

from __future__ import annotations

import datetime as dt
import hashlib

import attrs

DEFAULT_IDLE_TIMEOUT = dt.timedelta(minutes=60)
DEFAULT_ABSOLUTE_LIFETIME = dt.timedelta(hours=24)


def session_key(cookie_value: str) -> str:
    """Sessions are stored under a hash of the cookie, so a leaked table does not hand out live cookies."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@attrs.define(kw_only=True)
class PortalSession:
    id: str  # session_key(cookie value)
    contact_id: str
    company_id: str
    link_token: str  # the link it was opened under: rotating the link ends it
    email_key: str  # the email it was proven for: changing the contact's email ends it
    access_generation: int  # the company's access generation at sign-in: turning access off ends it for good
    created_at: dt.datetime
    last_seen_at: dt.datetime
    ended_at: dt.datetime | None = None

    def is_live(self, now: dt.datetime, idle: dt.timedelta, absolute: dt.timedelta) -> bool:
        return (self.ended_at is None and now - self.last_seen_at < idle and now - self.created_at < absolute)

    def end(self, now: dt.datetime) -> None:
        if self.ended_at is None:
            self.ended_at = now
