"""What many use cases share about records: finding one by the key staff give, and writing the audit trail.

A key is a record's ref (the CRM's own key) or, failing that, the portal's public id: the ref wins, everywhere,
so a key means the same record on the command line, in the API and in the seed.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, TypeVar

from portal_core.errors import UnknownRecord
from portal_core.ids import new_id
from portal_core.model.audit import AuditEntry
from portal_core.ports import Clock, Randomness, UnitOfWork

T_co = TypeVar("T_co", covariant=True)


class ByRefOrId(Protocol[T_co]):
    def get(self, id_: str, /) -> T_co | None: ...
    def get_by_ref(self, ref: str, /) -> T_co | None: ...


def find_by_ref_or_id(repository: ByRefOrId[T_co], key: str, kind: str) -> T_co:
    """The record whose ref is key, or else whose id is; raises UnknownRecord naming the kind and the key."""
    wanted = (key or "").strip()
    found = (repository.get_by_ref(wanted) or repository.get(wanted)) if wanted else None
    if found is None:
        raise UnknownRecord(f"no {kind} with ref or id {key!r}")
    return found


def audit(uow: UnitOfWork, *, randomness: Randomness, action: str, at: dt.datetime | None = None,
          clock: Clock | None = None, company_id: str | None = None, contact_id: str | None = None,
          ip: str | None = None, detail: str = "") -> None:
    """Appends an entry to the audit log in the open transaction, at `at` (or the clock's now). The detail names
    records, never a code, a token or an address in the clear."""
    if at is None:
        if clock is None:
            raise TypeError("audit() needs the time: at= or clock=")
        at = clock.now()
    uow.audit.append(AuditEntry(id=new_id(randomness), at=at, action=action, company_id=company_id,
                                contact_id=contact_id, ip=ip, detail=detail))
