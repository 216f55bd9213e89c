"""The one-query read of what every signed-in page needs (SqlAlchemySignedInReads) gives exactly what the
repositories give one by one, on SQLite and PostgreSQL, for every shape of link, cookie and setup."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.memory import FixedClock
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.browsing import open_page
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.payment import Provider, ProviderConnection
from portal_core.model.session import PortalSession, session_key
from portal_core.sign_in import SignInPolicy, read_page_rows

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TOKEN_A, TOKEN_B = "reads-link-a-" + "x" * 20, "reads-link-b-" + "y" * 20


class _RepositoriesOnly:
    """The same unit of work without its `signed_in` port: read_page_rows falls back to the repositories."""

    def __init__(self, uow: SqlAlchemyUnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        if name == "signed_in":
            raise AttributeError(name)
        return getattr(self._uow, name)


def _session(cookie: str, contact: Contact, company: Company) -> PortalSession:
    return PortalSession(id=session_key(cookie), contact_id=contact.id, company_id=company.id,
                         link_token=company.link_token, email_key=contact.email_key, access_generation=0,
                         created_at=NOW, last_seen_at=NOW)


@pytest.mark.parametrize("providers", [(), (Provider.TELR,), (Provider.TELR, Provider.STRIPE)])
@pytest.mark.parametrize("with_business", [True, False])
def test_one_query_reads_what_the_repositories_read(uow: SqlAlchemyUnitOfWork, providers: tuple[Provider, ...],
                                                    with_business: bool) -> None:
    a = Company(id="co-a", name="Globex", link_token=TOKEN_A)
    b = Company(id="co-b", name="Initech", link_token=TOKEN_B, portal_enabled=False)
    homer = Contact(id="k-homer", company_id=a.id, name="Homer", email="homer@globex.example")
    peter = Contact(id="k-peter", company_id=b.id, name="Peter", email="peter@initech.example")
    with uow:
        for company in (a, b):
            uow.companies.add(company)
        for contact in (homer, peter):
            uow.contacts.add(contact)
        uow.sessions.add(_session("cookie-homer", homer, a))
        ended = _session("cookie-ended", homer, a)
        ended.end(NOW)
        uow.sessions.add(ended)
        uow.sessions.add(_session("cookie-peter", peter, b))
        if with_business:
            uow.business.save(Business(name="Falcon", email="office@falcon.example"))
        for provider in providers:
            uow.payment_providers.save(ProviderConnection(provider=provider, sealed_credentials="sealed",
                                                          connected_at=NOW))
        uow.commit()
    cases = [(token, cookie) for token in (TOKEN_A, TOKEN_B, "no-such-link", "")
             for cookie in ("cookie-homer", "cookie-ended", "cookie-peter", "no-such-cookie", None)]
    for token, cookie in cases:
        with uow:
            fast = read_page_rows(uow, token, cookie)
            slow = read_page_rows(_RepositoriesOnly(uow), token, cookie)  # type: ignore[arg-type]
        assert fast == slow, (token, cookie)
    with uow:
        rows = read_page_rows(uow, TOKEN_A, "cookie-homer")
    assert (rows.company, rows.contact) == (a, homer) and rows.session is not None
    assert rows.providers == tuple(sorted(providers)) and (rows.business is not None) == with_business
    with uow:
        assert read_page_rows(uow, TOKEN_A, "cookie-peter").contact == peter  # read as is: the core refuses it


def test_a_page_checks_its_viewer_without_writing_and_records_the_last_seen_time_once_a_minute(
        uow: SqlAlchemyUnitOfWork) -> None:
    a = Company(id="co-a", name="Globex", link_token=TOKEN_A, portal_enabled=True)
    homer = Contact(id="k-homer", company_id=a.id, name="Homer", email="homer@globex.example")
    with uow:
        uow.companies.add(a)
        uow.contacts.add(homer)
        uow.sessions.add(_session("cookie-homer", homer, a))
        uow.commit()
    writes: list[str] = []

    def _write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT", "ROLLBACK")):
            writes.append(statement)

    reader = SqlAlchemyUnitOfWork(uow.engine, read_only=True)
    clock = FixedClock(NOW + dt.timedelta(seconds=59))
    sa.event.listen(uow.engine, "before_cursor_execute", _write)
    try:
        context = open_page(uow, reader=reader, clock=clock, policy=SignInPolicy(), link_token=TOKEN_A,
                            cookie="cookie-homer")
        assert context.viewer.contact == homer and writes == []
        clock.set(NOW + dt.timedelta(minutes=2))
        open_page(uow, reader=reader, clock=clock, policy=SignInPolicy(), link_token=TOKEN_A, cookie="cookie-homer")
        assert [w.split(None, 1)[0].upper() for w in writes] == ["UPDATE"]
    finally:
        sa.event.remove(uow.engine, "before_cursor_execute", _write)
    with uow:
        stored = uow.sessions.get(session_key("cookie-homer"))
    assert stored is not None and stored.last_seen_at == NOW + dt.timedelta(minutes=2)
