"""Audit entries: who did what to which portal, when, and from which address."""

from __future__ import annotations

import datetime as dt

import attrs


@attrs.frozen(kw_only=True)
class AuditEntry:
    id: str
    at: dt.datetime
    action: str  # e.g. code_issued, code_failed, signed_in, signed_out, throttled, file_downloaded
    company_id: str | None = None
    contact_id: str | None = None
    ip: str | None = None
    detail: str = ""  # never a code, token or email in the clear
