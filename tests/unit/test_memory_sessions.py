"""The in-memory session store keeps SessionStore's rule: an update never reopens an ended session (the interleaving
of a page that read the session before a sign-out committed; tests/integration/test_sqlalchemy_unit_of_work.py
holds the SQL adapters to it)."""

from __future__ import annotations

import datetime as dt

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from portal_core.model.session import PortalSession
from tests.support.sessions import check_a_stale_update_keeps_the_sign_out

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def test_a_stale_update_keeps_the_sign_out() -> None:
    uow = InMemoryUnitOfWork(InMemoryStore())
    with uow:
        uow.sessions.add(PortalSession(id="s1", contact_id="k1", company_id="c1", link_token="t" * 32,
                                       email_key="kim@c1.example", access_generation=0, created_at=NOW,
                                       last_seen_at=NOW))
        uow.commit()
    check_a_stale_update_keeps_the_sign_out(uow, "s1", NOW)
