"""Keys a CRM calls the business-side API with. Only a keyed hash of each key is stored."""

from __future__ import annotations

import datetime as dt

import attrs


@attrs.define(kw_only=True)
class ApiKey:
    id: str
    name: str  # the operator's name for it ("crm", "books"); one live key per name
    key_hash: str  # ApiKeySecrets.hash(key): the key itself is shown once and never stored
    created_at: dt.datetime
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None
