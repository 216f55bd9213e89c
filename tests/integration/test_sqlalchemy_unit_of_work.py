"""The SQLAlchemy unit of work: rollback unless committed, row locks, engine settings, and an unreachable database."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import ReadOnlyViolation, SqlAlchemyUnitOfWork
from portal_core.errors import Conflict, DatabaseUnavailable, RecordMissing
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.one_time_code import CodeHasher, OneTimeCode
from portal_core.model.session import PortalSession
from tests.support.sessions import check_a_stale_update_keeps_the_sign_out

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


def test_a_page_that_read_the_session_before_a_sign_out_does_not_reopen_it(uow: SqlAlchemyUnitOfWork) -> None:
    """The interleaving of a page request and a sign-out in another tab: the page reads the session (its last-seen
    time is due), the sign-out ends it and commits, then the page records the last-seen time and commits. The
    session stays ended (before, the page's update wrote the whole row back and revived it)."""
    with uow:
        uow.companies.add(company("c1"))
        uow.contacts.add(Contact(id="k1", company_id="c1", name="Kim", email="kim@c1.example"))
        uow.sessions.add(PortalSession(id="s1", contact_id="k1", company_id="c1", link_token=company("c1").link_token,
                                       email_key="kim@c1.example", access_generation=0, created_at=NOW,
                                       last_seen_at=NOW))
        uow.commit()
    check_a_stale_update_keeps_the_sign_out(uow, "s1", NOW)
    with uow:
        stored = uow.sessions.get("s1")
    assert stored is not None
    with uow, pytest.raises(RecordMissing):
        uow.sessions.update(attrs.evolve(stored, id="nope"))


def test_a_read_only_unit_of_work_reads_what_is_committed_and_refuses_every_write(engine: sa.Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as writer:
        writer.companies.add(company("c1"))
        writer.commit()
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: statements.append(statement))
    reader = SqlAlchemyUnitOfWork(engine, read_only=True)
    with reader:
        assert reader.companies.get("c1") == company("c1")
        # Inserts, updates and deletes never reach the database (nor does a locking read's write intent matter:
        # FOR UPDATE is a SELECT); and it cannot commit.
        for write in (lambda: reader.companies.add(company("c2")), lambda: reader.companies.update(company("c1")),
                      lambda: reader.login_requests.record("ip:1", NOW), lambda: reader.sessions.prune(NOW,
                      idle=dt.timedelta(hours=1), absolute=dt.timedelta(hours=1))):
            with pytest.raises(ReadOnlyViolation):
                write()
        with pytest.raises(RuntimeError, match="never writes"):
            reader.commit()
    # Only reads reached the database (and SQLite's BEGIN IMMEDIATE: there it is a transaction as before).
    assert {statement.split(None, 1)[0].upper() for statement in statements} <= {"SELECT", "BEGIN"}
    with SqlAlchemyUnitOfWork(engine) as after:
        assert [c.id for c in after.companies.list()] == ["c1"]  # nothing of the refused writes was stored
    # The connection went back to the pool as it came: the next unit of work is a transaction again.
    with SqlAlchemyUnitOfWork(engine) as writer:
        writer.companies.add(company("c3"))
    with SqlAlchemyUnitOfWork(engine) as after:
        assert after.companies.get("c3") is None


@pytest.mark.postgres
def test_reads_through_a_read_only_unit_of_work_send_no_begin_on_postgresql(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = create_engine_from_url(postgres_url)
    try:
        with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
            reader.companies.list()
            raw = reader.connection.connection.dbapi_connection
            # psycopg in autocommit sends no BEGIN before the statement and no ROLLBACK after the block.
            assert raw is not None and raw.autocommit and raw.info.transaction_status.name == "IDLE"
        with SqlAlchemyUnitOfWork(engine) as writer:
            writer.companies.list()
            raw = writer.connection.connection.dbapi_connection
            assert raw is not None and not raw.autocommit  # reset when it went back to the pool
            assert raw.info.transaction_status.name == "INTRANS"
    finally:
        engine.dispose()


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
