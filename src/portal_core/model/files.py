"""Files attached to exactly one job or one invoice of a company; clients see them through that record."""

from __future__ import annotations

import datetime as dt

import attrs

from portal_core.errors import InvalidInput


@attrs.define(kw_only=True)
class File:
    id: str
    company_id: str
    name: str
    content_type: str
    size: int
    content_hash: str
    attached_at: dt.datetime
    job_id: str | None = None
    invoice_id: str | None = None
    ref: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.job_id is None) == (self.invoice_id is None):
            raise InvalidInput(f"file {self.name!r} must be attached to exactly one job or one invoice")
        if not self.name.strip():
            raise InvalidInput("a file needs a name")
