"""The ports that are logs or single rows rather than records (see unit_of_work.py: each transaction works on its
own copy of the lists and dicts they are given)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence

from portal_core.model.audit import AuditEntry
from portal_core.model.business import Business
from portal_core.model.payment import Provider, ProviderConnection


class InMemoryProviderConnectionRepository:
    def __init__(self, rows: dict[str, ProviderConnection]) -> None:
        self._rows = rows

    def get(self, provider: Provider) -> ProviderConnection | None:
        return self._rows.get(Provider(provider).value)

    def save(self, connection: ProviderConnection) -> None:
        self._rows[connection.provider.value] = connection

    def remove(self, provider: Provider) -> None:
        self._rows.pop(Provider(provider).value, None)

    def list(self) -> list[ProviderConnection]:
        return [self._rows[key] for key in sorted(self._rows)]


class InMemoryProcessedEventLog:
    def __init__(self, rows: dict[tuple[str, str], dt.datetime]) -> None:
        self._rows = rows

    def record(self, provider: Provider, event_id: str, at: dt.datetime) -> bool:
        key = (Provider(provider).value, event_id)
        if key in self._rows:
            return False
        self._rows[key] = at
        return True

    def prune(self, before: dt.datetime) -> int:
        doomed = [key for key, at in self._rows.items() if at < before]
        for key in doomed:
            del self._rows[key]
        return len(doomed)


class InMemoryBusinessRepository:
    def __init__(self, rows: dict[str, Business]) -> None:
        self._rows = rows

    def get(self) -> Business | None:
        return copy.deepcopy(self._rows.get("business"))

    def save(self, business: Business) -> None:
        self._rows["business"] = copy.deepcopy(business)


class InMemoryLoginRequestLog:
    def __init__(self, rows: list[tuple[str, dt.datetime]]) -> None:
        self._rows = rows

    def lock(self, *keys: str) -> None:
        """Nothing to do: the in-memory store is for one thread at a time (tests, embedders' own fakes)."""

    def record(self, key: str, at: dt.datetime) -> None:
        self._rows.append((key, at))

    def count_since(self, key: str, since: dt.datetime) -> int:
        return sum(1 for k, at in self._rows if k == key and at >= since)

    def record_each(self, keys: Sequence[str], at: dt.datetime) -> None:
        for key in keys:
            self.record(key, at)

    def count_each_since(self, windows: Sequence[tuple[str, dt.datetime]]) -> list[int]:
        return [self.count_since(key, since) for key, since in windows]

    def prune(self, before: dt.datetime) -> int:
        kept = [row for row in self._rows if row[1] >= before]
        removed = len(self._rows) - len(kept)
        self._rows[:] = kept
        return removed


class InMemoryAuditLog:
    def __init__(self, rows: list[AuditEntry]) -> None:
        self._rows = rows

    def append(self, entry: AuditEntry) -> None:
        self._rows.append(entry)

    def list_for_company(self, company_id: str, *, limit: int = 200) -> list[AuditEntry]:
        rows = [e for e in self._rows if e.company_id == company_id]
        return sorted(rows, key=lambda e: (e.at, e.id), reverse=True)[:limit]

    def prune(self, before: dt.datetime) -> int:
        kept = [e for e in self._rows if e.at >= before]
        removed = len(self._rows) - len(kept)
        self._rows[:] = kept
        return removed


class InMemoryNoticeLog:
    def __init__(self, rows: list[tuple[str, str, dt.datetime]]) -> None:
        self._rows = rows

    def record(self, document_id: str, kind: str, at: dt.datetime) -> None:
        self._rows.append((document_id, kind, at))

    def last_sent(self, document_id: str, kind: str) -> dt.datetime | None:
        return max((at for doc, k, at in self._rows if doc == document_id and k == kind), default=None)

    def forget(self, document_id: str, kind: str, at: dt.datetime) -> None:
        self._rows[:] = [row for row in self._rows if row != (document_id, kind, at)]
