"""The NoticeLog contract, on the in-memory fake and on SQLAlchemy (SQLite and PostgreSQL) alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.ports import UnitOfWork

from .conftest import wipe

AT = dt.datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_uow(request: pytest.FixtureRequest) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        yield InMemoryUnitOfWork(InMemoryStore())
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    upgrade(url)
    engine = create_engine_from_url(url)
    try:
        yield SqlAlchemyUnitOfWork(engine)
        if request.param == "postgres":  # the session's schema outlives the test
            wipe(engine)
    finally:
        engine.dispose()


def test_last_sent_is_the_latest_record_of_that_document_and_kind(any_uow: UnitOfWork) -> None:
    with any_uow:
        assert any_uow.notices.last_sent("doc1", "sent") is None
        any_uow.notices.record("doc1", "sent", AT + dt.timedelta(hours=1))
        any_uow.notices.record("doc1", "sent", AT)
        any_uow.notices.record("doc1", "overdue_reminder", AT + dt.timedelta(hours=5))
        any_uow.notices.record("doc2", "sent", AT + dt.timedelta(hours=9))
        any_uow.commit()
    with any_uow:
        assert any_uow.notices.last_sent("doc1", "sent") == AT + dt.timedelta(hours=1)
        assert any_uow.notices.last_sent("doc1", "overdue_reminder") == AT + dt.timedelta(hours=5)
        assert any_uow.notices.last_sent("doc3", "sent") is None


def test_forget_drops_only_the_record_made_at_that_time(any_uow: UnitOfWork) -> None:
    with any_uow:
        any_uow.notices.record("doc1", "sent", AT)
        any_uow.notices.record("doc1", "sent", AT + dt.timedelta(days=1))
        any_uow.commit()
    with any_uow:
        any_uow.notices.forget("doc1", "sent", AT + dt.timedelta(days=1))
        any_uow.commit()
    with any_uow:
        assert any_uow.notices.last_sent("doc1", "sent") == AT


def test_an_uncommitted_record_is_rolled_back(any_uow: UnitOfWork) -> None:
    with any_uow:
        any_uow.notices.record("doc1", "sent", AT)
    with any_uow:
        assert any_uow.notices.last_sent("doc1", "sent") is None
