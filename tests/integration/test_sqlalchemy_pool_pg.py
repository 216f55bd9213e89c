"""A pooled PostgreSQL connection that died while idle (the database restarted, an admin killed it) is replaced on
the next checkout, without a ping on every transaction (adapters/sqlalchemy/engine.py: _ping_when_idle)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import engine as engines
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import DatabaseUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres_url: str) -> str:
    upgrade(postgres_url)  # idempotent: the shared schema may already be at head
    return postgres_url


def _kill_pooled_connection(url: str, engine: sa.Engine) -> None:
    with engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = create_engine_from_url(url)
    try:
        with admin.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar_one()
    finally:
        admin.dispose()


def _read(engine: sa.Engine) -> object:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        return uow.business.get()


def test_a_connection_killed_while_idle_is_replaced_on_the_next_checkout(url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle
    engine = create_engine_from_url(url)
    try:
        _kill_pooled_connection(url, engine)
        _read(engine)  # pinged, found dead, replaced: no error reaches the request
        _read(engine)
    finally:
        engine.dispose()


def test_a_connection_back_in_use_at_once_is_not_pinged(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 3600.0)  # nothing is ever idle long enough
    engine = create_engine_from_url(url)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(connection) or True)
    try:
        for _ in range(3):
            _read(engine)
        assert pings == []
        _kill_pooled_connection(url, engine)
        with pytest.raises(DatabaseUnavailable):  # unpinged, the dead connection fails its request (a 503) ...
            _read(engine)
        _read(engine)  # ... and the pool, invalidated by that error, reconnects for the next one
    finally:
        engine.dispose()
