"""The SQLAlchemy unit of work: rollback unless committed, row locks, engine settings, and an unreachable database."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import Conflict, DatabaseUnavailable
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.one_time_code import CodeHasher, OneTimeCode

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def company(id_: str) -> Company:
    return Company(id=id_, name=f"Company {id_}", link_token=f"{id_}-" + "t" * 30)


def test_leaving_the_block_without_commit_keeps_nothing(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.companies.add(company("c1"))
        uow.login_requests.record("ip:1", NOW)
    with uow:
        assert uow.companies.list() == []
        assert uow.login_requests.count_since("ip:1", NOW) == 0


def test_an_error_in_the_block_rolls_back(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(RuntimeError), uow:
        uow.companies.add(company("c1"))
        raise RuntimeError("boom")
    with uow:
        assert uow.companies.get("c1") is None


def test_work_goes_on_after_a_commit_and_only_committed_work_stays(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.companies.add(company("c1"))
        uow.commit()
        uow.companies.add(company("c2"))
        uow.rollback()
        uow.companies.add(company("c3"))
        uow.commit()
        uow.companies.add(company("c4"))
    with uow:
        assert [c.id for c in uow.companies.list()] == ["c1", "c3"]


def test_a_closed_unit_of_work_cannot_commit(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(RuntimeError):
        uow.commit()


FLOW = "f" * 40


def _world(uow: SqlAlchemyUnitOfWork) -> OneTimeCode:
    code = OneTimeCode.issue(id="k1", contact_id="p1", company_id="c1", flow_key=FLOW, code="123456",
                             hasher=CodeHasher.from_secret("s"), now=NOW)
    with uow:
        uow.companies.add(company("c1"))
        uow.contacts.add(Contact(id="p1", company_id="c1", name="Amal", email="amal@example.com"))
        uow.codes.add(code)
        uow.commit()
    return code


def test_locking_active_codes_returns_them_and_lets_them_be_ended(uow: SqlAlchemyUnitOfWork) -> None:
    code = _world(uow)
    with uow:
        [locked] = uow.codes.active_for_flow("p1", FLOW, lock=True)
        assert locked == code
        locked.end()
        uow.codes.update(locked)
        uow.commit()
    with uow:
        assert uow.codes.active_for_flow("p1", FLOW) == []


@pytest.mark.postgres
def test_locked_codes_are_held_until_commit(postgres_url: str) -> None:
    from adapters.sqlalchemy.migrate import upgrade

    upgrade(postgres_url)
    engine = create_engine_from_url(postgres_url)
    try:
        uow = SqlAlchemyUnitOfWork(engine)
        _world(uow)
        grab = sa.text("SELECT id FROM one_time_codes WHERE contact_id = 'p1' FOR UPDATE NOWAIT")
        with uow:
            uow.codes.active_for_flow("p1", FLOW, lock=True)
            with engine.connect() as other, pytest.raises(sa.exc.OperationalError, match="lock"):
                other.execute(grab)
            uow.commit()
            with engine.connect() as other:
                assert other.execute(grab).scalars().all() == ["k1"]
    finally:
        with engine.begin() as connection:
            for table in ("one_time_codes", "contacts", "companies"):
                connection.execute(sa.text(f"DELETE FROM {table}"))
        engine.dispose()


def test_sqlite_engines_enforce_foreign_keys_and_use_wal(sqlite_url: str) -> None:
    engine = create_engine_from_url(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()


def test_sqlite_refuses_records_of_unknown_companies(uow: SqlAlchemyUnitOfWork) -> None:
    with uow, pytest.raises(Conflict):
        uow.contacts.add(Contact(id="p1", company_id="nope", name="Amal", email="amal@example.com"))


def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    # Port 1 on loopback refuses at once; the 5 s connect timeout covers hosts that never answer.
    engine = create_engine_from_url("postgresql+psycopg://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(DatabaseUnavailable) as caught, SqlAlchemyUnitOfWork(engine):
            pass
        assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
    finally:
        engine.dispose()


def test_a_locked_sqlite_database_is_reported_as_unavailable(sqlite_url: str) -> None:
    from adapters.sqlalchemy.migrate import upgrade

    upgrade(sqlite_url)
    engine = create_engine_from_url(sqlite_url)
    impatient = create_engine_from_url(sqlite_url)
    try:
        @sa.event.listens_for(impatient, "connect")
        def _no_wait(dbapi_connection: object, _record: object) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout = 0")  # type: ignore[attr-defined]

        with SqlAlchemyUnitOfWork(engine) as holder:
            holder.companies.add(company("c1"))
            with pytest.raises(DatabaseUnavailable), SqlAlchemyUnitOfWork(impatient):
                pass
    finally:
        impatient.dispose()
        engine.dispose()
