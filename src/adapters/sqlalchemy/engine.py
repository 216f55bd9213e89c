"""Builds the SQLAlchemy engine for a database URL, with the settings each supported database needs."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

# Fail fast when PostgreSQL is unreachable: a request should get "try later", not hang.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# A request waits at most this long for a free pooled connection before answering 503 (SQLAlchemy's default is 30).
POOL_TIMEOUT_SECONDS = 5
# A connection whose peer went silent (host gone, network cut, no RST) is declared dead after about
# idle + interval * count seconds of silence, or after TCP_USER_TIMEOUT of unacknowledged data, instead of the
# kernel's two hours: a query in flight when the database vanishes fails instead of hanging the worker.
POSTGRES_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
POSTGRES_TCP_USER_TIMEOUT_MS = 15_000
# A statement that runs (or waits for a lock) longer than this is cancelled by PostgreSQL itself: a request fails with
# 503 instead of holding a worker until gunicorn's own timeout. Generous, as migrations run through the same engine.
POSTGRES_STATEMENT_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle at least this long is pinged before it is lent out (one round trip), so one
# that died while pooled (the database restarted) is replaced, and the app recovers by itself. A connection back
# in use within this time is not: under load, no request pays a ping (see _ping_when_idle).
PING_AFTER_IDLE_SECONDS = 2.0
# How long a SQLite writer waits for another to finish before giving up.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def create_engine_from_url(url: str | sa.URL, *, foreign_keys: bool = True) -> sa.Engine:
    """An engine for url (postgresql+psycopg://... or sqlite:///path); the caller disposes it.

    hide_parameters: a driver error's message (and so any log of it) names the statement but not its values, which
    are emails, link tokens, session keys and whatever a client typed.

    foreign_keys=False: over a database the portal does not own (a CRM's, docs/embedding.md), SQLite does not
    enforce foreign keys, since the portal's own rows name companies, contacts and invoices that live in the CRM's
    tables, not in the portal's empty ones; enforced, sign-in there fails with Conflict ("That changed while you
    were working"). On PostgreSQL keys are part of the schema: adapters.sqlalchemy.embedding.add_portal_tables
    drops those that point at the CRM-owned kinds.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, foreign_keys=foreign_keys)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
        connect_args.update(POSTGRES_KEEPALIVE)
        connect_args["tcp_user_timeout"] = POSTGRES_TCP_USER_TIMEOUT_MS
    postgres = parsed.get_backend_name() == "postgresql"
    # PostgreSQL: a connection idle in the pool is pinged on checkout (_ping_when_idle); others on every checkout.
    engine = sa.create_engine(parsed, pool_pre_ping=not postgres, pool_timeout=POOL_TIMEOUT_SECONDS,
                              connect_args=connect_args, hide_parameters=True)
    if postgres:
        # psycopg prepares a statement run five times; PostgreSQL then reuses one generic plan for it when that
        # looks no dearer than planning each execution (plan_cache_mode's default). Planning was most of what the
        # pages' short statements cost (0.3-0.8 ms each, issue 14). The lists are written so that the generic plan
        # reads the same index in order as a plan for the values would (constants in the statement, partial
        # indexes of migrations 0014-0015): tests/integration/test_query_plans_pg.py checks both plans.
        _ping_when_idle(engine)

        @event.listens_for(engine, "connect")
        def _limit_statements(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {POSTGRES_STATEMENT_TIMEOUT_MS}")
            dbapi_connection.commit()

    return engine


def _ping_when_idle(engine: sa.Engine) -> None:
    """pool_pre_ping, but only for a connection that sat in the pool PING_AFTER_IDLE_SECONDS or more: a ping on
    every checkout is a round trip on every transaction. A dead one raises DisconnectionError, on which the pool
    drops it and lends another (SQLAlchemy's documented pessimistic disconnect handling)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            raise sa.exc.DisconnectionError("the pooled connection is gone")


def _sqlite_engine(url: sa.URL, *, foreign_keys: bool) -> sa.Engine:
    # The Flask dev server is multi-threaded: connections move between threads, one at a time, via the pool.
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"check_same_thread": False}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin, so reads are inside them too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")  # readers do not block the writer
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: SQLite cannot upgrade a read to SELECT ... FOR UPDATE, so
        # without it two sign-ins could read the same active codes; with it the second waits (busy_timeout).
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
