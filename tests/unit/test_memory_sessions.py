"""The in-memory session store keeps SessionStore's rule: an update never reopens an ended session (the interleaving
of a page that read the session before a sign-out committed; tests/integration/test_sqlalchemy_unit_of_work.py
holds the SQL adapters to it)."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork
from portal_core.browsing import open_page
from portal_core.errors import NotSignedIn
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.session import PortalSession, session_key
from portal_core.sign_in import SignInPolicy
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


def test_a_page_whose_session_was_deleted_after_its_read_is_not_signed_in() -> None:
    # open_page reads through the reader, then records the last-seen time through the unit of work: a session gone
    # in between (pruned) is no session, not an error page.
    company = Company(id="c1", name="Globex", link_token="t" * 32, portal_enabled=True)
    contact = Contact(id="k1", company_id="c1", name="Kim", email="kim@c1.example")
    store = InMemoryStore()
    with InMemoryUnitOfWork(store) as uow:
        uow.companies.add(company)
        uow.contacts.add(contact)
        uow.sessions.add(PortalSession(id=session_key("cookie"), contact_id="k1", company_id="c1",
                                       link_token=company.link_token, email_key=contact.email_key,
                                       access_generation=0, created_at=NOW, last_seen_at=NOW))
        uow.commit()
    emptied = InMemoryStore()  # the writer's view: the session deleted since the read
    with InMemoryUnitOfWork(emptied) as uow:
        uow.companies.add(company)
        uow.commit()
    with pytest.raises(NotSignedIn):
        open_page(InMemoryUnitOfWork(emptied), reader=InMemoryUnitOfWork(store), clock=FixedClock(NOW + dt.timedelta(
            minutes=5)), policy=SignInPolicy(), link_token=company.link_token, cookie="cookie")
